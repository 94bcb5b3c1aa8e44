"""XRayRemoteSampler: parent-based decisions, per-trace statistics, rule updates, fallback, expiry, threads, fork."""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import weakref

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.span import TraceState

from otel_xray.sampling import XRayRemoteSampler, load_local_rules, xray_sampler_from_arg
from otel_xray.sampling.sampler import RULES_CACHE_TTL

from .sampling_helpers import (  # noqa: F401
    SILENT_DEFAULT,
    FakeClock,
    counted,
    provider_for,
    remote_parent,
    root_decision,
    rule,
    sampling_daemon,
)

NOTHING_LOCALLY = {"version": 2, "default": {"fixed_target": 0, "rate": 0.0}}
EVERYTHING_LOCALLY = {"version": 2, "default": {"fixed_target": 0, "rate": 1.0}}


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- parent-based decisions and per-trace statistics ------------------------------
def sampling_everything(sampling_daemon):
    """A sampler that has fetched a rule sampling every request, a tracer on it, and what it records."""
    sampling_daemon.service.set_rules([rule("all", rate=1.0), SILENT_DEFAULT])
    sampler = sampling_daemon.sampler()
    assert sampler.fetch_rules()
    exporter = InMemorySpanExporter()
    provider = provider_for(sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return sampler, provider.get_tracer("t"), exporter


def test_children_follow_the_root_and_only_the_root_is_counted(sampling_daemon):
    sampler, tracer, exporter = sampling_everything(sampling_daemon)
    with tracer.start_as_current_span("root", attributes={"url.path": "/orders/1"}):
        for index in range(5):
            with tracer.start_as_current_span(f"child-{index}", attributes={"url.path": "/health"}):
                pass
    assert len(exporter.get_finished_spans()) == 6
    assert counted(sampler) == {"all": (1, 1, 0)}  # one trace, one request


def test_a_dropped_root_drops_its_children(sampling_daemon):
    sampler = sampling_daemon.sampler()  # Default samples nothing
    assert sampler.fetch_rules()
    provider = provider_for(sampler)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root") as root:
        with tracer.start_as_current_span("child") as child:
            assert not root.is_recording() and not child.is_recording()
    assert counted(sampler) == {"Default": (1, 0, 0)}


@pytest.mark.parametrize("sampled", [True, False])
def test_remote_parents_decide_and_are_not_counted(sampling_daemon, sampled):
    sampling_daemon.service.set_rules([rule("all", rate=1.0), SILENT_DEFAULT] if not sampled else [SILENT_DEFAULT])
    sampler = sampling_daemon.sampler()
    assert sampler.fetch_rules()
    result = sampler.should_sample(remote_parent(sampled), 0x1234, "server", attributes={"url.path": "/x"})
    assert result.decision.is_sampled() is sampled
    assert counted(sampler) == {}


def test_sampled_spans_keep_their_start_attributes_and_the_parents_trace_state(sampling_daemon):
    _, tracer, exporter = sampling_everything(sampling_daemon)
    state = TraceState([("vendor", "value")])
    parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED), trace_state=state)
    with tracer.start_as_current_span("root", attributes={"url.path": "/a", "k": 1}):
        pass
    with tracer.start_as_current_span("child", context=trace.set_span_in_context(NonRecordingSpan(parent)), attributes={"c": 2}) as child:
        assert child.get_span_context().trace_state == state
    root_span, child_span = exporter.get_finished_spans()
    assert dict(root_span.attributes) == {"url.path": "/a", "k": 1}
    assert dict(child_span.attributes) == {"c": 2}


