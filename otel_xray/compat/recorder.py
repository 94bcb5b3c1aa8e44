"""``xray_recorder``: aws-xray-sdk's recorder on OpenTelemetry spans.

The current segment and subsegment are OpenTelemetry's current span (a
``contextvars`` context, so threads started with a copied context and asyncio
tasks follow without ``AsyncContext`` or ``set_trace_entity``). A segment is a
SERVER span started as a new trace (or under the parent an incoming header
names); a subsegment is an INTERNAL span (CLIENT for the ``remote`` and
``aws`` namespaces) under the current span. ``current_segment()`` is the span
that starts the current span's segment, found by
:class:`otel_xray.annotate.LocalRootSpanProcessor`, so it also works under
spans that instrumentations started (a Flask request's, say).

Internal: the public names are those of ``otel_xray.compat``, which imports
them from here.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import operator
import threading
import time
import traceback
from types import SimpleNamespace
from typing import Any, Callable, Dict, Generic, Iterator, Optional, Tuple, TypeVar

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from .. import config
from ..annotate import install_local_root_tracking, local_root_span
from ..ids import XRayIdGenerator, otel_trace_id, parse_trace_header
from ..version import __version__
from .entities import DummySegment, DummySubsegment, Entity, FacadeSegment, Segment, Subsegment, sanitize_entity_name
from .exceptions import SegmentNameMissingException, SegmentNotFoundException
from .sdk_config import global_sdk_config

_logger = logging.getLogger("otel_xray.compat")

MISSING_SEGMENT_MSG = "cannot find the current segment/subsegment, please make sure you have a segment open"
_CAPTURED = "__otel_xray_capture__"
_F = TypeVar("_F", bound=Callable[..., Any])
_E = TypeVar("_E", bound=Entity)

# span ID -> the entity of every open span that this layer started.
_OPEN: Dict[int, Entity] = {}
_lock = threading.Lock()
_ids = XRayIdGenerator()
_notices: "set[str]" = set()

# configure() arguments that have no OpenTelemetry counterpart here (listed in the guide).
_NOT_HONOURED = {
    "emitter": "spans are sent by the X-Ray span exporter; an SDK emitter has no place to plug in",
    "streaming": "spans are exported one by one as they end, so nothing needs streaming",
    "streaming_threshold": "spans are exported one by one as they end, so nothing needs streaming",
    "sampler": "an aws-xray-sdk sampler object cannot decide for OpenTelemetry; pass an OpenTelemetry Sampler",
    "stream_sql": "whether query text is recorded is decided by each OpenTelemetry instrumentation",
}


def _notice(topic: str, message: str, *args: Any, level: int = logging.INFO) -> None:
    """Log ``message`` once per process for ``topic``."""
    if topic in _notices:
        return
    _notices.add(topic)
    _logger.log(level, message, *args)


class Context:
    """Accepted by ``configure(context=...)``: entities live in ``contextvars`` whatever is passed."""

    def __init__(self, context_missing: str = "LOG_ERROR") -> None:
        self.context_missing = context_missing


class AsyncContext(Context):
    """Accepted like :class:`Context`; asyncio tasks inherit ``contextvars`` by themselves."""

    def __init__(self, *args: Any, loop: Any = None, use_task_factory: bool = True, **kwargs: Any) -> None:
        super().__init__(**{k: v for k, v in kwargs.items() if k == "context_missing"})


def _dynamic_name(pattern: str, host: Optional[str], fallback: Optional[str]) -> Optional[str]:
    import fnmatch

    if host and fnmatch.fnmatchcase(host.lower(), pattern.lower()):
        return host
    return fallback


class DynamicNaming:
    """``configure(dynamic_naming='*.example.com')``: a matching Host header names the segment."""

    def __init__(self, pattern: str, fallback: Optional[str]) -> None:
        self.pattern = pattern
        self.fallback = fallback

    def get_name(self, host_name: Optional[str]) -> Optional[str]:
        return _dynamic_name(self.pattern, host_name, self.fallback)


def _configured(name: str, convert: Optional[Callable[[Any], Any]] = None) -> Any:
    """A recorder attribute kept in ``_<name>``: what ``configure(<name>=...)`` set.

    Read-only, unless ``convert`` is given: then assigning stores ``convert(value)``.
    """
    attribute, doc = "_" + name, f"What ``configure({name}=...)`` set."
    if convert is None:
        return property(operator.attrgetter(attribute), doc=doc)
    stored = convert

    def assign(recorder: AWSXRayRecorder, value: Any) -> None:
        setattr(recorder, attribute, stored(value))

    return property(operator.attrgetter(attribute), assign, doc=doc)


def _dummy_while_disabled(dummy: Callable[..., Entity]) -> Callable[[_F], _F]:
    """The method answers ``dummy`` (a handle on no span) while the SDK is disabled, as aws-xray-sdk does."""

    def decorate(method: _F) -> _F:
        @functools.wraps(method)
        def checked(self: AWSXRayRecorder, *args: Any, **kwargs: Any) -> Any:
            if not global_sdk_config.sdk_enabled():
                return dummy(self, trace.INVALID_SPAN, global_sdk_config.DISABLED_ENTITY_NAME)
            return method(self, *args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


class AWSXRayRecorder:
    """The recorder; ``otel_xray.compat.xray_recorder`` is the one instance most code uses.

    ``tracer_provider`` (not in the SDK) makes the recorder use that provider
    instead of the global one, which tests and embedders need.
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        self._given_provider = tracer_provider
        self._provider: Any = None
        self._tracer: Any = None
        self._owns_provider = False
        self._resource_service: Optional[str] = None
        self._lambda: Optional[bool] = None
        self._service_code: Optional[str] = None
        self._sampling = True
        self._sampling_rules: Any = None
        self._sampler: Any = None
        self._plugins: Tuple[str, ...] = ()
        self._daemon_code: Optional[str] = None
        self._context_missing_code: Optional[str] = None
        self._context: Any = Context()
        self._emitter: Any = None
        self._streaming: Any = None
        self._streaming_threshold: Optional[int] = None
        self._dynamic_naming: Any = None
        self._max_trace_back = 10
        self._stream_sql = True
        self._configured_before_use: "list[str]" = []
        self._missing_logged = False

    # ------------------------------------------------------------- configure
    def configure(
        self,
        sampling: Optional[bool] = None,
        plugins: Any = None,
        context_missing: Optional[str] = None,
        sampling_rules: Any = None,
        daemon_address: Optional[str] = None,
        service: Optional[str] = None,
        context: Any = None,
        emitter: Any = None,
        streaming: Any = None,
        dynamic_naming: Any = None,
        streaming_threshold: Optional[int] = None,
        max_trace_back: Optional[int] = None,
        sampler: Any = None,
        stream_sql: Optional[bool] = True,
    ) -> None:
        """Every argument of aws-xray-sdk's ``configure``; only the ones passed change anything.

        Environment variables win over arguments, as in the SDK:
        ``AWS_XRAY_TRACING_NAME`` over ``service``, ``AWS_XRAY_DAEMON_ADDRESS``
        over ``daemon_address``, ``AWS_XRAY_CONTEXT_MISSING`` over
        ``context_missing``. Arguments without an OpenTelemetry counterpart are
        accepted and logged once at INFO (see the migration guide).
        """
        shaping = []
        if sampling is not None:
            self._sampling = bool(sampling)
            shaping.append("sampling")
        if sampler:
            from opentelemetry.sdk.trace.sampling import Sampler

            if isinstance(sampler, Sampler):
                self._sampler = sampler
                shaping.append("sampler")
            else:
                self._not_honoured("sampler")
        if service:
            self._service_code = service
            shaping.append("service")
        if sampling_rules:
            self._sampling_rules = _load_rules(sampling_rules)
            shaping.append("sampling_rules")
        if emitter:
            self._emitter = emitter
            self._not_honoured("emitter")
        if daemon_address:
            self._daemon_code = daemon_address
            config.xray_sdk_daemon_address(daemon_address)  # a malformed address raises here, as in the SDK
            shaping.append("daemon_address")
        if context:
            self._context = context
            code = getattr(context, "context_missing", None)
            if context_missing is None and isinstance(code, str):
                self._context_missing_code = code
        if context_missing:
            self._context_missing_code = context_missing
        if dynamic_naming:
            self.dynamic_naming = dynamic_naming
        if streaming:
            self._streaming = streaming
            self._not_honoured("streaming")
        if streaming_threshold is not None:
            self._streaming_threshold = streaming_threshold
            if streaming_threshold != 0 or not self.in_lambda:
                self._not_honoured("streaming_threshold")
        if type(max_trace_back) is int and max_trace_back >= 0:
            self._max_trace_back = max_trace_back
        if stream_sql is not None:
            self._stream_sql = bool(stream_sql)
            if not stream_sql:
                self._not_honoured("stream_sql")
        if plugins:
            from .provider import validate_plugins

            self._plugins = validate_plugins(plugins)
            shaping.append("plugins")
        elif plugins is not None:
            self._plugins = ()
        if shaping:
            if self._tracer is not None and self._owns_provider:
                _logger.warning(
                    "otel_xray.compat: configure(%s) came after the first segment; it applies from the next process "
                    "start (call configure before any tracing)",
                    ", ".join(shaping),
                )
            elif self._tracer is not None or self._external_provider() is not None:
                self._left_to_provider(shaping)
            else:
                self._configured_before_use.extend(shaping)

    def _not_honoured(self, argument: str) -> None:
        _notice(
            "arg:" + argument,
            "otel_xray.compat: configure(%s=...) is accepted and has no effect: %s",
            argument,
            _NOT_HONOURED[argument],
        )

    def _left_to_provider(self, arguments: Any) -> None:
        _notice(
            "provider:" + ",".join(sorted(set(arguments))),
            "otel_xray.compat: a tracer provider was set up elsewhere (opentelemetry-instrument or code), so "
            "configure(%s) is left to that set-up",
            ", ".join(sorted(set(arguments))),
        )

    # ----------------------------------------------------------- properties
    @property
    def service(self) -> Optional[str]:
        """The default segment name: ``AWS_XRAY_TRACING_NAME``, else ``configure(service=...)``."""
        return config.xray_sdk_tracing_name(self._service_code).value  # type: ignore[return-value]

    @service.setter
    def service(self, value: Optional[str]) -> None:
        self._service_code = value

    @property
    def context_missing(self) -> str:
        setting = config.xray_sdk_context_missing(self._context_missing_code)
        if setting.problem:
            _notice("context_missing:" + setting.problem, "otel_xray.compat: %s", setting.problem, level=logging.WARNING)
        return setting.value  # type: ignore[return-value]

    sampling = _configured("sampling", convert=bool)
    sampler = _configured("sampler")
    sampling_rules = _configured("sampling_rules")
    plugins = _configured("plugins")

    @property
    def daemon_address(self) -> Optional[config.DaemonAddress]:
        env = config.xray_sdk_daemon_address(self._daemon_code)
        return env.value  # type: ignore[return-value]

    context = _configured("context")
    emitter = _configured("emitter")
    streaming = _configured("streaming")
    streaming_threshold = _configured("streaming_threshold")

    @property
    def dynamic_naming(self) -> Any:
        return self._dynamic_naming

    @dynamic_naming.setter
    def dynamic_naming(self, value: Any) -> None:
        self._dynamic_naming = DynamicNaming(value, self.service) if isinstance(value, str) else value

    @property
    def max_trace_back(self) -> int:
        return self._max_trace_back

    @max_trace_back.setter
    def max_trace_back(self, value: int) -> None:
        self._max_trace_back = value

    stream_sql = _configured("stream_sql")

    @property
    def enabled(self) -> bool:
        return global_sdk_config.sdk_enabled()

    @property
    def in_lambda(self) -> bool:
        if self._lambda is None:
            from ..config import in_lambda

            self._lambda = in_lambda()
        return self._lambda

    @property
    def tracer_provider(self) -> Any:
        """The OpenTelemetry tracer provider this recorder records with (set up on first use)."""
        self._ensure()
        return self._provider

    # ------------------------------------------------------------- provider
    def _external_provider(self) -> Any:
        if self._given_provider is not None:
            return self._given_provider
        current = trace.get_tracer_provider()
        return None if isinstance(current, trace.ProxyTracerProvider) else current

    def _ensure(self) -> Any:
        """The tracer, setting up the provider on first use (see :mod:`otel_xray.compat.provider`)."""
        tracer = self._tracer
        if tracer is not None:
            return tracer
        with _lock:
            if self._tracer is not None:
                return self._tracer
            provider = self._external_provider()
            if provider is None:
                from .provider import build_provider, install_propagators

                provider = build_provider(
                    self.service,
                    self._plugins,
                    self._sampling,
                    self._sampling_rules,
                    self.daemon_address,
                    self.in_lambda,
                    sampler=self._sampler,
                )
                trace.set_tracer_provider(provider)
                if trace.get_tracer_provider() is provider:
                    self._owns_provider = True
                    if not config.otel_propagators_configured():
                        install_propagators(self.in_lambda)
                else:  # another thread set one up first
                    provider.shutdown()
                    provider = trace.get_tracer_provider()
            if not self._owns_provider:
                install_local_root_tracking(provider)
                if self._configured_before_use:
                    self._left_to_provider(self._configured_before_use)
            self._provider = provider
            resource = getattr(provider, "resource", None)
            name = resource.attributes.get("service.name") if resource is not None else None
            self._resource_service = name if isinstance(name, str) and not name.startswith("unknown_service") else None
            self._tracer = provider.get_tracer("otel_xray.compat", __version__)
            return self._tracer

    # -------------------------------------------------------------- context
    def _missing(self, what: str) -> None:
        mode = self.context_missing
        if mode == "RUNTIME_ERROR":
            raise SegmentNotFoundException(MISSING_SEGMENT_MSG)
        if mode == "LOG_ERROR":
            # Once at ERROR, then at DEBUG: aws-xray-sdk logs every occurrence, which floods logs.
            if not self._missing_logged:
                self._missing_logged = True
                _logger.error("%s (%s; further occurrences are logged at DEBUG)", MISSING_SEGMENT_MSG, what)
            else:
                _logger.debug("%s (%s)", MISSING_SEGMENT_MSG, what)

    def _lambda_parent(self) -> Optional[SpanContext]:
        """The function's segment that Lambda recorded, from this invocation's ``_X_AMZN_TRACE_ID``."""
        from ..config import lambda_trace_header

        header = parse_trace_header(lambda_trace_header())
        try:
            trace_id = otel_trace_id(header.get("Root", ""))
            span_id = int(header.get("Parent", ""), 16)
        except ValueError:
            return None
        flags = TraceFlags(TraceFlags.SAMPLED if header.get("Sampled") == "1" else TraceFlags.DEFAULT)
        return SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)

    def _segment_of(self, span: Any) -> Optional[Entity]:
        """The segment ``span`` belongs to: an entity of this layer, or a handle on another span."""
        entity = _OPEN.get(span.get_span_context().span_id)
        top: Optional[Entity] = None
        while entity is not None:  # this layer's own entities know their parents (sampled or not)
            if not isinstance(entity, Subsegment):
                return entity
            top = entity
            entity = entity._parent_entity
        start = top.span if top is not None else span
        if not start.is_recording():
            return DummySegment(self, start, global_sdk_config.DISABLED_ENTITY_NAME)
        root = local_root_span(start)
        owned = _OPEN.get(root.get_span_context().span_id)
        if owned is not None and not isinstance(owned, Subsegment):
            return owned
        if _parent_is_remote(root) and (owned is not None or (self.in_lambda and root.kind is not SpanKind.SERVER)):
            # A subsegment started under a remote parent (Lambda's segment): that parent is the segment.
            return FacadeSegment(self, NonRecordingSpan(root.parent), "facade")
        return Segment(self, root, getattr(root, "name", "") or "")

    # ------------------------------------------------------------- segments
    @_dummy_while_disabled(DummySegment)
    def begin_segment(
        self, name: Optional[str] = None, traceid: Optional[str] = None, parent_id: Optional[str] = None, sampling: Any = None
    ) -> Segment:
        """Start a segment: a new trace, or the continuation of ``traceid``/``parent_id`` from a header.

        ``sampling``: 0 not sampled, 1 (or a rule name) sampled, ``None`` the sampler decides.
        """
        if self.in_lambda:
            _logger.warning("Cannot create segments inside Lambda function. Discarded.")
            return DummySegment(self, trace.INVALID_SPAN, name or "")
        tracer = self._ensure()
        seg_name = sanitize_entity_name(name or self.service or self._resource_service or "")
        if not seg_name:
            raise SegmentNameMissingException("Segment name is required.")
        self._drop_replaced_segment()

        remote: Optional[SpanContext] = None
        if traceid and parent_id:
            try:
                flags = TraceFlags(TraceFlags.SAMPLED if sampling not in (0, "0", False) else TraceFlags.DEFAULT)
                remote = SpanContext(otel_trace_id(traceid), int(parent_id, 16), is_remote=True, trace_flags=flags)
            except ValueError:
                _logger.warning("otel_xray.compat: ignoring malformed trace header fields Root=%r Parent=%r", traceid, parent_id)
        elif traceid:
            _notice(
                "traceid-only",
                "otel_xray.compat: begin_segment(traceid=...) without parent_id starts a new trace ID "
                "(OpenTelemetry takes a trace ID only from a parent)",
            )
        if sampling in (0, "0", False):
            # Not sampled: IDs to propagate (Sampled=0 downstream), nothing recorded.
            trace_id = remote.trace_id if remote is not None else _ids.generate_trace_id()
            unsampled = NonRecordingSpan(SpanContext(trace_id, _ids.generate_span_id(), False, TraceFlags(TraceFlags.DEFAULT)))
            token = context_api.attach(trace.set_span_in_context(unsampled))
            entity: Segment = DummySegment(self, unsampled, seg_name, owned=True, token=token)
            _OPEN[unsampled.get_span_context().span_id] = entity
            return entity

        parent = trace.set_span_in_context(NonRecordingSpan(remote)) if remote is not None else context_api.Context()
        attributes = None
        if seg_name != self._resource_service:
            attributes = {"aws.local.service": seg_name}
        from .provider import AS_ROOT, FORCED_DECISION, SAMPLE

        decision = SAMPLE if (sampling or not self._sampling) else (AS_ROOT if remote is not None else None)
        forced = FORCED_DECISION.set(decision) if decision is not None else None
        try:
            span = tracer.start_span(seg_name, context=parent, kind=SpanKind.SERVER, attributes=attributes)
        finally:
            if forced is not None:
                FORCED_DECISION.reset(forced)
        token = context_api.attach(trace.set_span_in_context(span))
        entity = Segment(self, span, seg_name, owned=True, token=token)
        _OPEN[span.get_span_context().span_id] = entity
        return entity

    def _drop_replaced_segment(self) -> None:
        # aws-xray-sdk replaces the thread's open segment (which is then never sent); here it is ended.
        current = trace.get_current_span()
        entity = _OPEN.get(current.get_span_context().span_id)
        if entity is None:
            return
        segment = self._segment_of(current)
        if isinstance(segment, Segment) and segment._owned:
            _logger.debug("otel_xray.compat: begin_segment ends the segment %r still open here", segment.name)
            self._end_entity(segment, None)

    def end_segment(self, end_time: Optional[float] = None) -> None:
        """End the current segment (and any subsegment of it still open here, innermost first)."""
        if not global_sdk_config.sdk_enabled():
            return
        if self.in_lambda:
            _logger.warning("Cannot end segment inside Lambda function. Ignored.")
            return
        current = trace.get_current_span()
        if not current.get_span_context().is_valid:
            self._missing("end_segment")
            _logger.warning("No segment to end")
            return
        segment = self._segment_of(current)
        if segment is None or not segment._owned:
            _logger.warning("No segment to end")
            return
        self._end_entity(segment, end_time)

    @_dummy_while_disabled(DummySegment)
    def current_segment(self) -> Optional[Segment]:
        """The segment of the current span (a handle on it), or ``None`` with no span."""
        current = trace.get_current_span()
        if not current.get_span_context().is_valid:
            if self.in_lambda:
                parent = self._lambda_parent()
                if parent is not None:
                    return FacadeSegment(self, NonRecordingSpan(parent), "facade")
            self._missing("current_segment")
            return None
        return self._segment_of(current)  # type: ignore[return-value]

    # ---------------------------------------------------------- subsegments
    @_dummy_while_disabled(DummySubsegment)
    def begin_subsegment(self, name: str, namespace: str = "local") -> Optional[Subsegment]:
        """Start a subsegment under the current span; ``None`` (and a log line) with no segment."""
        return self._begin_subsegment(sanitize_entity_name(name), namespace)

    def _begin_subsegment(self, name: str, namespace: str) -> Optional[Subsegment]:
        tracer = self._tracer or self._ensure()
        parent_context = context_api.get_current()
        current = trace.get_current_span(parent_context).get_span_context()
        if not current.is_valid:
            lambda_parent = self._lambda_parent() if self.in_lambda else None
            if lambda_parent is None:
                if self.in_lambda:
                    _logger.warning("Subsegment %s discarded due to Lambda worker still initializing", name)
                    return DummySubsegment(self, trace.INVALID_SPAN, name)
                self._missing("begin_subsegment")
                _logger.debug("No segment found, cannot begin subsegment %s.", name)
                return None
            parent_context = trace.set_span_in_context(NonRecordingSpan(lambda_parent), parent_context)
        if namespace == "local":
            span = tracer.start_span(name, context=parent_context)
        elif namespace == "aws":
            span = tracer.start_span(name, context=parent_context, kind=SpanKind.CLIENT, attributes={"rpc.system": "aws-api"})
        else:
            span = tracer.start_span(name, context=parent_context, kind=SpanKind.CLIENT)
        token = context_api.attach(trace.set_span_in_context(span, parent_context))
        entity = Subsegment(self, span, name, True, token, namespace)
        entity._parent_entity = _OPEN.get(current.span_id)
        _OPEN[span.get_span_context().span_id] = entity
        return entity

    @_dummy_while_disabled(DummySubsegment)
    def begin_subsegment_without_sampling(self, name: str) -> Optional[Subsegment]:
        """A subsegment that records nothing, and says ``Sampled=0`` downstream."""
        current = trace.get_current_span().get_span_context()
        if not current.is_valid:
            self._missing("begin_subsegment_without_sampling")
            return None
        span = NonRecordingSpan(SpanContext(current.trace_id, _ids.generate_span_id(), False, TraceFlags(TraceFlags.DEFAULT)))
        parent_entity = _OPEN.get(current.span_id)
        token = context_api.attach(trace.set_span_in_context(span))
        entity = DummySubsegment(self, span, sanitize_entity_name(name), owned=True, token=token)
        entity._parent_entity = parent_entity
        _OPEN[span.get_span_context().span_id] = entity
        return entity

    def end_subsegment(self, end_time: Optional[float] = None) -> None:
        """End the current subsegment."""
        if not global_sdk_config.sdk_enabled():
            return
        entity = _OPEN.get(trace.get_current_span().get_span_context().span_id)
        if not isinstance(entity, Subsegment):
            _logger.warning("No subsegment to end.")
            return
        self._end_entity(entity, end_time)

    @_dummy_while_disabled(DummySubsegment)
    def current_subsegment(self) -> Optional[Subsegment]:
        """The current subsegment, or ``None`` when the segment itself is current (as in the SDK)."""
        current = trace.get_current_span()
        context = current.get_span_context()
        if not context.is_valid:
            if not self.in_lambda:
                self._missing("current_subsegment")
            return None
        entity = _OPEN.get(context.span_id)
        if entity is not None:
            return entity if isinstance(entity, Subsegment) else None
        root = local_root_span(current)
        if root is current and not (self.in_lambda and _parent_is_remote(current)):
            return None
        return Subsegment(self, current, getattr(current, "name", "") or "")

    def _end_entity(self, entity: Entity, end_time: Optional[float]) -> None:
        """End ``entity``: first the entities of this layer opened inside it here, innermost first."""
        if entity._closed:
            return
        span = entity.span
        current = trace.get_current_span()
        for _ in range(10_000):
            if current is span:
                break
            inner = _OPEN.get(current.get_span_context().span_id)
            if inner is None or inner is entity:
                break
            _logger.debug("otel_xray.compat: ending %r, still open inside %r", inner.name, entity.name)
            _close_one(inner, None, True)
            current = trace.get_current_span()
        _close_one(entity, end_time, current is span)

    # ------------------------------------------------ context managers etc.
    def in_segment(self, name: Optional[str] = None, **segment_kwargs: Any) -> "SegmentContextManager":
        """``with xray_recorder.in_segment('name') as segment:`` (also ``async with``)."""
        return SegmentContextManager(self, name=name, **segment_kwargs)

    def in_subsegment(self, name: Optional[str] = None, **subsegment_kwargs: Any) -> "SubsegmentContextManager":
        """``with xray_recorder.in_subsegment('name') as subsegment:`` (also ``async with``, and a decorator)."""
        return SubsegmentContextManager(self, name=name, **subsegment_kwargs)

    in_segment_async = in_segment
    in_subsegment_async = in_subsegment

    def capture(self, name: Any = None) -> Any:
        """Decorator: each call of the function is a ``local`` subsegment named ``name`` (default: the function's).

        Works on ``async def`` functions too (aws-xray-sdk needs ``capture_async`` there).
        """
        if callable(name):  # @xray_recorder.capture without parentheses
            return SubsegmentContextManager(self)(name)
        return SubsegmentContextManager(self, name=name)

    capture_async = capture

    def record_subsegment(
        self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any, name: str, namespace: str, meta_processor: Any
    ) -> Any:
        """Call ``wrapped`` inside a subsegment; ``meta_processor(...)`` may annotate it after the call (SDK patchers' API)."""
        with self._recorded_call(wrapped, instance, args, kwargs, name, namespace, meta_processor) as call:
            call.return_value = wrapped(*args, **kwargs)
        return call.return_value

    async def record_subsegment_async(
        self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any, name: str, namespace: str, meta_processor: Any
    ) -> Any:
        with self._recorded_call(wrapped, instance, args, kwargs, name, namespace, meta_processor) as call:
            call.return_value = await wrapped(*args, **kwargs)
        return call.return_value

    @contextlib.contextmanager
    def _recorded_call(
        self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any, name: str, namespace: str, meta_processor: Any
    ) -> Iterator[SimpleNamespace]:
        """``record_subsegment``'s subsegment around the call, which sets ``return_value`` on what this yields."""
        subsegment = self.begin_subsegment(name, namespace)
        call = SimpleNamespace(return_value=None)
        exception = None
        try:
            yield call
        except Exception as exc:
            exception = exc
            raise
        finally:
            if subsegment is not None:
                end_time = time.time()
                if callable(meta_processor):
                    meta_processor(
                        wrapped=wrapped, instance=instance, args=args, kwargs=kwargs, return_value=call.return_value,
                        exception=exception, subsegment=subsegment, stack=None,
                    )
                elif exception is not None:
                    subsegment.add_exception(exception, None)
                self._end_entity(subsegment, end_time)

    # ------------------------------------------------- entity-level helpers
    def _current_entity(self) -> Optional[Entity]:
        entity = _OPEN.get(trace.get_current_span().get_span_context().span_id)
        return entity if entity is not None else self.get_trace_entity()

    def put_annotation(self, key: str, value: Any) -> None:
        """Annotate the current entity (the current subsegment, else the segment)."""
        entity = self._current_entity()
        if entity is not None:
            entity.put_annotation(key, value)

    def put_metadata(self, key: Any, value: Any, namespace: str = "default") -> None:
        """Metadata on the current entity."""
        entity = self._current_entity()
        if entity is not None:
            entity.put_metadata(key, value, namespace)

    def is_sampled(self) -> bool:
        if not global_sdk_config.sdk_enabled():
            return False
        return bool(trace.get_current_span().get_span_context().trace_flags.sampled)

    @_dummy_while_disabled(DummySegment)
    def get_trace_entity(self) -> Optional[Entity]:
        """The current subsegment, else the current segment."""
        current = trace.get_current_span()
        if not current.get_span_context().is_valid:
            if self.in_lambda:
                return self.current_segment()
            self._missing("get_trace_entity")
            return None
        return self.current_subsegment() or self.current_segment()

    def set_trace_entity(self, trace_entity: Entity) -> None:
        """Make ``trace_entity`` current in this thread or task (the SDK's hand-off to a new thread)."""
        if trace_entity is not None:
            context_api.attach(trace.set_span_in_context(trace_entity.span))

    def clear_trace_entities(self) -> None:
        """Forget the current segment and subsegments in this thread or task."""
        context_api.attach(trace.set_span_in_context(trace.INVALID_SPAN))

    def stream_subsegments(self) -> None:
        """Nothing to do: spans are exported as they end."""


