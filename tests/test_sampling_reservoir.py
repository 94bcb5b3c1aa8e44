"""Reservoir, borrowing, targets and fixed rate, over simulated time, with targets from the local daemon."""

from __future__ import annotations

import math
import random

import pytest
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from .sampling_helpers import SILENT_DEFAULT, counted, root_decision, rule, sampling_daemon, serve_sampling  # noqa: F401


def sampled_in_one_second(sampler, clock, requests: int = 10, attributes=None) -> int:
    """Decide ``requests`` root spans spread over the current clock second; how many were sampled."""
    start = math.floor(clock.now)
    got = 0
    for index in range(requests):
        clock.now = start + index / requests
        got += root_decision(sampler, attributes or {}, trace_id=(1 << 127) | index)  # high low-bits: rate 0 never samples
    clock.now = start + 1
    return got


@pytest.fixture
def one_rule(sampling_daemon):
    def make(**fields):
        sampling_daemon.service.set_rules([rule("r", **fields), SILENT_DEFAULT])
        sampler = sampling_daemon.sampler()
        assert sampler.fetch_rules()
        return sampler

    return make


def test_borrows_one_request_per_second_before_the_first_target(one_rule, sampling_daemon):
    sampler = one_rule(rate=0.0, reservoir=5)
    assert [sampled_in_one_second(sampler, sampling_daemon.clock) for _ in range(3)] == [1, 1, 1]
    assert counted(sampler) == {"r": (30, 3, 3)}


def test_a_rule_without_a_reservoir_never_borrows(one_rule, sampling_daemon):
    sampler = one_rule(rate=0.0, reservoir=0)
    assert sampled_in_one_second(sampler, sampling_daemon.clock) == 0
    assert counted(sampler) == {"r": (10, 0, 0)}


def test_the_quota_from_a_target_then_borrowing_again_once_it_expires(one_rule, sampling_daemon):
    clock = sampling_daemon.clock
    sampler = one_rule(rate=0.0, reservoir=3)
    assert sampled_in_one_second(sampler, clock) == 1  # borrowed
    assert sampler.fetch_targets() == 10  # the daemon's Interval
    assert counted(sampler) == {}  # reported and reset
    # One client: the whole reservoir, per clock second, until the TTL (now + 100 s).
    assert [sampled_in_one_second(sampler, clock) for _ in range(3)] == [3, 3, 3]
    assert counted(sampler) == {"r": (30, 9, 0)}
    clock.advance(100)
    assert sampled_in_one_second(sampler, clock) == 1  # expired: borrowing, as the X-Ray SDKs do
    assert counted(sampler) == {"r": (10, 1, 1)}


def test_the_first_answer_may_carry_no_quota_and_borrowing_goes_on():
    for daemon in serve_sampling(withhold_first_quota=True):
        daemon.service.set_rules([rule("r", rate=0.0, reservoir=4), SILENT_DEFAULT])
        sampler = daemon.sampler()
        assert sampler.fetch_rules()
        assert sampled_in_one_second(sampler, daemon.clock) == 1
        sampler.fetch_targets()  # a target without ReservoirQuota
        assert sampled_in_one_second(sampler, daemon.clock) == 1
        sampler.fetch_targets()
        assert sampled_in_one_second(sampler, daemon.clock) == 4


def test_the_targets_fixed_rate_replaces_the_rules_at_once(one_rule, sampling_daemon):
    sampler = one_rule(rate=0.0, reservoir=0)
    assert sampled_in_one_second(sampler, sampling_daemon.clock) == 0
    sampling_daemon.service.set_rules([rule("r", rate=1.0, reservoir=0), SILENT_DEFAULT])
    sampler.fetch_targets()
    assert sampled_in_one_second(sampler, sampling_daemon.clock) == 10


def test_the_reservoir_is_counted_per_clock_second(one_rule, sampling_daemon):
    clock = sampling_daemon.clock
    sampler = one_rule(rate=0.0, reservoir=1)
    clock.now = 1_700_000_000.99
    assert root_decision(sampler, {}, trace_id=1 << 127)
    assert not root_decision(sampler, {}, trace_id=1 << 127)
    clock.now = 1_700_000_001.0
    assert root_decision(sampler, {}, trace_id=1 << 127)


def test_fixed_rate_within_statistical_bounds_at_a_fixed_seed(one_rule):
    sampler = one_rule(rate=0.1, reservoir=0)
    rng = random.Random(20240601)
    trace_ids = [rng.getrandbits(128) for _ in range(20_000)]
    decisions = [root_decision(sampler, {}, trace_id=t) for t in trace_ids]
    expected, deviation = 2_000, math.sqrt(20_000 * 0.1 * 0.9)
    assert abs(sum(decisions) - expected) < 4 * deviation
    # Decided on the trace ID as TraceIdRatioBased decides: the same verdict wherever it is made.
    reference = TraceIdRatioBased(0.1)
    assert decisions == [reference.should_sample(None, t, "x").decision.is_sampled() for t in trace_ids]
    assert counted(sampler) == {"r": (20_000, sum(decisions), 0)}


def test_statistics_count_borrowed_samples_as_sampled(one_rule, sampling_daemon):
    sampler = one_rule(rate=1.0, reservoir=1)
    assert sampled_in_one_second(sampler, sampling_daemon.clock, requests=4) == 4
    assert counted(sampler) == {"r": (4, 4, 1)}


def test_the_reservoir_is_shared_among_the_clients_that_report(sampling_daemon):
    clock = sampling_daemon.clock
    sampling_daemon.service.set_rules([rule("r", rate=0.0, reservoir=5), SILENT_DEFAULT])
    first, second = sampling_daemon.sampler(), sampling_daemon.sampler()
    for sampler in (first, second):
        assert sampler.fetch_rules()
        root_decision(sampler, {})
    first.fetch_targets()  # alone so far: the whole reservoir
    assert sampled_in_one_second(first, clock) == 5
    second.fetch_targets()
    first.fetch_targets()
    low, high = sorted((first, second), key=lambda s: s.client_id)
    # 5 split between two: 2 each, the remainder to the lower client ID.
    assert [sampled_in_one_second(s, clock) for s in (low, high)] == [3, 2]
    assert sampling_daemon.service.active_clients("r") == sorted([first.client_id, second.client_id])
    clock.advance(31)  # the other client has not reported for three intervals
    first.fetch_targets()
    assert sampled_in_one_second(first, clock) == 5
