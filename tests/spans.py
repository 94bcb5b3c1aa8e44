"""Build real OpenTelemetry SDK spans for tests."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_xray.ids import XRayIdGenerator

TRACE_ID = 0x5759E988BD862E3FE1BE46A994272793
PARENT_ID = 0x53995C3F42CD8AD8


def span_context(trace_id: int = TRACE_ID, span_id: int = PARENT_ID, remote: bool = False) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=remote, trace_flags=TraceFlags(TraceFlags.SAMPLED))


def make_span(
    name: str = "span",
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Optional[Dict[str, Any]] = None,
    parent: Optional[SpanContext] = None,
    resource: Optional[Dict[str, Any]] = None,
    status: Optional[Tuple[StatusCode, Optional[str]]] = None,
    events: Sequence[Tuple[str, Dict[str, Any]]] = (),
    links: Sequence[Tuple[SpanContext, Dict[str, Any]]] = (),
    start: Optional[int] = 1_700_000_000_123_456_789,
    end: Optional[int] = 1_700_000_000_623_456_789,
    exception: Optional[BaseException] = None,
) -> ReadableSpan:
    """One finished span made by the SDK's own tracer, exactly as an exporter receives it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(resource if resource is not None else {"service.name": "svc"}),
        id_generator=XRayIdGenerator(),
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent is not None else None
    span = tracer.start_span(
        name,
        context=context,
        kind=kind,
        attributes=attributes,
        links=[Link(ctx, attrs) for ctx, attrs in links],
        start_time=start,
    )
    for event_name, event_attributes in events:
        span.add_event(event_name, event_attributes)
    if exception is not None:
        span.record_exception(exception)
    if status is not None:
        span.set_status(Status(status[0], status[1]))
    span.end(end_time=end)
    provider.shutdown()
    (finished,) = exporter.get_finished_spans()
    return finished


def raw_span(**overrides: Any) -> ReadableSpan:
    """A ReadableSpan built by hand: for values and states the SDK's tracer refuses or never
    produces (older SDKs drop bytes and mixed-type lists, for instance)."""
    fields: Dict[str, Any] = dict(
        name="raw",
        context=span_context(span_id=0x1234),
        parent=span_context(),
        resource=Resource.create({"service.name": "svc"}),
        attributes={},
        events=(),
        links=(),
        kind=SpanKind.INTERNAL,
        status=Status(StatusCode.UNSET),
        start_time=1_700_000_000_000_000_000,
        end_time=1_700_000_001_000_000_000,
        instrumentation_scope=InstrumentationScope("t"),
    )
    fields.update(overrides)
    return ReadableSpan(**fields)
