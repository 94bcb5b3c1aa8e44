"""Segments and subsegments of aws-xray-sdk's API, each a thin handle on one OpenTelemetry span.

Every method writes span attributes that the translator turns into the same
document fields the SDK would write (see docs/migrating-from-aws-xray-sdk.md):

=============================  =====================================================
SDK call                        span
=============================  =====================================================
``put_annotation(k, v)``        attribute ``k``; ``k`` listed in ``aws.xray.annotations``
``put_metadata(k, v, ns)``      ``aws.xray.metadata.<ns>``: a JSON object string
``set_user(u)``                 ``enduser.id``
``put_http_meta(...)``          ``url.full``, ``http.request.method``, ``user_agent.original``,
                                ``client.address``, ``http.response.status_code``, ...
``add_*_flag()``                ``aws.xray.error`` / ``aws.xray.fault`` / ``aws.xray.throttle``
``add_exception(e, stack)``     an ``exception`` event, status ERROR
=============================  =====================================================

A handle on a span the compat layer started (*owned*) gathers the annotation
list and metadata and writes them once, when the span ends; a handle on any
other span (a Flask request's, say) writes at once, merging with what the
span already holds, so that any number of handles may share a span.

Nothing here raises into the application: calls on an ended entity, or with
keys and values the SDK refuses, are logged and ignored.

Internal: the public names are those of ``otel_xray.compat``, which imports
them from here.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set

from opentelemetry.trace import Status, StatusCode

from ..annotate import ANNOTATIONS_ATTRIBUTE, METADATA_PREFIX, add_annotation_keys, merge_metadata
from .._sdk import span_attributes
from ..ids import segment_id, xray_trace_id

if TYPE_CHECKING:  # pragma: no cover
    from .recorder import AWSXRayRecorder

_logger = logging.getLogger("otel_xray.compat")

ERROR_ATTRIBUTE = "aws.xray.error"
FAULT_ATTRIBUTE = "aws.xray.fault"
THROTTLE_ATTRIBUTE = "aws.xray.throttle"

_VALID_ANNOTATION_KEY = re.compile(r"[A-Za-z0-9_]*\Z").match
_ANNOTATION_TYPES = (int, float, bool, str)
_INVALID_NAME_CHARACTERS = re.compile(r"[?;*()!$~^<>]")

# put_http_meta keys -> span attributes (the translator reads these for the http block).
_HTTP_ATTRIBUTES = {
    "url": "url.full",
    "method": "http.request.method",
    "user_agent": "user_agent.original",
    "status": "http.response.status_code",
    "content_length": "http.response.body.size",
}
# set_sql keys -> span attributes.
_SQL_ATTRIBUTES = {
    "url": "db.connection_string",
    "user": "db.user",
    "sanitized_query": "db.statement",
}
_SQL_SYSTEMS = {"sqlite3": "sqlite", "postgres": "postgresql", "psycopg2": "postgresql", "psycopg": "postgresql"}
# set_aws keys -> span attributes; others go to metadata namespace "aws".
_AWS_ATTRIBUTES = {
    "operation": "aws.operation",
    "region": "aws.region",
    "request_id": "aws.request_id",
    "account_id": "aws.account_id",
    "queue_url": "aws.queue_url",
    "table_name": "aws.table_name",
    "bucket_name": "aws.s3.bucket",
}

_warned: Set[str] = set()


def _warn_once(topic: str, message: str, *args: Any) -> None:
    if topic in _warned:
        _logger.debug(message, *args)
        return
    _warned.add(topic)
    _logger.warning(message, *args)


def sanitize_entity_name(name: Any) -> str:
    """The SDK strips ``?;*()!$~^<>`` from segment and subsegment names."""
    text = name if isinstance(name, str) else ("" if name is None else str(name))
    cleaned = _INVALID_NAME_CHARACTERS.sub("", text)
    if cleaned != text:
        _logger.warning("Removing Segment/Subsugment Name invalid characters from %s.", text)
    return cleaned


def format_stack(exception: BaseException, stack: Any, limit: Optional[int]) -> str:
    """The Python traceback text the translator parses into ``cause.exceptions[].stack``.

    The exception's own traceback when it has one (cut to ``limit`` frames, the
    recorder's ``max_trace_back``); else the ``stack`` the caller passed (a
    list of ``traceback.FrameSummary`` or ``(path, line, label, text)`` tuples).
    """
    tail = traceback.format_exception_only(type(exception), exception)
    if exception.__traceback__ is not None:
        frames = traceback.extract_tb(exception.__traceback__, limit=limit)
    elif stack:
        try:
            frames = traceback.StackSummary.from_list(list(stack)[-limit:] if limit else list(stack))
        except (TypeError, ValueError):
            frames = traceback.StackSummary()
    else:
        frames = traceback.StackSummary()
    if not frames:
        return "".join(tail)
    return "Traceback (most recent call last):\n" + "".join(frames.format()) + "".join(tail)


class Entity:
    """What segments and subsegments share: annotations, metadata, HTTP, flags, exceptions."""

    __slots__ = (
        "span",
        "_recorder",
        "_owned",
        "_recording",
        "_name",
        "_pending_keys",
        "_annotations",
        "_metadata",
        "_dirty_namespaces",
        "_client_ip",
        "_x_forwarded_for",
        "_token",
        "_parent_entity",
        "_dirty",
        "_closed",
        "namespace",
    )

    type: Optional[str] = None

    def __init__(
        self,
        recorder: Optional["AWSXRayRecorder"],
        span: Any,
        name: str,
        owned: bool = False,
        token: Any = None,
        namespace: Optional[str] = None,
    ) -> None:
        self.span = span
        self._recorder = recorder
        self._owned = owned
        self._recording = span.is_recording()
        self._name = name
        self._pending_keys: List[str] = []
        self._annotations: Dict[str, Any] = {}
        self._metadata: Dict[str, Dict[Any, Any]] = {}
        self._dirty_namespaces: List[str] = []
        self._client_ip: Optional[str] = None
        self._x_forwarded_for = False
        self._token = token
        self._parent_entity: Optional[Entity] = None
        self._dirty = False
        self._closed = False
        self.namespace = namespace

    # -- identity ------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        # Patchers rename subsegments after the fact (a template's name, a database's).
        self._name = sanitize_entity_name(value)
        if self._recording:
            self.span.update_name(self._name)
            self._renamed()

    def _renamed(self) -> None:
        pass

    @property
    def id(self) -> str:
        return segment_id(self.span.get_span_context().span_id)

    @property
    def trace_id(self) -> str:
        return xray_trace_id(self.span.get_span_context().trace_id)

    @property
    def parent_id(self) -> Optional[str]:
        parent = getattr(self.span, "parent", None)
        return segment_id(parent.span_id) if parent is not None and parent.span_id else None

    @property
    def sampled(self) -> bool:
        return bool(self.span.get_span_context().trace_flags.sampled)

    @property
    def in_progress(self) -> bool:
        return not self._closed and self._recording and self.span.is_recording()

    @property
    def annotations(self) -> Dict[str, Any]:
        """The annotations this span carries (a copy)."""
        found: Dict[str, Any] = {}
        attributes = getattr(self.span, "attributes", None) or {}
        for key in attributes.get(ANNOTATIONS_ATTRIBUTE) or ():
            if key in attributes:
                found[key] = attributes[key]
        found.update(self._annotations)
        return found

    @property
    def metadata(self) -> Dict[str, Dict[Any, Any]]:
        """The metadata put through this API, by namespace (a copy)."""
        found: Dict[str, Dict[Any, Any]] = {}
        attributes = getattr(self.span, "attributes", None) or {}
        for key, value in attributes.items():
            if key.startswith(METADATA_PREFIX) and type(value) is str:
                try:
                    parsed = json.loads(value)
                except ValueError:
                    continue
                if isinstance(parsed, dict):
                    found[key[len(METADATA_PREFIX) :]] = parsed
        for namespace, values in self._metadata.items():
            found.setdefault(namespace, {}).update(values)
        return found

    # -- guards --------------------------------------------------------------
    def _writable(self, operation: str) -> bool:
        if self._closed:
            _warn_once(
                "ended",
                "otel_xray.compat: %s on %r, which has already ended, is ignored (aws-xray-sdk raises "
                "AlreadyEndedException here)",
                operation,
                self._name,
            )
            return False
        return bool(self._recording)

    # -- annotations and metadata ------------------------------------------
    def put_annotation(self, key: str, value: Any) -> None:
        """An indexed key-value pair. Keys: ``[A-Za-z0-9_]``; values: str, int, float, bool (else dropped)."""
        if not self._writable("put_annotation"):
            return
        if not isinstance(key, str):
            _logger.warning("ignoring non string type annotation key with type %s.", type(key))
            return
        if not isinstance(value, _ANNOTATION_TYPES):
            _logger.warning("ignoring unsupported annotation value type %s.", type(value))
            return
        if _VALID_ANNOTATION_KEY(key) is None:
            _logger.warning("ignoring annnotation with unsupported characters in key: '%s'.", key)
            return
        if self._owned:
            # Written with the key list in one call when the span ends.
            if key not in self._annotations:
                self._pending_keys.append(key)
            self._annotations[key] = value
            self._dirty = True
            return
        self.span.set_attribute(key, value)
        add_annotation_keys(self.span, (key,))
        self._annotations[key] = value

    def put_metadata(self, key: Any, value: Any, namespace: str = "default") -> None:
        """Unindexed data, grouped by namespace (a string not starting with ``AWS.``)."""
        if not self._writable("put_metadata"):
            return
        if not isinstance(namespace, str):
            _logger.warning("ignoring non string type metadata namespace")
            return
        if namespace.startswith("AWS."):
            _logger.warning("Prefix 'AWS.' is reserved, drop metadata with namespace %s", namespace)
            return
        values = self._metadata.get(namespace)
        if values is None:
            values = self._metadata[namespace] = {}
        values[key] = value
        if namespace not in self._dirty_namespaces:
            self._dirty_namespaces.append(namespace)
        self._dirty = True
        if not self._owned:
            self.flush()

    def flush(self) -> None:
        """Write what was gathered to the span (done when an owned span ends)."""
        self._dirty = False
        span = self.span
        if self._pending_keys:
            attributes: Dict[str, Any] = dict(self._annotations) if self._owned else {}
            listed = span_attributes(span).get(ANNOTATIONS_ATTRIBUTE)
            if listed:  # otel_xray.annotate() or another handle listed keys too
                present = set(listed)
                attributes[ANNOTATIONS_ATTRIBUTE] = list(listed) + [k for k in self._pending_keys if k not in present]
            else:
                attributes[ANNOTATIONS_ATTRIBUTE] = self._pending_keys
            span.set_attributes(attributes)
            self._pending_keys = []
        if self._dirty_namespaces:
            for namespace in self._dirty_namespaces:
                merge_metadata(span, namespace, self._metadata[namespace])
            self._dirty_namespaces = []
        if self._client_ip is not None:
            span.set_attribute("client.address", self._client_ip)
            if not self._x_forwarded_for:
                # A peer address tells the translator the IP is the connection's, not X-Forwarded-For's.
                span.set_attribute("network.peer.address", self._client_ip)
            self._client_ip = None

    # -- HTTP, flags, exceptions --------------------------------------------
    def put_http_meta(self, key: str, value: Any) -> None:
        """HTTP request and response fields: url, method, user_agent, client_ip, x_forwarded_for, status, content_length."""
        if not self._writable("put_http_meta") or value is None:
            return
        if key == "client_ip":
            self._client_ip = str(value)
            self._dirty = True
            if not self._owned:
                self.flush()
            return
        if key == "x_forwarded_for":
            self._x_forwarded_for = bool(value)
            return
        attribute = _HTTP_ATTRIBUTES.get(key)
        if attribute is None:
            _logger.warning("ignoring unsupported key %s in http meta.", key)
            return
        if key in ("status", "content_length"):
            try:
                value = int(value)
            except (TypeError, ValueError):
                _logger.warning("ignoring http meta %s=%r: not a number", key, value)
                return
        else:
            value = str(value)
        self.span.set_attribute(attribute, value)

    def apply_status_code(self, status_code: Any) -> None:
        """Flags from a status code: 5xx fault, 429 throttle and error, other 4xx error."""
        if not self._writable("apply_status_code") or not status_code:
            return
        code = int(status_code)
        if code >= 500:
            self.add_fault_flag()
        elif code == 429:
            self.add_throttle_flag()
            self.add_error_flag()
        elif code >= 400:
            self.add_error_flag()

    def add_throttle_flag(self) -> None:
        if self._writable("add_throttle_flag"):
            self.span.set_attribute(THROTTLE_ATTRIBUTE, True)

    def add_fault_flag(self) -> None:
        if self._writable("add_fault_flag"):
            self.span.set_attribute(FAULT_ATTRIBUTE, True)
            self.span.set_status(Status(StatusCode.ERROR))

    def add_error_flag(self) -> None:
        if self._writable("add_error_flag"):
            self.span.set_attribute(ERROR_ATTRIBUTE, True)

    def add_exception(self, exception: BaseException, stack: Any = None, remote: bool = False) -> None:
        """Record ``exception`` in the document's ``cause`` and set the fault flag, as the SDK does.

        ``remote`` is not carried: the translator marks exceptions remote on
        CLIENT and PRODUCER spans (``begin_subsegment(..., 'remote')``).
        """
        if not self._writable("add_exception"):
            return
        limit = self._recorder.max_trace_back if self._recorder is not None else None
        self.span.record_exception(
            exception,
            attributes={
                # The SDK names the class alone; OpenTelemetry would prefix its module.
                "exception.type": type(exception).__name__,
                "exception.stacktrace": format_stack(exception, stack, limit),
            },
        )
        self.span.set_status(Status(StatusCode.ERROR))

    def set_aws(self, aws_meta: Dict[str, Any]) -> None:
        """The fields of the ``aws`` block that spans carry; the others go to metadata namespace ``aws``."""
        if not self._writable("set_aws") or not isinstance(aws_meta, dict):
            return
        for key, value in aws_meta.items():
            attribute = _AWS_ATTRIBUTES.get(key)
            if attribute is not None and isinstance(value, (str, int, float, bool)):
                self.span.set_attribute(attribute, value)
            else:
                self.put_metadata(key, value, "aws")

    # -- lifetime -------------------------------------------------------------
    def close(self, end_time: Optional[float] = None) -> None:
        """End the span (``end_time`` in epoch seconds, default now)."""
        if self._recorder is not None and self._owned:
            self._recorder._end_entity(self, end_time)
            return
        self._finish(end_time)

    def _finish(self, end_time: Optional[float]) -> None:
        if self._closed:
            return
        self._closed = True
        if self._recording:
            if self._dirty:
                self.flush()
            self.span.end(end_time=int(end_time * 1e9) if end_time else None)

    def serialize(self) -> str:
        """Not available: the document is made by the exporter when the span ends."""
        raise NotImplementedError(
            "otel_xray.compat builds documents in the exporter; read the span's attributes, or the documents "
            "`otel-xray daemon` receives"
        )

    to_dict = serialize

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r} id={self.id}>"


class Segment(Entity):
    """A segment: a SERVER span that starts this service's part of a trace."""

    __slots__ = ()

    def set_user(self, user: Any) -> None:
        """The user the request is for (``enduser.id``; the document's indexed ``user``)."""
        if self._writable("set_user") and user is not None:
            self.span.set_attribute("enduser.id", user if isinstance(user, str) else str(user))

    def set_service(self, service_info: Any) -> None:
        """Accepted; the ``service`` block comes from the resource (``service.version``)."""

    def set_rule_name(self, rule_name: str) -> None:
        """Accepted; the sampler records its own rule."""

    def _renamed(self) -> None:
        self.span.set_attribute("aws.local.service", self._name)