# -- rules replaced while running ------------------------------------------------
def test_rules_replaced_while_running_keep_the_state_of_unchanged_rules(sampling_daemon):
    clock, service = sampling_daemon.clock, sampling_daemon.service
    service.set_rules([rule("keep", priority=1, rate=0.0, reservoir=2, url_path="/keep"),
                       rule("change", priority=2, rate=0.0, reservoir=2, url_path="/change"), SILENT_DEFAULT])
    sampler = sampling_daemon.sampler(poll=True)
    try:
        root_decision(sampler, {"url.path": "/keep"})  # starts the poller: rules at once
        assert wait_until(lambda: len(sampler.rules) == 3)
        for path in ("/keep", "/change"):
            root_decision(sampler, {"url.path": path})
        sampler.fetch_targets()  # quotas of 2/s for both rules
        clock.advance(1)
        service.set_rules([rule("keep", priority=1, rate=0.0, reservoir=2, url_path="/keep"),
                           rule("change", priority=2, rate=0.0, reservoir=7, url_path="/change"),
                           rule("new", priority=3, rate=1.0, url_path="/new"), SILENT_DEFAULT])
        root_decision(sampler, {"url.path": "/keep"})  # something to report: the next target answer...
        sampler.fetch_targets()
        # ...carries a later LastRuleModification, and the poller fetches the rules at once.
        assert wait_until(lambda: [r.rule_name for r in sampler.rules] == ["keep", "change", "new", "Default"])
    finally:
        sampler.shutdown()
    clock.advance(1)
    keep = sum(root_decision(sampler, {"url.path": "/keep"}, trace_id=1 << 127) for _ in range(5))
    change = sum(root_decision(sampler, {"url.path": "/change"}, trace_id=1 << 127) for _ in range(5))
    assert keep == 2  # its quota survived the update
    assert change == 1  # a changed rule starts again by borrowing
    assert root_decision(sampler, {"url.path": "/new"})


def test_an_answer_without_usable_rules_keeps_the_rules_held(sampling_daemon):
    sampling_daemon.service.set_rules([rule("all", rate=1.0), SILENT_DEFAULT])
    sampler = sampling_daemon.sampler()
    assert sampler.fetch_rules()
    sampling_daemon.service.set_rules([rule("v2", rate=0.0, version=2)])  # only a rule samplers ignore
    assert not sampler.fetch_rules()
    assert [r.rule_name for r in sampler.rules] == ["all", "Default"]
    assert root_decision(sampler, {})


# -- fallback, never blocking, warnings -------------------------------------------
def test_before_rules_arrive_the_fallback_decides_one_per_second_plus_five_percent():
    clock = FakeClock()
    sampler = XRayRemoteSampler(endpoint=f"127.0.0.1:{closed_port()}", poll=False, clock=clock)
    decisions = [root_decision(sampler, {}, trace_id=(1 << 64) - 1 - i) for i in range(50)]
    assert decisions[0] and sum(decisions) == 1  # 1/s, and these IDs are beyond any rate under 100%
    low = sum(root_decision(sampler, {}, trace_id=i) for i in range(50))  # low 64 bits under the 5% bound
    assert low == 50
    assert counted(sampler) == {}  # the fallback reports nothing


def test_the_fallback_is_configurable_with_an_aws_xray_sdk_rules_file(tmp_path):
    path = tmp_path / "sampling_rules.json"
    path.write_text(json.dumps({
        "version": 1,
        "rules": [{"description": "health", "service_name": "*", "http_method": "GET", "url_path": "/health",
                   "fixed_target": 0, "rate": 0.0}],
        "default": {"fixed_target": 0, "rate": 1.0},
    }))
    sampler = XRayRemoteSampler(endpoint=f"127.0.0.1:{closed_port()}", fallback_rules=str(path), poll=False)
    assert not root_decision(sampler, {"http.method": "GET", "http.target": "/health"})
    assert root_decision(sampler, {"http.method": "GET", "http.target": "/orders/1"})
    assert sampler.fallback_rules == load_local_rules(path)


