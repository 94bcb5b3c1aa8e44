"""Entry points for ``opentelemetry-instrument``.

``OTEL_PYTHON_DISTRO=otel_xray OTEL_PYTHON_CONFIGURATOR=otel_xray opentelemetry-instrument python app.py``
gives X-Ray trace IDs, the X-Ray propagator (with W3C tracecontext and
baggage) and this exporter. Each default is set only when the matching
``OTEL_*`` variable is unset, so the usual variables still override it.

In AWS Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) the propagator is
``xray-lambda`` (it reads ``_X_AMZN_TRACE_ID``), the service name defaults to
the function name, the resource describes the function, and spans are held by
an :class:`~otel_xray.aws_lambda.InvocationSpanProcessor` (no thread) until the
end of each invocation.
"""

from __future__ import annotations

from typing import Any, Dict

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from ._sdk import configurator_base, initialize_takes_export_span_processor
from .aws_lambda import InvocationSpanProcessor, explain_unsampled, lambda_resource_attributes
from .config import in_lambda, propagator_names, set_default
from .resources import aws_resource_attributes

__all__ = ["DEFAULTS", "OFF_LAMBDA_DEFAULTS", "XRayDistro", "XRayConfigurator", "apply_defaults"]

DEFAULTS: Dict[str, str] = {
    "OTEL_TRACES_EXPORTER": "xray",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    # Later propagators win: an X-Amzn-Trace-Id header (API Gateway, ALB, App Runner add
    # one) beats a traceparent, as aws-xray-sdk would join the X-Ray trace.
    "OTEL_PROPAGATORS": "tracecontext,otel_xray,baggage",
    "OTEL_PYTHON_ID_GENERATOR": "otel_xray",
    # Headers that aws-xray-sdk's middlewares read: the client's address behind a proxy
    # (client_ip, x_forwarded_for) and the response size (content_length).
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": "X-Forwarded-For",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE": "Content-Length",
}


# In AWS Lambda the parent context comes from the _X_AMZN_TRACE_ID variable.
LAMBDA_PROPAGATORS = "xray-lambda,tracecontext,baggage"

# Outside Lambda, X-Ray sampling rules decide (polled through the daemon; see
# otel_xray.sampling). In Lambda the function's own decision in _X_AMZN_TRACE_ID does.
OFF_LAMBDA_DEFAULTS: Dict[str, str] = {"OTEL_TRACES_SAMPLER": "xray"}


def apply_defaults() -> None:
    lambda_function = in_lambda()
    for name, value in DEFAULTS.items():
        if name == "OTEL_PROPAGATORS" and lambda_function:
            value = LAMBDA_PROPAGATORS
        set_default(name, value)
    if not lambda_function:
        for name, value in OFF_LAMBDA_DEFAULTS.items():
            set_default(name, value)


def _install_propagators() -> None:
    """Install the propagators named by ``OTEL_PROPAGATORS``.

    ``opentelemetry.propagate`` reads the variable once, when first imported,
    which may happen before a distro runs; installing them again here makes
    the default above take effect either way.
    """
    from opentelemetry.propagate import set_global_textmap
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.util._importlib_metadata import entry_points

    propagators = []
    for name in propagator_names():
        found = list(entry_points(group="opentelemetry_propagator", name=name))
        if not found:
            raise ValueError(f"OTEL_PROPAGATORS names {name!r}, which no installed package provides")
        propagators.append(found[0].load()())
    set_global_textmap(CompositePropagator(propagators))


class XRayDistro(BaseDistro):  # type: ignore[misc]  # opentelemetry-instrumentation is untyped
    """Sets X-Ray defaults for ``opentelemetry-instrument``."""

    def _configure(self, **kwargs: Any) -> None:
        apply_defaults()


class XRayConfigurator(configurator_base()):  # type: ignore[misc]
    """The SDK's configurator with X-Ray defaults (also when used without the distro)."""

    def _configure(self, **kwargs: Any) -> None:
        apply_defaults()
        # What the AWS platform's detectors find, under everything else (unless the user chose detectors).
        kwargs["resource_attributes"] = {**aws_resource_attributes(), **(kwargs.get("resource_attributes") or {})}
        if in_lambda():
            # Lambda facts as resource attributes (they feed origin and metadata), and a
            # span processor without a background thread, flushed at each invocation's end.
            kwargs["resource_attributes"] = {**lambda_resource_attributes(), **(kwargs.get("resource_attributes") or {})}
            if initialize_takes_export_span_processor():
                kwargs.setdefault("export_span_processor", InvocationSpanProcessor)
            explain_unsampled()
        super()._configure(**kwargs)
        _install_propagators()
        # otel_xray.annotate() finds the segment of the current span through this processor.
        from opentelemetry import trace

        from .annotate import install_local_root_tracking

        install_local_root_tracking(trace.get_tracer_provider())
