"""``XRayMiddleware(app, xray_recorder)`` for Flask: OpenTelemetry's Flask instrumentation on that app.

Each request becomes a SERVER span, and so a segment named after the
recorder's service (or, with ``dynamic_naming``, the matching Host); the
incoming ``X-Amzn-Trace-Id`` is continued by the X-Ray propagator.
"""

from __future__ import annotations

import logging
from typing import Any

from ..util import naming_hook

__all__ = ["XRayMiddleware"]

_logger = logging.getLogger("otel_xray.compat")


class XRayMiddleware:
    def __init__(self, app: Any, recorder: Any) -> None:
        self.app = app
        self._recorder = recorder
        try:
            from opentelemetry.instrumentation.flask import FlaskInstrumentor
        except ImportError:
            _logger.warning(
                "otel_xray.compat: Flask requests are not traced: the OpenTelemetry Flask instrumentation is not "
                "installed; fix: pip install opentelemetry-instrumentation-flask"
            )
            return
        hook = naming_hook(recorder, lambda environ: environ.get("HTTP_HOST"))
        FlaskInstrumentor.instrument_app(  # type: ignore[no-untyped-call]  # the instrumentation is untyped
            app, tracer_provider=recorder.tracer_provider, request_hook=hook
        )
