"""One finished span in, one X-Ray document out.

Segment or subsegment (R5, with one change): SERVER and CONSUMER spans, spans
without a parent, and spans whose parent is *remote* become segments; every
other span becomes an independent subsegment document carrying ``type``,
``parent_id`` and ``trace_id``. The reference ignores remoteness, which puts
the first span a process records under a remote parent (a worker without a
SERVER span, say) into the *caller's* segment and so into the caller's node of
the service map; here it starts this service's own segment.
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Set, Tuple

from opentelemetry.trace import SpanKind

from .._sdk import span_attributes, span_events, span_has_links
from ..ids import segment_id, xray_trace_id
from ..values import clean_str
from .attributes import split_attributes
from .aws import add_span_aws_fields
from .cause import error_flags, make_cause
from .http import make_http
from .links import make_links
from .names import document_name
from .resource import ResourceInfo
from .sql import make_sql

__all__ = ["TranslationOptions", "is_segment", "make_document", "MAX_USER_CHARS", "IN_PROGRESS_ATTRIBUTE"]

MAX_USER_CHARS = 250
IN_PROGRESS_ATTRIBUTE = "aws.xray.inprogress"


class TranslationOptions(NamedTuple):
    indexed_attributes: Tuple[str, ...] = ()
    index_all_attributes: bool = False
    # In AWS Lambda the function's segment is recorded by Lambda itself: every
    # span with a parent, SERVER spans included, becomes a subsegment of it.
    lambda_mode: bool = False
    # Keep the query string in http.request.url (OTEL_EXPORTER_XRAY_URL_QUERY=keep).
    keep_url_query: bool = False


def is_segment(span: Any, lambda_mode: bool = False) -> bool:
    """Whether ``span`` becomes a segment (else an independent subsegment)."""
    parent = span.parent
    has_parent = parent is not None and bool(parent.span_id)
    if lambda_mode:
        return not has_parent
    kind = span.kind
    if kind is SpanKind.SERVER or kind is SpanKind.CONSUMER:
        return True
    return not has_parent or parent.is_remote


def _seconds(nanoseconds: int) -> float:
    # Epoch seconds with microsecond precision, as X-Ray recommends.
    return (nanoseconds // 1000) / 1e6


def make_document(span: Any, resource: ResourceInfo, options: TranslationOptions) -> Dict[str, Any]:
    """Translate a finished ``ReadableSpan`` into an X-Ray segment or subsegment document."""
    context = span.context
    attributes = span_attributes(span)
    kind = span.kind
    segment = is_segment(span, options.lambda_mode)
    consumed: Set[str] = set()

    name, namespace = document_name(span.name or "", kind, attributes, resource.service_name)
    doc: Dict[str, Any] = {
        "name": name,
        "id": segment_id(context.span_id),
        "trace_id": xray_trace_id(context.trace_id),
    }
    parent = span.parent
    if parent is not None and parent.span_id:
        doc["parent_id"] = segment_id(parent.span_id)
    if not segment:
        doc["type"] = "subsegment"

    start = span.start_time or 0
    doc["start_time"] = _seconds(start)
    in_progress = attributes.get(IN_PROGRESS_ATTRIBUTE)
    if type(in_progress) is bool:
        consumed.add(IN_PROGRESS_ATTRIBUTE)
    end = span.end_time
    if in_progress is True or end is None:
        doc["in_progress"] = True
    else:
        doc["end_time"] = _seconds(end if end >= start else start)
    if namespace is not None:
        doc["namespace"] = namespace
    if resource.origin is not None:
        doc["origin"] = resource.origin

    events = span_events(span)
    http = make_http(attributes, kind is SpanKind.SERVER, events, consumed)
    status = span.status
    error, fault, throttle = error_flags(attributes, status.status_code)
    doc["error"] = error
    doc["fault"] = fault
    doc["throttle"] = throttle
    cause = make_cause(
        events,
        attributes,
        status.status_code,
        status.description,
        resource.language,
        kind is SpanKind.CLIENT or kind is SpanKind.PRODUCER,
        consumed,
    )
    if cause is not None:
        doc["cause"] = cause
    if http is not None:
        doc["http"] = http

    if resource.aws is not None:
        aws = dict(resource.aws)
        add_span_aws_fields(aws, attributes, consumed)
        doc["aws"] = aws
    else:
        # A non-AWS cloud: no aws block, and the aws.* call fields go with it (R71).
        add_span_aws_fields({}, attributes, consumed)
    if resource.service is not None:
        doc["service"] = resource.service

    sql = make_sql(span.name or "", attributes, consumed)
    if sql is not None:
        doc["sql"] = sql

    user = attributes.get("enduser.id")
    if user is not None:
        consumed.add("enduser.id")
        if type(user) is str and user:
            doc["user"] = clean_str(user[:MAX_USER_CHARS])

    annotations, metadata = split_attributes(
        attributes,
        consumed,
        options.indexed_attributes,
        options.index_all_attributes,
        resource.entries if segment else None,
        resource.metadata if segment else None,
    )
    if annotations:
        doc["annotations"] = annotations
    if metadata:
        doc["metadata"] = metadata

    links = make_links(span.links) if span_has_links(span) else None
    if links:
        doc["links"] = links
    return doc