def _close_one(entity: Entity, end_time: Optional[float], innermost: bool) -> None:
    span = entity.span
    _OPEN.pop(span.get_span_context().span_id, None)
    entity._finish(end_time)
    token = entity._token
    if token is not None:
        entity._token = None
        # Detach only where it was attached and innermost; anything else would corrupt the context.
        if innermost:
            context_api.detach(token)


def _parent_is_remote(span: Any) -> bool:
    parent = getattr(span, "parent", None)
    return parent is not None and bool(parent.is_remote)


def _load_rules(rules: Any) -> Any:
    """``sampling_rules``: a dict, or the path of a JSON file (read now, so that a bad path fails at configure)."""
    if isinstance(rules, dict):
        return rules
    with open(rules, encoding="utf-8") as handle:
        return json.load(handle)


class _EntityContextManager(Generic[_E]):
    """``with`` and ``async with`` an entity: begun on enter; on exit an escaping exception is recorded on it, then it ends."""

    def __init__(self, recorder: AWSXRayRecorder, name: Optional[str] = None, **entity_kwargs: Any) -> None:
        self.recorder = recorder
        self.name = name
        self.entity_kwargs = entity_kwargs
        self.entity: Optional[_E] = None

    def _begin(self) -> Optional[_E]:
        raise NotImplementedError

    def _end(self, entity: _E) -> None:
        self.recorder._end_entity(entity, None)

    def __enter__(self) -> Optional[_E]:
        self.entity = self._begin()
        return self.entity

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        entity = self.entity
        if entity is None:
            return
        if exc_val is not None:
            entity.add_exception(exc_val, traceback.extract_tb(exc_tb, limit=self.recorder.max_trace_back))
        self._end(entity)

    async def __aenter__(self) -> Optional[_E]:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.__exit__(exc_type, exc_val, exc_tb)