class Subsegment(Entity):
    """A subsegment: a span under a segment (INTERNAL, or CLIENT for the ``remote`` and ``aws`` namespaces)."""

    __slots__ = ("_parent_segment",)

    type = "subsegment"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parent_segment: Optional[Entity] = None

    @property
    def parent_segment(self) -> Optional[Entity]:
        """The segment this subsegment is part of."""
        if self._parent_segment is None and self._recorder is not None:
            self._parent_segment = self._recorder._segment_of(self.span)
        return self._parent_segment

    def set_sql(self, sql: Dict[str, Any]) -> None:
        """SQL fields: ``database_type``, ``url``, ``user``, ``sanitized_query``; others go to metadata namespace ``sql``."""
        if not self._writable("set_sql") or not isinstance(sql, dict):
            return
        for key, value in sql.items():
            if key == "database_type" and isinstance(value, str):
                system = value.lower()
                self.span.set_attribute("db.system", _SQL_SYSTEMS.get(system, system))
            elif key in _SQL_ATTRIBUTES and isinstance(value, str):
                self.span.set_attribute(_SQL_ATTRIBUTES[key], value)
            else:
                self.put_metadata(key, value, "sql")


class DummySegment(Segment):
    """A segment that records nothing: tracing disabled, or the request not sampled."""

    __slots__ = ()


class DummySubsegment(Subsegment):
    """A subsegment that records nothing."""

    __slots__ = ()


class FacadeSegment(Segment):
    """In AWS Lambda: the function's segment, which Lambda records itself and code cannot change.

    It carries the trace ID and parent ID of ``_X_AMZN_TRACE_ID``. Changing it
    is ignored with one WARNING (aws-xray-sdk raises
    ``FacadeSegmentMutationException``): annotate a subsegment instead, or wrap
    the handler with :func:`otel_xray.aws_lambda.lambda_handler`, whose span
    takes annotations.
    """

    __slots__ = ()

    def _writable(self, operation: str) -> bool:
        _warn_once(
            "facade",
            "otel_xray.compat: %s on the Lambda function's segment is ignored: Lambda records that segment "
            "itself. Annotate a subsegment, or use otel_xray.aws_lambda.lambda_handler",
            operation,
        )
        return False

    def close(self, end_time: Optional[float] = None) -> None:
        self._writable("close")
