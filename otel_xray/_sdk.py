"""Every read of the OpenTelemetry SDK's private members, in one place.

The translator and the batch processor have fast paths that read a few
private members of SDK objects (the backing dict of a span's attributes, its
event and link lists, the batch processor's queue, the configurator's
internals). A future SDK may rename any of them. Each accessor here has a
public fallback that stays correct, and :func:`fast_paths` reports which path
a given SDK takes, so that tests on the lowest and newest supported SDK notice
when a fast path silently stops being taken.

Internal (see ``otel_xray.__all__`` for the public API).
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from opentelemetry.trace import Status as _Status

_EMPTY: Dict[str, Any] = {}


def span_attributes(span: Any) -> Dict[str, Any]:
    """The span's attributes as a plain dict the caller may keep (a copy).

    The SDK hands them out behind a Python-level mapping where each lookup
    costs about a microsecond, and the translator makes thirty-odd; copying the
    SDK's backing dict (``span._attributes._dict``) costs 0.1 us.
    """
    backing = getattr(getattr(span, "_attributes", None), "_dict", None)
    if type(backing) is dict:
        return dict(backing)
    attributes = span.attributes
    return dict(attributes) if attributes else _EMPTY


def finished_span_attributes(span: Any) -> Mapping[str, Any]:
    """The attributes of a *finished* span, to read and not to keep: the SDK's own dict where it can be had.

    A finished span's attributes no longer change (the SDK makes them
    immutable at ``end()``), so nothing needs copying for a read.
    """
    try:
        backing = span._attributes._dict
    except AttributeError:
        return span_attributes(span)
    if type(backing) is dict:
        return backing
    return span_attributes(span)


# (name, context, parent, kind, start_time, end_time, status code, status description, resource,
#  attributes, events, has links)
SpanFields = Tuple[Any, Any, Any, Any, Any, Any, Any, Optional[str], Any, Mapping[str, Any], Sequence[Any], bool]
# The span classes whose fields sit in their __dict__ under ReadableSpan's private names, behind
# ReadableSpan's own properties (checked once per class).
_DIRECT_TYPES: Dict[type, bool] = {}
_READ_PROPERTIES = ("name", "context", "parent", "kind", "start_time", "end_time", "status", "resource", "attributes", "events", "links")


def _reads_directly(cls: type) -> bool:
    from opentelemetry.sdk.trace import ReadableSpan

    direct = issubclass(cls, ReadableSpan) and all(
        getattr(cls, name, None) is getattr(ReadableSpan, name) for name in _READ_PROPERTIES
    )
    if len(_DIRECT_TYPES) < 64:
        _DIRECT_TYPES[cls] = direct
    return direct


def finished_span_fields(span: Any) -> SpanFields:
    """Everything the translator reads of a finished span, in one call (see :data:`SpanFields`).

    The SDK's spans hand each field out through a property (about 50 ns
    apiece, a dozen per span); a finished span's fields no longer change, so
    for ``ReadableSpan`` and subclasses that keep its properties they are
    read from the instance directly. Anything else is read through the
    public names.
    """
    cls = type(span)
    direct = _DIRECT_TYPES.get(cls)
    if direct is None:
        direct = _reads_directly(cls)
    if direct:
        fields = span.__dict__
        status = fields["_status"]
        if type(status) is _Status:
            code, description = status._status_code, status._description
        else:
            code, description = status.status_code, status.description
        attributes = fields["_attributes"]
        try:
            backing = attributes._dict
        except AttributeError:
            backing = dict(attributes) if attributes else _EMPTY
        else:
            if type(backing) is not dict:
                backing = dict(attributes)
        stored = fields["_events"]
        try:
            queued = stored._dq
        except AttributeError:
            events = tuple(stored) if stored else ()
        else:
            events = tuple(queued) if queued else ()
        links = fields["_links"]
        try:
            has_links = bool(links._dq)
        except AttributeError:
            has_links = bool(links)
        return (
            fields["_name"], fields["_context"], fields["_parent"], fields["_kind"], fields["_start_time"],
            fields["_end_time"], code, description, fields["_resource"], backing, events, has_links,
        )
    status = span.status
    return (
        span.name, span.context, span.parent, span.kind, span.start_time, span.end_time, status.status_code,
        status.description, span.resource, finished_span_attributes(span), span_events(span), span_has_links(span),
    )


def span_events(span: Any) -> Sequence[Any]:
    """The span's events; ``()`` without touching the public property when there are none.

    The SDK copies its event list into a tuple on every access of ``events``,
    through a Python-level iterator; a finished span's deque (``_events._dq``)
    no longer changes and is read directly.
    """
    try:
        stored = span._events._dq
    except AttributeError:
        stored = getattr(span, "_events", None)
        if stored is not None and not len(stored):
            return ()
        return span.events or ()
    return tuple(stored) if stored else ()


def span_has_links(span: Any) -> bool:
    """Whether the span has links, without the copy the public ``links`` property makes."""
    try:
        return bool(span._links._dq)
    except AttributeError:
        stored = getattr(span, "_links", None)
        if stored is not None:
            return bool(len(stored))
        return bool(span.links)


def batch_queue(processor: Any) -> Tuple[Optional[Any], Optional[int]]:
    """``(queue, capacity)`` of an SDK ``BatchSpanProcessor``, or ``(None, None)`` if not found.

    The queue lives on an inner ``_batch_processor`` in SDK 1.28 and later, on
    the processor itself before that.
    """
    inner = getattr(processor, "_batch_processor", processor)
    queue = _first_present(inner, ("_queue", "queue"))
    limit = _first_present(inner, ("_max_queue_size", "max_queue_size"))
    if queue is None or not hasattr(queue, "__len__") or type(limit) is not int:
        return None, None
    return queue, limit


def batch_emit(processor: Any) -> Optional[Any]:
    """The bound ``emit`` of an SDK ``BatchSpanProcessor``'s inner batch processor (SDK 1.28+), else ``None``.

    ``BatchSpanProcessor.on_end`` checks that the span is sampled and calls
    it; a subclass that checks the same can call it directly.
    """
    inner = getattr(processor, "_batch_processor", None)
    emit = getattr(inner, "emit", None)
    return emit if callable(emit) else None


def span_processors(provider: Any) -> Optional[Tuple[Any, ...]]:
    """The span processors added to an SDK ``TracerProvider``, or ``None`` when they cannot be seen."""
    multi = getattr(provider, "_active_span_processor", None)
    processors = getattr(multi, "_span_processors", None)
    return tuple(processors) if isinstance(processors, (tuple, list)) else None


def _first_present(obj: Any, names: Tuple[str, ...]) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def configurator_base() -> Any:
    """The SDK's own configurator class (``opentelemetry.sdk._configuration._OTelSDKConfigurator``)."""
    from opentelemetry.sdk._configuration import _OTelSDKConfigurator

    return _OTelSDKConfigurator


