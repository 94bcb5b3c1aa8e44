"""One finished span in, one X-Ray document out (docs/mapping.md, "Segment or subsegment").

SERVER and CONSUMER spans, spans without a parent, and spans whose parent is
*remote* become segments; every other span becomes a subsegment carrying
``type``, ``parent_id`` and ``trace_id``. The Collector ignores remoteness,
which puts the first span a process records under a remote parent (a worker
without a SERVER span, say) into the *caller's* segment and so into the
caller's node of the service map; here it starts this service's own segment.

A CLIENT or PRODUCER span that starts this service's part of the trace (no
parent, a remote parent, or ``aws.span.kind = LOCAL_ROOT`` as the AWS
distribution marks it) becomes a segment named after the service, holding
the call as a subsegment, as the X-Ray SDKs record a script or worker that
calls out: see ``local_root.py``.
"""

from __future__ import annotations

from typing import Callable, MutableMapping, NamedTuple, Optional, Set

from opentelemetry.trace import SpanKind

from .._sdk import span_attributes, span_events, span_has_links
from ..document import Aws, Document, SpanLike
from ..ids import MAX_SPAN_ID, MAX_TRACE_ID, xray_trace_id
from ..values import clean_str
from .attributes import split_attributes
from .aws import add_call_fields
from .caches import BoundedCache
from .cause import StackCache, make_cause
from .dropped import SPANS_INVALID_ID, SpanDropped, count
from .flags import error_flags
from .http import make_http
from .links import make_links
from .local_root import LOCAL_ROOT_ATTRIBUTE, is_local_root, service_segment
from .names import document_name, sanitize_name
from .options import TranslationOptions
from .resource import ResourceInfo
from .sql import make_sql
from .times import MAX_EPOCH_NANOS, document_times

__all__ = ["TranslationOptions", "Caches", "make_document", "MAX_USER_CHARS", "IN_PROGRESS_ATTRIBUTE"]

MAX_USER_CHARS = 250
IN_PROGRESS_ATTRIBUTE = "aws.xray.inprogress"


class Caches(NamedTuple):
    """What a translator remembers between spans (each bounded in bytes; see ``caches.py``)."""

    sanitize: Callable[[str], str] = sanitize_name
    stacks: Optional[StackCache] = None
    trace_ids: Optional[BoundedCache[int, str]] = None


_NO_CACHES = Caches()


def _trace_id_text(trace_id: int, cache: Optional[BoundedCache[int, str]]) -> str:
    # The spans of a batch share few trace IDs: the formatted text is remembered.
    text = xray_trace_id(trace_id)
    if cache is not None:
        cache.put(trace_id, text, 39, 35)
    return text


def make_document(
    span: SpanLike,
    resource: ResourceInfo,
    options: TranslationOptions,
    caches: Caches = _NO_CACHES,
    dropped: Optional[MutableMapping[str, int]] = None,
) -> Document:
    """Translate a finished span into an X-Ray segment or subsegment document.

    What is left out or repaired is counted in ``dropped`` (see ``dropped.py``);
    a span that cannot become a valid document raises :class:`SpanDropped`.
    """
    context = span.context
    span_id, trace_id_number = context.span_id, context.trace_id
    if not (0 < span_id <= MAX_SPAN_ID and 0 < trace_id_number <= MAX_TRACE_ID):
        count(dropped, SPANS_INVALID_ID)
        raise SpanDropped(SPANS_INVALID_ID, f"trace ID {trace_id_number:#x}, span ID {span_id:#x}")
    attributes = span_attributes(span)
    kind = span.kind
    consumed: Set[str] = set()
    local_root = False
    if LOCAL_ROOT_ATTRIBUTE in attributes:
        local_root = is_local_root(attributes, consumed, options.lambda_mode)
    parent = span.parent
    has_parent = parent is not None and 0 < parent.span_id <= MAX_SPAN_ID
    if options.lambda_mode:
        segment = not has_parent
    else:
        segment = (
            local_root
            or not has_parent
            or kind is SpanKind.SERVER
            or kind is SpanKind.CONSUMER
            or bool(parent is not None and parent.is_remote)
        )
    outgoing = kind is SpanKind.CLIENT or kind is SpanKind.PRODUCER
    # A call that starts this service's part of the trace: a service segment with the call inside.
    split = segment and (outgoing or (local_root and kind is SpanKind.CONSUMER))
    own_segment = segment and not split

    trace_ids = caches.trace_ids
    trace_id = trace_ids.get(trace_id_number) if trace_ids is not None else None
    if trace_id is None:
        trace_id = _trace_id_text(trace_id_number, trace_ids)
    name, namespace = document_name(span.name or "", kind, attributes, resource.service_name, caches.sanitize)
    doc: Document = {"name": name, "id": "%016x" % span_id, "trace_id": trace_id, "start_time": 0.0}
    if has_parent and parent is not None:
        doc["parent_id"] = "%016x" % parent.span_id
    if not own_segment:
        doc["type"] = "subsegment"

    in_progress = attributes.get(IN_PROGRESS_ATTRIBUTE)
    if type(in_progress) is bool:
        consumed.add(IN_PROGRESS_ATTRIBUTE)
    start_nanos, end_nanos = span.start_time, span.end_time
    if type(start_nanos) is int and type(end_nanos) is int and 1000 <= start_nanos <= end_nanos <= MAX_EPOCH_NANOS:
        # The common case, inline: epoch seconds with microsecond precision, as X-Ray recommends.
        doc["start_time"] = (start_nanos // 1000) / 1e6
        if in_progress is True:
            doc["in_progress"] = True
        else:
            doc["end_time"] = (end_nanos // 1000) / 1e6
    else:
        start, end = document_times(start_nanos, end_nanos, in_progress is True, dropped)
        doc["start_time"] = start
        if end is None:
            doc["in_progress"] = True
        else:
            doc["end_time"] = end
    if namespace is not None:
        doc["namespace"] = namespace
    if own_segment and resource.origin is not None:
        doc["origin"] = resource.origin

    events = span_events(span)
    http = make_http(attributes, kind is SpanKind.SERVER, events, consumed, options.keep_url_query)
    status = span.status
    error, fault, throttle = error_flags(attributes, status.status_code, consumed)
    # Written when true only, as the X-Ray SDKs write them: absent means false to X-Ray.
    if error:
        doc["error"] = True
    if fault:
        doc["fault"] = True
    if throttle:
        doc["throttle"] = True
    cause = make_cause(
        events,
        attributes,
        status.status_code,
        status.description,
        resource.language,
        outgoing,
        consumed,
        caches.stacks,
        options.working_directory,
    )
    if cause is not None:
        doc["cause"] = cause
    if http is not None:
        doc["http"] = http

    if resource.aws is None:
        # A non-AWS cloud: no aws block, and the aws.* call fields go with it.
        add_call_fields({}, attributes, consumed)
    else:
        aws: Aws = resource.aws.copy() if own_segment else {}
        add_call_fields(aws, attributes, consumed)
        if aws:
            doc["aws"] = aws
    if own_segment and resource.service is not None:
        doc["service"] = resource.service

    sql = make_sql(attributes, consumed)
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
        resource.entries if own_segment else None,
        resource.metadata if own_segment else None,
    )
    if annotations:
        doc["annotations"] = annotations
    if metadata:
        doc["metadata"] = metadata

    if span_has_links(span):
        links = make_links(span.links, dropped)
        if links:
            doc["links"] = links
    if split:
        return service_segment(doc, span, attributes, resource, options, caches.sanitize)
    return doc
