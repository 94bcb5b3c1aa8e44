"""Shared pieces of the sampling tests: a simulated clock, a local daemon serving rules, root spans."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Mapping, Optional, Sequence

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel_xray.daemon.sampling_api import SamplingRulesService, sampling_routes
from otel_xray.daemon.server import LocalDaemon
from otel_xray.sampling import SamplingRule, XRayRemoteSampler, default_rule

T0 = 1_700_000_000.0


class FakeClock:
    """Epoch seconds that move only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SamplingDaemon:
    """A real local daemon (UDP + TCP on loopback) serving sampling rules."""

    def __init__(self, daemon: LocalDaemon, service: SamplingRulesService, clock: FakeClock) -> None:
        self.daemon = daemon
        self.service = service
        #: The daemon's clock, and by default its samplers': one simulated time for both.
        self.clock = clock

    @property
    def endpoint(self) -> str:
        return self.daemon.endpoint

    def sampler(self, resource: Optional[Mapping[str, Any]] = None, **options: Any) -> XRayRemoteSampler:
        options.setdefault("poll", False)
        options.setdefault("clock", self.clock)
        return XRayRemoteSampler(
            resource=Resource(dict(resource if resource is not None else {"service.name": "checkout"})),
            endpoint=self.endpoint,
            **options,
        )


def rule(name: str, priority: int = 1, rate: float = 1.0, reservoir: int = 0, **fields: Any) -> SamplingRule:
    return SamplingRule(name, priority=priority, fixed_rate=rate, reservoir_size=reservoir, **fields)


#: A Default rule that samples nothing: whatever a test's rule does not match is dropped.
SILENT_DEFAULT = default_rule(reservoir_size=0, fixed_rate=0.0)


def serve_sampling(**options: Any) -> Iterator[SamplingDaemon]:
    clock = FakeClock()
    service = SamplingRulesService([SILENT_DEFAULT], clock=clock, **options)
    with LocalDaemon("127.0.0.1", 0, http_routes=sampling_routes(service)) as running:
        yield SamplingDaemon(running, service, clock)


@pytest.fixture
def sampling_daemon() -> Iterator[SamplingDaemon]:
    """A daemon for one test, on simulated time."""
    yield from serve_sampling()


@pytest.fixture(scope="module")
def module_sampling_daemon() -> Iterator[SamplingDaemon]:
    """A daemon shared by a module's tests (each sets the rules it needs)."""
    yield from serve_sampling()


def provider_for(sampler: XRayRemoteSampler, resource: Optional[Resource] = None) -> TracerProvider:
    return TracerProvider(sampler=sampler, resource=resource or Resource({"service.name": "checkout"}))


def root_decision(sampler: XRayRemoteSampler, attributes: Optional[Dict[str, Any]] = None, trace_id: int = 1) -> bool:
    """Whether the sampler samples a root span started with these attributes."""
    return sampler.should_sample(None, trace_id, "request", attributes=attributes).decision.is_sampled()


def counted(sampler: XRayRemoteSampler) -> Dict[str, Sequence[int]]:
    """Rules that counted requests since the last call: name -> (requests, sampled, borrowed)."""
    return {
        s.rule_name: (s.request_count, s.sampled_count, s.borrow_count)
        for s in sampler.statistics()
        if s.request_count
    }


def remote_parent(sampled: bool, trace_id: int = 0x1234, span_id: int = 0x99) -> Any:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return trace.set_span_in_context(NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)))
