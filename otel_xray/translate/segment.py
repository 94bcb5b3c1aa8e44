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

Translation is one pass over the span's attributes, planned per span shape.
The keys a span has, and its kind, decide which rules can apply: a
:class:`SpanPlan` (compiled once per shape and remembered, since spans of one
instrumentation share their keys) holds each rule's table restricted to the
keys present, from the rule modules' own tables (``name_steps``,
``http_plan``, ``call_plan``, ``flag_plan``), and the order in which the
attributes go to metadata, each marked with whether a rule may consume it
(:data:`CONSUMABLE_KEYS`). Each rule then reads only what is there, and
everything that no rule reads goes to metadata in the same pass.
``make_document(..., general=True)`` applies every rule to every attribute, the
way the rules are written; the tests compare the two.
"""

from __future__ import annotations

from typing import Any, Callable, FrozenSet, Mapping, MutableMapping, NamedTuple, Optional, Sequence, Set, Tuple

from opentelemetry.trace import SpanKind, StatusCode

from .._sdk import SpanFields, finished_span_fields
from ..document import Aws, Document, SpanLike
from ..ids import MAX_SPAN_ID, MAX_TRACE_ID, xray_trace_id
from ..values import clean_str
from .attributes import SPLIT_DEFAULT, SPLIT_GENERAL, SPLIT_LISTED, default_metadata, listed_split, split_attributes_general, split_mode
from .aws import CALL_KEYS, CallPlan, add_call_fields_planned, call_plan
from .caches import BoundedCache
from .cause import STATUS_TEXT_ATTRIBUTE, StackCache, make_cause
from .dropped import SPANS_INVALID_ID, SpanDropped, count
from .flags import FLAG_ATTRIBUTES, FlagPlan, error_flags_planned, flag_plan
from .http import HTTP_KEY_SET, HttpPlan, http_plan, make_http_planned
from .links import make_links
from .local_root import LOCAL_ROOT_ATTRIBUTE, is_local_root, service_segment
from .names import NAME_KEYS, NameSteps, chain_steps, name_steps, planned_name, sanitize_name
from .options import TranslationOptions
from .resource import ResourceInfo
from .sql import SQL_KEYS, SYSTEM_KEYS, make_sql
from .times import MAX_EPOCH_NANOS, document_times

__all__ = [
    "TranslationOptions",
    "Caches",
    "make_document",
    "document_of",
    "plan_for",
    "SpanPlan",
    "compile_plan",
    "CONSUMABLE_KEYS",
    "MAX_USER_CHARS",
    "IN_PROGRESS_ATTRIBUTE",
    "USER_ATTRIBUTE",
    "PLAN_CACHE_BYTES",
]

MAX_USER_CHARS = 250
IN_PROGRESS_ATTRIBUTE = "aws.xray.inprogress"
USER_ATTRIBUTE = "enduser.id"

# Every key a rule may take out of metadata, from the rules' own tables: a key
# not in here goes to metadata without being looked up in what was consumed.
CONSUMABLE_KEYS: FrozenSet[str] = (
    HTTP_KEY_SET
    | CALL_KEYS
    | frozenset(SQL_KEYS)
    | FLAG_ATTRIBUTES
    | NAME_KEYS
    | frozenset((LOCAL_ROOT_ATTRIBUTE, IN_PROGRESS_ATTRIBUTE, USER_ATTRIBUTE, STATUS_TEXT_ATTRIBUTE))
)

# Plans per translator: about a kilobyte each, for span shapes of up to 4,000 characters of keys.
PLAN_CACHE_BYTES = 512 * 1024
_PLAN_KEY_CHARS = 4000

# Enum members are looked up once here (an attribute of an Enum class costs about 0.1 us in the loop).
_SERVER, _CONSUMER, _CLIENT, _PRODUCER = SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.CLIENT, SpanKind.PRODUCER
_ERROR = StatusCode.ERROR


class SpanPlan:
    """What translation does for spans of one kind with one list of attribute keys (see the module's docstring)."""

    __slots__ = ("name_steps", "http", "call", "flags", "sql", "local_root", "in_progress", "user", "order", "split", "cost")

    def __init__(
        self,
        name_steps: NameSteps,
        http: Optional[HttpPlan],
        call: Optional[CallPlan],
        flags: FlagPlan,
        sql: bool,
        local_root: bool,
        in_progress: bool,
        user: bool,
        order: Tuple[Tuple[str, bool], ...],
        split: int,
    ) -> None:
        self.name_steps = name_steps
        self.http = http
        self.call = call
        self.flags = flags
        self.sql = sql
        self.local_root = local_root
        self.in_progress = in_progress
        self.user = user
        self.order = order
        self.split = split  # attributes.SPLIT_DEFAULT, SPLIT_LISTED or SPLIT_GENERAL
        # What remembering it costs, roughly (BoundedCache's estimate): tuples and their entries.
        self.cost = 600 + 120 * len(order)


def compile_plan(kind: SpanKind, keys: Sequence[str], options: TranslationOptions) -> SpanPlan:
    """The plan for spans of ``kind`` whose attribute keys are ``keys``, in order."""
    present = frozenset(keys)
    return SpanPlan(
        name_steps(kind, present),
        http_plan(keys),
        call_plan(present),
        flag_plan(present),
        not present.isdisjoint(SYSTEM_KEYS),
        LOCAL_ROOT_ATTRIBUTE in present,
        IN_PROGRESS_ATTRIBUTE in present,
        USER_ATTRIBUTE in present,
        tuple((key, key in CONSUMABLE_KEYS) for key in keys),
        split_mode(keys, options.indexed_attributes, options.index_all_attributes),
    )


def general_plan(kind: SpanKind, keys: Sequence[str], options: TranslationOptions) -> SpanPlan:
    """A plan that names by the whole chain and splits attributes the general way (for comparison)."""
    plan = compile_plan(kind, keys, options)
    plan.name_steps = chain_steps(kind)
    plan.split = SPLIT_GENERAL
    return plan


class Caches(NamedTuple):
    """What a translator remembers between spans (each bounded in bytes; see ``caches.py``)."""

    sanitize: Callable[[str], str] = sanitize_name
    stacks: Optional[StackCache] = None
    trace_ids: Optional[BoundedCache[int, str]] = None
    # (id(kind), *attribute keys) -> the plan for spans of that shape
    plans: Optional[BoundedCache[Tuple[Any, ...], SpanPlan]] = None


_NO_CACHES = Caches()


def new_plan_cache(max_bytes: int = PLAN_CACHE_BYTES) -> BoundedCache[Tuple[Any, ...], SpanPlan]:
    return BoundedCache(max_bytes, _PLAN_KEY_CHARS)


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
    general: bool = False,
) -> Document:
    """Translate a finished span into an X-Ray segment or subsegment document.

    What is left out or repaired is counted in ``dropped`` (see ``dropped.py``);
    a span that cannot become a valid document raises :class:`SpanDropped`.
    With ``general``, every rule is applied to every attribute, the way the
    rules are written, instead of the plan for the span's shape (the tests
    compare the two).
    """
    fields = finished_span_fields(span)
    if general:
        plan = general_plan(fields[3], tuple(fields[9]), options)
    else:
        plan = plan_for(fields[3], fields[9], options, caches.plans)
    return document_of(span, fields, plan, resource, options, caches, dropped)


