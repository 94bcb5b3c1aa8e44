"""The shape of what the translator reads (a finished span) and writes (an X-Ray document).

``SpanLike`` is the part of a finished span the translator reads: the SDK's
``ReadableSpan`` satisfies it, and so does the daemon's decoded OTLP span
(``otel_xray.daemon.otlp.DecodedSpan``); ``tests/span_protocol_check.py``
has mypy check both. ``Document`` is one X-Ray segment or subsegment document
as the translator builds it; docs/mapping.md says where each field comes from.

Internal (see ``otel_xray.__all__`` for the public API).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence, TypedDict, Union

from opentelemetry.trace import SpanContext, SpanKind, Status

# The metadata namespace for attributes without one of their own (and for
# annotations over the trace's quota), and X-Ray's fixed quota of indexed
# annotations per trace: facts about documents, read by the translator and by
# the assembling step alike.
DEFAULT_NAMESPACE = "default"
MAX_ANNOTATIONS_PER_TRACE = 50
# What an independent subsegment must carry and an embedded one does not need: its place in
# its parent's document says all three (X-Ray's "Required Subsegment Fields").
EMBEDDED_OMITS = ("trace_id", "parent_id", "type")


# ------------------------------------------------------------------ what is read
class EventLike(Protocol):
    """A span event: the SDK's ``Event`` or a decoded OTLP event."""

    @property
    def name(self) -> str: ...

    @property
    def attributes(self) -> Optional[Mapping[str, Any]]: ...

    @property
    def timestamp(self) -> int: ...


class LinkLike(Protocol):
    """A span link: the API's ``Link`` or a decoded OTLP link."""

    @property
    def context(self) -> SpanContext: ...

    @property
    def attributes(self) -> Optional[Mapping[str, Any]]: ...


class ResourceLike(Protocol):
    @property
    def attributes(self) -> Optional[Mapping[str, Any]]: ...


class SpanLike(Protocol):
    """A finished span, as the translator reads it (the names are ``ReadableSpan``'s)."""

    @property
    def name(self) -> str: ...

    @property
    def context(self) -> SpanContext: ...

    @property
    def parent(self) -> Optional[SpanContext]: ...

    @property
    def kind(self) -> SpanKind: ...

    @property
    def start_time(self) -> Optional[int]: ...

    @property
    def end_time(self) -> Optional[int]: ...

    @property
    def attributes(self) -> Optional[Mapping[str, Any]]: ...

    @property
    def events(self) -> Sequence[EventLike]: ...

    @property
    def links(self) -> Sequence[LinkLike]: ...

    @property
    def status(self) -> Status: ...

    @property
    def resource(self) -> ResourceLike: ...


# ------------------------------------------------------------------ what is written
AnnotationValue = Union[str, int, float, bool]


class StackFrame(TypedDict):
    path: str
    line: int
    label: str


class _ExceptionRequired(TypedDict):
    id: str
    type: str
    message: str


class ExceptionRecord(_ExceptionRequired, total=False):
    """One entry of ``cause.exceptions``; ``cause`` links to the next in a chain."""

    remote: bool
    stack: List[StackFrame]
    cause: str
    truncated: int
    skipped: int


class Cause(TypedDict, total=False):
    working_directory: str
    paths: List[str]
    exceptions: List[ExceptionRecord]


class HttpRequest(TypedDict, total=False):
    method: str
    url: str
    user_agent: str
    client_ip: str
    x_forwarded_for: bool


class HttpResponse(TypedDict, total=False):
    status: int
    content_length: int


class Http(TypedDict, total=False):
    request: HttpRequest
    response: HttpResponse


class Sql(TypedDict, total=False):
    url: str
    connection_string: str
    database_type: str
    user: str
    sanitized_query: str


class XRaySdk(TypedDict, total=False):
    sdk: str
    sdk_version: str
    auto_instrumentation: bool


class Aws(TypedDict, total=False):
    """Resource-derived members (segments only) and per-call members (AWS SDK spans)."""

    # per call
    account_id: str
    operation: str
    region: str
    request_id: str
    id_2: str
    queue_url: str
    table_name: str
    table_names: List[str]
    topic_arn: str
    bucket_name: str
    key: str
    # from the resource
    ec2: Dict[str, str]
    ecs: Dict[str, str]
    eks: Dict[str, str]
    elastic_beanstalk: Dict[str, Union[str, int]]
    cloudwatch_logs: List[Dict[str, str]]
    xray: XRaySdk


class Service(TypedDict, total=False):
    version: str
    runtime: str
    runtime_version: str


class _SpanLinkRequired(TypedDict):
    trace_id: str
    id: str


class SpanLink(_SpanLinkRequired, total=False):
    attributes: Dict[str, Any]


class _DocumentRequired(TypedDict):
    name: str
    id: str
    trace_id: str
    start_time: float


class Document(_DocumentRequired, total=False):
    """A segment (no ``type``) or subsegment (``type: "subsegment"``) document.

    ``origin``, ``service`` and the resource-derived parts of ``aws`` appear
    on segments only; a
    segment made for a local-root client span holds its dependency in
    ``subsegments``.
    """

    parent_id: str
    type: str
    end_time: float
    in_progress: bool
    namespace: str
    origin: str
    user: str
    error: bool
    fault: bool
    throttle: bool
    http: Http
    aws: Aws
    sql: Sql
    service: Service
    cause: Cause
    annotations: Dict[str, AnnotationValue]
    metadata: Dict[str, Dict[str, Any]]
    links: List[SpanLink]
    subsegments: List["Document"]
