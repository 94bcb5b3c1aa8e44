"""Decoding OTLP-over-UDP datagrams (``T1S``/``T1U`` + base64 protobuf) into spans, then documents.

Lambda's X-Ray endpoint turns such spans into segments itself; the local
daemon shows them translated by this package's translator, so that both wire
formats read the same way.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

OTLP_PREFIXES = (b"T1S", b"T1U")
# OTLP span kinds (1-5) to the API's SpanKind.
_KINDS = {1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT, 4: SpanKind.PRODUCER, 5: SpanKind.CONSUMER}
_STATUS = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind)


def _attributes(pairs: Any) -> Dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


@dataclass
class _Resource:
    attributes: Dict[str, Any]


@dataclass
class _Event:
    name: str
    attributes: Dict[str, Any]
    timestamp: int


@dataclass
class _Link:
    context: SpanContext
    attributes: Dict[str, Any]


@dataclass
class DecodedSpan:
    """The parts of an OTLP span the translator reads, under ReadableSpan's names."""

    name: str
    context: SpanContext
    parent: Optional[SpanContext]
    kind: SpanKind
    start_time: int
    end_time: int
    attributes: Dict[str, Any]
    events: List[_Event]
    links: List[_Link]
    status: Status
    resource: _Resource


def _span(proto: Any, resource: _Resource, sampled: bool) -> DecodedSpan:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    trace_id = int.from_bytes(proto.trace_id, "big")
    context = SpanContext(trace_id, int.from_bytes(proto.span_id, "big"), False, flags)
    parent = None
    if proto.parent_span_id:
        remote = bool(proto.flags & _HAS_IS_REMOTE) and bool(proto.flags & _IS_REMOTE)
        parent = SpanContext(trace_id, int.from_bytes(proto.parent_span_id, "big"), remote, flags)
    return DecodedSpan(
        name=proto.name,
        context=context,
        parent=parent,
        kind=_KINDS.get(proto.kind, SpanKind.INTERNAL),
        start_time=proto.start_time_unix_nano,
        end_time=proto.end_time_unix_nano,
        attributes=_attributes(proto.attributes),
        events=[_Event(e.name, _attributes(e.attributes), e.time_unix_nano) for e in proto.events],
        links=[
            _Link(SpanContext(int.from_bytes(l.trace_id, "big"), int.from_bytes(l.span_id, "big"), False, flags), _attributes(l.attributes))
            for l in proto.links
        ],
        status=Status(_STATUS.get(proto.status.code, StatusCode.UNSET), proto.status.message or None),
        resource=resource,
    )


def decode_otlp_body(body: bytes, max_spans: Optional[int] = None) -> Tuple[List[DecodedSpan], Optional[str]]:
    """The spans of a ``T1S``/``T1U`` body, or a rejection reason.

    A body holding more than ``max_spans`` spans is rejected whole (``too many
    spans``), counted before any span is converted: the work one datagram can
    cause stays bounded.
    """
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    prefix, payload = body[:3], body[3:].strip()
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        return [], f"invalid OTLP: not base64 ({exc})"
    try:
        request = ExportTraceServiceRequest.FromString(raw)
    except Exception as exc:  # protobuf raises DecodeError, and others on garbage
        return [], f"invalid OTLP: not an ExportTraceServiceRequest ({type(exc).__name__})"
    count = sum(len(scope_spans.spans) for resource_spans in request.resource_spans for scope_spans in resource_spans.scope_spans)
    if max_spans is not None and count > max_spans:
        return [], f"too many spans: {count} in one datagram, over the limit of {max_spans}"
    spans: List[DecodedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _Resource(_attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            spans.extend(_span(span, resource, prefix == b"T1S") for span in scope_spans.spans)
    if not spans:
        return [], "invalid OTLP: a request without spans"
    return spans, None
