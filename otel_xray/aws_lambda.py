"""AWS Lambda: the function's spans under the segment Lambda records, flushed every invocation.

In Lambda the X-Ray daemon already runs beside the function; Lambda records
the function's segment itself and passes its ID in ``_X_AMZN_TRACE_ID``
(``Root=...;Parent=...;Sampled=...``), renewed for every invocation. The
function's own spans therefore all become subsegments of that segment (see
``TranslationOptions.lambda_mode``), and must be sent before the handler
returns, since the runtime may freeze the process right after.

    from otel_xray.aws_lambda import configure, lambda_handler
    configure()

    @lambda_handler
    def handler(event, context):
        ...
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, TypeVar

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind

from . import _fork
from .annotate import root_ended, root_started, tracking_installed
from .config import (
    AWS_LAMBDA_FUNCTION_NAME,
    LAMBDA_TRACE_HEADER,
    lambda_environment,
    lambda_function_name,
    lambda_trace_header,
    service_name_configured,
)
from .ids import parse_trace_header

# The public names are InvocationSpanProcessor, lambda_handler and configure (as
# ``otel_xray.configure_lambda``); the rest serves the distro and the tests.
__all__ = ["InvocationSpanProcessor", "lambda_handler", "configure"]

# The variables' names, where they have always been importable from.
LAMBDA_FUNCTION_NAME = AWS_LAMBDA_FUNCTION_NAME
TRACE_HEADER = LAMBDA_TRACE_HEADER

_logger = logging.getLogger(__name__)
_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def lambda_resource_attributes(environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Resource attributes that Lambda's runtime environment variables tell (semantic conventions)."""
    lam = lambda_environment(environ)
    attributes: Dict[str, Any] = {"cloud.provider": "aws", "cloud.platform": "aws_lambda"}
    # The function's name is its service name, unless one is configured (these
    # attributes take precedence over OTEL_* ones in Resource.create).
    if lam.function_name and not service_name_configured(environ):
        attributes["service.name"] = lam.function_name
    for key, value in (
        ("cloud.region", lam.region),
        ("faas.name", lam.function_name),
        ("faas.version", lam.function_version),
        ("faas.instance", lam.log_stream_name),
    ):
        if value:
            attributes[key] = value
    if lam.memory_mb is not None:
        attributes["faas.max_memory"] = lam.memory_mb * 1024 * 1024
    if lam.log_group_name:
        attributes["aws.log.group.names"] = (lam.log_group_name,)
    return attributes


# A flag, not an Event: nothing here may hold a lock across fork().
_sampled_notice = False


def explain_unsampled(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Log once, at WARNING, why nothing will be exported when Lambda says ``Sampled=0``."""
    global _sampled_notice
    header = parse_trace_header(lambda_trace_header(environ))
    if header.get("Sampled") != "0" or _sampled_notice:
        return False
    _sampled_notice = True
    _logger.warning(
        "otel-xray: %s says Sampled=0, so this function's spans are not recorded or exported: either "
        "active tracing is off for the function (enable it in the function's configuration) or the "
        "caller did not sample this request",
        TRACE_HEADER,
    )
    return True


class InvocationSpanProcessor(SpanProcessor):
    """Holds the spans of an invocation and exports them when flushed: no background thread.

    In Lambda a batch processor's worker thread is frozen between invocations
    with whatever it holds; this processor holds nothing after ``force_flush``,
    which :func:`lambda_handler` (and opentelemetry-instrumentation-aws-lambda)
    call at the end of every invocation. ``max_batch`` spans are exported at
    once when reached, which bounds memory in a long invocation.
    """

    tracks_local_roots = True  # it notes each segment's first span itself (see otel_xray.annotate)

    def __init__(self, exporter: Any, max_batch: int = 512) -> None:
        self.exporter = exporter
        self._max_batch = max_batch
        self._spans: List[ReadableSpan] = []
        self._lock = threading.Lock()
        self._shutdown = False
        _fork.reset_after_fork(self)
        tracking_installed()

    def _after_fork_in_child(self) -> None:
        # The parent's spans are the parent's to export; the child starts empty, with its own lock.
        self._lock = threading.Lock()
        self._spans = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        root_started(span)  # so that otel_xray.annotate() finds the span that starts a segment

    def on_end(self, span: ReadableSpan) -> None:
        root_ended(span)
        if self._shutdown or not span.context.trace_flags.sampled:
            return
        with self._lock:
            self._spans.append(span)
            full = len(self._spans) >= self._max_batch
        if full:
            self.force_flush()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            spans, self._spans = self._spans, []
        if spans:
            self.exporter.export(spans)
        return True

    def shutdown(self) -> None:
        self.force_flush()
        self._shutdown = True
        self.exporter.shutdown()


def configure(**exporter_options: Any) -> Any:
    """Set up tracing for a Lambda function and install it as the global tracer provider.

    X-Ray trace IDs, the Lambda resource, an :class:`InvocationSpanProcessor`
    and an ``XRaySpanExporter(**exporter_options)`` sending to the daemon
    Lambda runs (``AWS_XRAY_DAEMON_ADDRESS``). Returns the provider.
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from .exporter import XRaySpanExporter
    from .ids import XRayIdGenerator

    provider = TracerProvider(resource=Resource.create(lambda_resource_attributes()), id_generator=XRayIdGenerator())
    provider.add_span_processor(InvocationSpanProcessor(XRaySpanExporter(**exporter_options)))
    trace.set_tracer_provider(provider)
    return provider


_cold_start = True


def lambda_handler(
    handler: Optional[_Handler] = None, *, tracer_provider: Optional[Any] = None
) -> Any:
    """Decorate a Lambda handler: one SERVER span per invocation, flushed before returning.

    The span's parent is the segment Lambda recorded (from ``_X_AMZN_TRACE_ID``),
    so the function appears once in the service map, with its calls under it.
    Works with or without arguments: ``@lambda_handler`` or
    ``@lambda_handler(tracer_provider=provider)``.
    """

    def decorate(function: _Handler) -> _Handler:
        from opentelemetry.propagators.aws import AwsXRayLambdaPropagator

        propagator = AwsXRayLambdaPropagator()

        @functools.wraps(function)
        def wrapper(event: Any, context: Any) -> Any:
            global _cold_start
            provider = tracer_provider or trace.get_tracer_provider()
            explain_unsampled()
            parent = propagator.extract({})  # reads this invocation's _X_AMZN_TRACE_ID
            attributes: Dict[str, Any] = {"faas.coldstart": _cold_start}
            _cold_start = False
            request_id = getattr(context, "aws_request_id", None)
            if request_id:
                attributes["faas.invocation_id"] = request_id
            arn = getattr(context, "invoked_function_arn", None)
            if arn:
                attributes["cloud.resource_id"] = arn
            name = lambda_function_name() or getattr(context, "function_name", None) or function.__name__
            tracer = provider.get_tracer("otel_xray.aws_lambda")
            try:
                # The SDK records an escaping exception and sets ERROR status itself.
                with tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes):
                    return function(event, context)
            finally:
                flush = getattr(provider, "force_flush", None)
                if flush is not None:
                    flush()

        return wrapper  # type: ignore[return-value]

    return decorate(handler) if handler is not None else decorate