class SegmentContextManager(_EntityContextManager[Segment]):
    """``in_segment``."""

    def _begin(self) -> Segment:
        return self.recorder.begin_segment(name=self.name, **self.entity_kwargs)

    def _end(self, entity: Segment) -> None:
        if entity._owned:
            self.recorder._end_entity(entity, None)
        else:
            self.recorder.end_segment()


class SubsegmentContextManager(_EntityContextManager[Subsegment]):
    """``in_subsegment`` and ``capture``: a context manager (sync and async) and a decorator."""

    def _begin(self) -> Optional[Subsegment]:
        return self.recorder.begin_subsegment(name=self.name, **self.entity_kwargs)  # type: ignore[arg-type]

    def __call__(self, wrapped: _F) -> _F:
        if getattr(wrapped, _CAPTURED, False):
            # Already captured: the inner decorator records each call, once.
            return wrapped
        recorder = self.recorder
        name = sanitize_entity_name(self.name or getattr(wrapped, "__name__", "") or "function")
        namespace = self.entity_kwargs.get("namespace", "local")

        if inspect.iscoroutinefunction(wrapped):

            @functools.wraps(wrapped)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with _CapturedCall(recorder, name, namespace):
                    return await wrapped(*args, **kwargs)

            captured: Any = async_wrapper
        else:

            @functools.wraps(wrapped)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with _CapturedCall(recorder, name, namespace):
                    return wrapped(*args, **kwargs)

            captured = wrapper
        setattr(captured, _CAPTURED, True)
        return captured  # type: ignore[no-any-return]


class _CapturedCall:
    """One call of a captured function: inside a subsegment (none while the SDK is disabled), which records
    an escaping exception."""

    __slots__ = ("recorder", "entity")

    def __init__(self, recorder: AWSXRayRecorder, name: str, namespace: str) -> None:
        self.recorder = recorder
        self.entity = recorder._begin_subsegment(name, namespace) if global_sdk_config.sdk_enabled() else None

    def __enter__(self) -> None:
        pass

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        entity = self.entity
        if entity is not None:
            if isinstance(exc_val, Exception):
                entity.add_exception(exc_val, None)
            self.recorder._end_entity(entity, None)


# aws-xray-sdk's global recorder is an AsyncAWSXRayRecorder; here one class does both.
AsyncAWSXRayRecorder = AWSXRayRecorder