class _Silent:
    """A TCP server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.sock.close()
        for connection in self.accepted:
            connection.close()


def test_decisions_never_wait_on_the_network():
    silent = _Silent()
    sampler = XRayRemoteSampler(endpoint=f"127.0.0.1:{silent.port}", timeout=30, fallback_rules=EVERYTHING_LOCALLY)
    calls, in_flight = [], threading.Event()
    original = sampler._client.post

    def recording_post(path, body):
        calls.append((path, threading.get_ident()))
        in_flight.set()
        return original(path, body)

    sampler._client.post = recording_post
    try:
        assert root_decision(sampler, {})  # the first decision starts the poller
        assert in_flight.wait(10)  # the poller is now stuck waiting for an answer (30 s timeout)
        decisions = [root_decision(sampler, {"url.path": f"/{i}"}) for i in range(1_000)]
        assert all(decisions)  # the fallback decided every one
        assert calls and all(thread != threading.get_ident() for _, thread in calls)
        assert [path for path, _ in calls] == ["/GetSamplingRules"]  # and is still waiting
        assert sampler.polling
    finally:
        sampler._stopping = True  # the poller is blocked for up to 30 s: do not wait for it here
        sampler._wake.set()
        silent.close()


def test_one_warning_says_why_rules_cannot_be_fetched_and_one_line_when_they_can(caplog, sampling_daemon):
    port = closed_port()
    sampler = XRayRemoteSampler(endpoint=f"127.0.0.1:{port}", poll=False)
    with caplog.at_level(logging.DEBUG, logger="otel_xray.sampling"):
        for _ in range(5):
            assert not sampler.fetch_rules()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"connection refused by http://127.0.0.1:{port}" in warnings[0].getMessage()
    assert "sampling with the fallback (1/s + 5%) until they arrive" in warnings[0].getMessage()
    caplog.clear()
    sampler._client.port = sampling_daemon.daemon.address[1]  # the daemon comes up
    with caplog.at_level(logging.INFO, logger="otel_xray.sampling"):
        assert sampler.fetch_rules()
    assert [r.getMessage() for r in caplog.records] == [f"X-Ray sampling rules from {sampler.endpoint}: 1 rule(s)"]


def test_a_refused_statistics_report_is_one_warning_naming_the_error(caplog):
    from otel_xray.daemon.http_api import ApiError, HttpRoutes
    from otel_xray.daemon.sampling_api import SamplingRulesService, sampling_routes
    from otel_xray.daemon.server import LocalDaemon

    def refuse(request):
        raise ApiError("not authorized to perform xray:GetSamplingTargets", "AccessDeniedException", 403)

    routes = sampling_routes(SamplingRulesService([rule("all")])).merge(HttpRoutes(post_json={"/SamplingTargets": refuse}))
    with LocalDaemon("127.0.0.1", 0, http_routes=routes) as daemon:
        sampler = XRayRemoteSampler(endpoint=daemon.endpoint, poll=False)
        assert sampler.fetch_rules()
        with caplog.at_level(logging.DEBUG, logger="otel_xray.sampling"):
            for _ in range(3):
                root_decision(sampler, {})
                assert sampler.fetch_targets() == 10
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "HTTP 403: AccessDeniedException not authorized to perform xray:GetSamplingTargets" in warning
    assert "each rule borrows 1 request/s" in warning


def test_a_failure_inside_a_decision_drops_the_span_and_is_logged_once(caplog):
    def broken_clock():
        raise RuntimeError("clock broke")

    sampler = XRayRemoteSampler(endpoint=f"127.0.0.1:{closed_port()}", poll=False, clock=broken_clock)
    with caplog.at_level(logging.ERROR, logger="otel_xray.sampling"):
        assert [root_decision(sampler, {}) for _ in range(3)] == [False] * 3
    assert [r.getMessage() for r in caplog.records] == ["X-Ray sampler failed to decide; root spans are dropped while this lasts"]


# -- cache expiry ------------------------------------------------------------------
def test_rules_expire_an_hour_after_the_last_successful_fetch(sampling_daemon, caplog):
    clock = sampling_daemon.clock
    sampling_daemon.service.set_rules([rule("all", rate=1.0), SILENT_DEFAULT])
    sampler = sampling_daemon.sampler(fallback_rules=NOTHING_LOCALLY)
    assert sampler.fetch_rules()
    clock.advance(RULES_CACHE_TTL / 2)
    sampler._client.port = closed_port()  # the daemon is gone: a failed fetch does not renew the rules
    assert not sampler.fetch_rules()
    clock.advance(RULES_CACHE_TTL / 2 - 1)
    assert root_decision(sampler, {}) and sampler.rules_fresh
    clock.advance(1)
    assert not sampler.rules_fresh
    assert not root_decision(sampler, {})  # the fallback (here: nothing) decides
    assert counted(sampler) == {"all": (1, 1, 0)}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="otel_xray.sampling"):
        sampler._warn_if_expired()
        sampler._warn_if_expired()
    assert len(caplog.records) == 1 and "over 3600 s ago" in caplog.records[0].getMessage()


# -- threads, shutdown, fork -------------------------------------------------------
def test_the_poller_starts_on_the_first_decision_and_stops_at_shutdown(sampling_daemon):
    def pollers():
        return {t for t in threading.enumerate() if t.name == "otel-xray-sampling"}

    sampler = sampling_daemon.sampler(poll=True)
    assert not sampler.polling  # nothing starts in the constructor
    before = pollers()
    root_decision(sampler, {})
    assert sampler.polling and pollers() - before == {sampler._thread}
    assert wait_until(lambda: bool(sampler.rules))
    for _ in range(100):
        root_decision(sampler, {})
    assert pollers() - before == {sampler._thread}  # one thread, however many decisions
    thread = sampler._thread
    assert thread.daemon
    sampler.shutdown()
    assert not thread.is_alive() and not sampler.polling
    root_decision(sampler, {})  # decisions go on, no thread comes back
    assert not sampler.polling


def test_a_sampler_nobody_holds_ends_its_thread(sampling_daemon):
    sampler = sampling_daemon.sampler(poll=True)
    root_decision(sampler, {})
    assert wait_until(lambda: bool(sampler.rules))  # the poller has fetched them and waits
    thread, ref = sampler._thread, weakref.ref(sampler)
    wake = sampler._wake
    del sampler
    assert wait_until(lambda: gc.collect() is not None and ref() is None)  # the thread does not hold it
    wake.set()
    thread.join(10)
    assert not thread.is_alive()


PRE_FORK_SERVER = r"""
import json, os, sys, time
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from otel_xray.sampling import XRayRemoteSampler