def initialize_takes_export_span_processor() -> bool:
    """Whether the SDK's ``_initialize_components`` accepts ``export_span_processor`` (SDK 1.29+)."""
    from opentelemetry.sdk._configuration import _initialize_components

    return "export_span_processor" in inspect.signature(_initialize_components).parameters


def fast_paths() -> Mapping[str, bool]:
    """Which fast paths the installed SDK allows, found on a real span and processor."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class _Nothing(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    span = provider.get_tracer("otel_xray._sdk").start_span("probe", attributes={"k": "v"})
    span.end()
    processor = BatchSpanProcessor(_Nothing())
    provider.add_span_processor(processor)
    try:
        queue, limit = batch_queue(processor)
    finally:
        processor.shutdown()  # type: ignore[no-untyped-call]  # untyped in older SDKs
        provider.shutdown()
    return {
        "span_attributes": type(getattr(getattr(span, "_attributes", None), "_dict", None)) is dict,
        "span_fields": _reads_directly(type(span)) and "_context" in vars(span),
        "span_events": getattr(getattr(span, "_events", None), "_dq", None) is not None,
        "span_links": getattr(getattr(span, "_links", None), "_dq", None) is not None,
        "batch_queue": queue is not None and limit is not None,
        "batch_emit": batch_emit(processor) is not None,
        "span_processors": span_processors(provider) == (processor,),
        "export_span_processor": initialize_takes_export_span_processor(),
    }


def suppress_instrumentation_context() -> Any:
    """The current context with OpenTelemetry instrumentation switched off in it.

    The API transport's own HTTPS calls go through botocore and urllib3; were
    they instrumented, each PutTraceSegments would make spans, which would be
    exported with the next PutTraceSegments, and so on. Instrumentations check
    keys that opentelemetry-api keeps under private names
    (``_SUPPRESS_INSTRUMENTATION_KEY``, ``_SUPPRESS_HTTP_INSTRUMENTATION_KEY``);
    older instrumentations check the plain string ``"suppress_instrumentation"``.
    """
    from opentelemetry import context

    current = context.get_current()
    for name in ("_SUPPRESS_INSTRUMENTATION_KEY", "_SUPPRESS_HTTP_INSTRUMENTATION_KEY"):
        key = getattr(context, name, None)
        if isinstance(key, str):
            current = context.set_value(key, True, current)
    return context.set_value("suppress_instrumentation", True, current)