def plan_for(
    kind: SpanKind,
    attributes: Mapping[str, Any],
    options: TranslationOptions,
    plans: Optional[BoundedCache[Tuple[Any, ...], SpanPlan]],
) -> SpanPlan:
    """The plan for spans of ``kind`` with these attribute keys: remembered in ``plans``, else compiled."""
    if plans is None:
        return compile_plan(kind, tuple(attributes), options)
    shape: Tuple[Any, ...] = (id(kind), *attributes)
    plan = plans.get(shape)
    if plan is None:
        keys: Tuple[str, ...] = shape[1:]
        plan = compile_plan(kind, keys, options)
        plans.put(shape, plan, sum(len(key) for key in keys), plan.cost)
    return plan


def document_of(
    span: SpanLike,
    fields: SpanFields,
    plan: SpanPlan,
    resource: ResourceInfo,
    options: TranslationOptions,
    caches: Caches,
    dropped: Optional[MutableMapping[str, int]],
) -> Document:
    """The document for ``span``, whose fields (``_sdk.finished_span_fields``) are planned by ``plan``."""
    span_name, context, parent, kind, start_nanos, end_nanos, status_code, description, _, attributes, events, has_links = fields
    span_id, trace_id_number = context.span_id, context.trace_id
    if not (0 < span_id <= MAX_SPAN_ID and 0 < trace_id_number <= MAX_TRACE_ID):
        count(dropped, SPANS_INVALID_ID)
        raise SpanDropped(SPANS_INVALID_ID, f"trace ID {trace_id_number:#x}, span ID {span_id:#x}")
    consumed: Set[str] = set()
    local_root = False
    if plan.local_root:
        local_root = is_local_root(attributes, consumed, options.lambda_mode)
    has_parent = parent is not None and 0 < parent.span_id <= MAX_SPAN_ID
    if options.lambda_mode:
        segment = not has_parent
    else:
        segment = (
            local_root
            or not has_parent
            or kind is _SERVER
            or kind is _CONSUMER
            or bool(parent is not None and parent.is_remote)
        )
    outgoing = kind is _CLIENT or kind is _PRODUCER
    # A call that starts this service's part of the trace: a service segment with the call inside.
    split = segment and (outgoing or (local_root and kind is _CONSUMER))
    own_segment = segment and not split

    trace_ids = caches.trace_ids
    trace_id = trace_ids.get(trace_id_number) if trace_ids is not None else None
    if trace_id is None:
        trace_id = _trace_id_text(trace_id_number, trace_ids)
    name, namespace = planned_name(
        plan.name_steps, span_name or "", kind, attributes, resource.service_name, caches.sanitize, consumed
    )
    # int.to_bytes().hex() formats an ID in two thirds of the time "%016x" takes (both checked in range above).
    doc: Document = {"name": name, "id": span_id.to_bytes(8, "big").hex(), "trace_id": trace_id, "start_time": 0.0}
    if has_parent and parent is not None:
        doc["parent_id"] = parent.span_id.to_bytes(8, "big").hex()
    if not own_segment:
        doc["type"] = "subsegment"

    in_progress = None
    if plan.in_progress:
        in_progress = attributes.get(IN_PROGRESS_ATTRIBUTE)
        if type(in_progress) is bool:
            consumed.add(IN_PROGRESS_ATTRIBUTE)
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

    http = None
    if plan.http is not None:
        http = make_http_planned(plan.http, attributes, kind is _SERVER, events, consumed, options.keep_url_query)
    error, fault, throttle = error_flags_planned(plan.flags, attributes, status_code, consumed)
    # Written when true only, as the X-Ray SDKs write them: absent means false to X-Ray.
    if error:
        doc["error"] = True
    if fault:
        doc["fault"] = True
    if throttle:
        doc["throttle"] = True
    if events or status_code is _ERROR:
        cause = make_cause(
            events,
            attributes,
            status_code,
            description,
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

    if plan.call is None:
        if own_segment and resource.aws is not None:
            doc["aws"] = resource.aws.copy()
    elif resource.aws is None:
        # A non-AWS cloud: no aws block, and the aws.* call fields go with it.
        add_call_fields_planned(plan.call, {}, attributes, consumed)
    else:
        aws: Aws = resource.aws.copy() if own_segment else {}
        add_call_fields_planned(plan.call, aws, attributes, consumed)
        if aws:
            doc["aws"] = aws
    if own_segment and resource.service is not None:
        doc["service"] = resource.service

    if plan.sql:
        sql = make_sql(attributes, consumed)
        if sql is not None:
            doc["sql"] = sql

    if plan.user:
        user = attributes.get(USER_ATTRIBUTE)
        if user is not None:
            consumed.add(USER_ATTRIBUTE)
            if type(user) is str and user:
                doc["user"] = clean_str(user[:MAX_USER_CHARS])

    resource_entries = resource_metadata = None
    if own_segment:
        resource_entries, resource_metadata = resource.for_segment(name)
    split_by = plan.split
    if split_by == SPLIT_DEFAULT:
        metadata = default_metadata(plan.order, attributes, consumed, resource_metadata)
    else:
        found = listed_split(plan.order, attributes, consumed, resource_entries) if split_by == SPLIT_LISTED else None
        if found is None:
            found = split_attributes_general(
                attributes, consumed, options.indexed_attributes, options.index_all_attributes, resource_entries
            )
        annotations, metadata = found
        if annotations:
            doc["annotations"] = annotations
    if metadata:
        doc["metadata"] = metadata

    if has_links:
        links = make_links(span.links, dropped)
        if links:
            doc["links"] = links
    if split:
        return service_segment(doc, span, attributes, resource, options, caches.sanitize)
    return doc