def wait_for_rules(sampler):
    deadline = time.monotonic() + 10
    while not sampler.rules and time.monotonic() < deadline:
        time.sleep(0.01)

def state(sampler):
    return {"client_id": sampler.client_id, "polling": sampler.polling, "thread": id(sampler._thread),
            "rules": len(sampler.rules)}

resource = Resource.create({"service.name": "checkout"})
sampler = XRayRemoteSampler(resource=resource, endpoint=sys.argv[1])
provider = TracerProvider(resource=resource, sampler=sampler)
tracer = provider.get_tracer("master")
with tracer.start_as_current_span("warm-up"):
    pass  # the master decides once: its poller starts
wait_for_rules(sampler)
with tracer.start_as_current_span("counted"):
    pass  # an unreported count in the master
before = state(sampler)
workers = []
for _ in range(2):  # pre-fork workers, as gunicorn makes them
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        report = {"inherited": state(sampler), "inherited_counts": [s.request_count for s in sampler.statistics()]}
        with tracer.start_as_current_span("request"):
            pass  # the first decision in the worker starts its own poller
        report["started"] = state(sampler)
        wait_for_rules(sampler)
        with tracer.start_as_current_span("request"):
            pass
        sampler.fetch_targets()  # reports under the worker's own client ID
        sampler.shutdown()
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    workers.append((pid, read))
reports = []
for pid, read in workers:
    with os.fdopen(read) as pipe:
        reports.append(json.loads(pipe.read()))
    os.waitpid(pid, 0)
