"""``otel_xray.compat.ext.django.middleware.XRayMiddleware``: marks where OpenTelemetry's Django middleware goes.

The app (``otel_xray.compat.ext.django`` in ``INSTALLED_APPS``) puts
OpenTelemetry's middleware at this entry's place when Django starts; this
class itself passes requests through.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

_logger = logging.getLogger("otel_xray.compat")
_warned = False


class XRayMiddleware:
    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        global _warned
        self.get_response = get_response
        from .apps import instrumented

        if not instrumented() and not _warned:
            _warned = True
            _logger.warning(
                "otel_xray.compat: XRayMiddleware is listed but requests are not traced: add "
                "'otel_xray.compat.ext.django' to INSTALLED_APPS"
            )

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)