after = state(sampler)
after["alive"] = sampler._thread.is_alive()
after["counts"] = {s.rule_name: s.request_count for s in sampler.statistics() if s.request_count}
print(json.dumps({"before": before, "after": after, "workers": reports}))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")
def test_forked_workers_poll_with_their_own_client_ids_and_the_master_is_unaffected(sampling_daemon):
    # A fresh interpreter: forking pytest's own process (with its threads) is not what a server does.
    sampling_daemon.service.set_rules([rule("all", rate=1.0), SILENT_DEFAULT])
    result = subprocess.run(
        [sys.executable, "-c", PRE_FORK_SERVER, sampling_daemon.endpoint],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    master = run["before"]
    assert master["polling"] and master["rules"] == 2
    ids = {master["client_id"]}
    for worker in run["workers"]:
        # Inherited: the rules, but no poller and no counts; then its own poller and client ID.
        assert worker["inherited"]["polling"] is False and worker["inherited"]["rules"] == 2
        assert worker["inherited_counts"] == [0, 0]
        assert worker["started"]["polling"] is True and worker["started"]["thread"] != master["thread"]
        ids.add(worker["started"]["client_id"])
    assert len(ids) == 3 and all(len(i) == 24 for i in ids)
    # Each worker reported its requests under its own ID.
    reported = {(s.client_id, s.rule_name) for s in sampling_daemon.service.received}
    assert reported == {(w["started"]["client_id"], "all") for w in run["workers"]}
    # The master: same thread, same ID, its own count intact.
    assert run["after"]["client_id"] == master["client_id"] and run["after"]["thread"] == master["thread"]
    assert run["after"]["alive"] and run["after"]["counts"] == {"all": 1}


# -- configuration -------------------------------------------------------------------
def test_the_endpoint_is_the_tcp_part_of_the_daemon_address(monkeypatch):
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "udp:127.0.0.1:3000 tcp:127.0.0.2:3001")
    assert XRayRemoteSampler(poll=False).endpoint == "http://127.0.0.2:3001"
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.5:2500")
    assert XRayRemoteSampler(poll=False).endpoint == "http://127.0.0.5:2500"
    assert XRayRemoteSampler(endpoint="http://[::1]:2000/", poll=False).endpoint == "http://[::1]:2000"
    monkeypatch.delenv("AWS_XRAY_DAEMON_ADDRESS")
    assert XRayRemoteSampler(poll=False).endpoint == "http://127.0.0.1:2000"


def test_the_entry_point_reads_its_argument_string(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(EVERYTHING_LOCALLY))
    sampler = xray_sampler_from_arg(f"endpoint=http://127.0.0.1:2999, polling_interval=60,fallback_rules={path}")
    assert sampler.endpoint == "http://127.0.0.1:2999" and sampler._polling_interval == 60
    assert sampler.fallback_rules.default.rate == 1.0
    assert xray_sampler_from_arg(None).endpoint == "http://127.0.0.1:2000"
    for bad in ("0.1", "endpoint=https://x:1", "polling_interval=-1", "colour=blue", f"fallback_rules={tmp_path}/missing.json"):
        with pytest.raises(ValueError):
            xray_sampler_from_arg(bad)


def test_the_entry_point_finds_the_resource_of_the_provider_that_uses_it(sampling_daemon):
    sampling_daemon.service.set_rules([rule("mine", service_name="orders-svc"), SILENT_DEFAULT])
    sampler = xray_sampler_from_arg(f"endpoint={sampling_daemon.endpoint}")
    provider = TracerProvider(sampler=sampler, resource=Resource({"service.name": "orders-svc"}))
    from otel_xray.sampling import sampler as sampler_module

    original = trace.get_tracer_provider
    trace.get_tracer_provider = lambda: provider  # what set_tracer_provider would make global
    try:
        with provider.get_tracer("t").start_as_current_span("root"):
            pass  # the first decision finds the resource
        assert sampler._resource is provider.resource
        assert sampler_module._provider_resource(sampler) is provider.resource
        assert sampler.fetch_rules()
        assert root_decision(sampler, {})
        assert counted(sampler).keys() == {"mine"}
    finally:
        trace.get_tracer_provider = original
        sampler.shutdown()


def test_without_a_provider_using_it_the_resource_comes_from_otel_variables(sampling_daemon, monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "cloud.platform=aws_ecs")
    sampling_daemon.service.set_rules([rule("mine", service_name="from-env", service_type="AWS::ECS::Container"), SILENT_DEFAULT])
    sampler = XRayRemoteSampler(endpoint=sampling_daemon.endpoint, poll=False)
    assert sampler.fetch_rules()
    assert root_decision(sampler, {})
    assert counted(sampler).keys() == {"mine"}


def test_its_own_http_calls_run_with_instrumentation_suppressed(sampling_daemon, monkeypatch):
    from http.client import HTTPConnection

    from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled, is_instrumentation_enabled

    seen = []
    original = HTTPConnection.request

    def request(self, *args, **kwargs):
        seen.append((is_instrumentation_enabled(), is_http_instrumentation_enabled()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HTTPConnection, "request", request)
    sampler = sampling_daemon.sampler()
    assert sampler.fetch_rules()
    root_decision(sampler, {})
    sampler.fetch_targets()
    assert seen == [(False, False), (False, False)]
    assert is_instrumentation_enabled()  # and only inside those calls
