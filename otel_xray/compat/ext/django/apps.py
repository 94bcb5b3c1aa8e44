"""Django app: configure the recorder from ``XRAY_RECORDER`` and put OpenTelemetry's Django middleware in place.

Internal: the public name is the app, ``otel_xray.compat.ext.django`` in
``INSTALLED_APPS``.
"""

from __future__ import annotations

import logging
from typing import Any, List

from django.apps import AppConfig  # type: ignore[import-untyped,unused-ignore]

from ...exceptions import SegmentNameMissingException

_logger = logging.getLogger("otel_xray.compat")
MIDDLEWARE_PATH = "otel_xray.compat.ext.django.middleware.XRayMiddleware"
# DATABASES engines -> the SDK patch names whose instrumentation traces their queries.
_ENGINE_PATCHES = {
    "django.db.backends.sqlite3": ("sqlite3",),
    "django.db.backends.postgresql": ("psycopg", "psycopg2"),
    "django.db.backends.mysql": ("pymysql",),
}
# The recorder's configure() arguments -> the XRAY_RECORDER settings that give them.
_CONFIGURE_FROM = {
    "daemon_address": "AWS_XRAY_DAEMON_ADDRESS",
    "sampling": "SAMPLING",
    "sampling_rules": "SAMPLING_RULES",
    "sampler": "SAMPLER",
    "context_missing": "AWS_XRAY_CONTEXT_MISSING",
    "plugins": "PLUGINS",
    "service": "AWS_XRAY_TRACING_NAME",
    "dynamic_naming": "DYNAMIC_NAMING",
    "streaming_threshold": "STREAMING_THRESHOLD",
    "max_trace_back": "MAX_TRACE_BACK",
    "stream_sql": "STREAM_SQL",
}
_instrumented = False


def instrumented() -> bool:
    return _instrumented


class XRayConfig(AppConfig):  # type: ignore[misc,unused-ignore]
    name = "otel_xray.compat.ext.django"

    def ready(self) -> None:
        global _instrumented
        from django.conf import settings as django_settings  # type: ignore[import-untyped,unused-ignore]

        from ... import patch, xray_recorder
        from ..util import naming_hook
        from .conf import XRaySettings

        settings = XRaySettings()
        if not settings.AWS_XRAY_TRACING_NAME:
            raise SegmentNameMissingException("Segment name is required.")
        xray_recorder.configure(**{argument: getattr(settings, name) for argument, name in _CONFIGURE_FROM.items()})
        if settings.PATCH_MODULES:
            patch(settings.PATCH_MODULES, ignore_module_patterns=settings.IGNORE_MODULE_PATTERNS)
        if settings.AUTO_INSTRUMENT:
            drivers: List[str] = []
            for database in getattr(django_settings, "DATABASES", {}).values():
                drivers.extend(_ENGINE_PATCHES.get(database.get("ENGINE", ""), ()))
            if drivers:
                patch(sorted(set(drivers)), raise_errors=False)
        try:
            from opentelemetry.instrumentation.django import DjangoInstrumentor
        except ImportError:
            _logger.warning(
                "otel_xray.compat: Django requests are not traced: the OpenTelemetry Django instrumentation is not "
                "installed; fix: pip install opentelemetry-instrumentation-django"
            )
            return
        middleware = list(getattr(django_settings, "MIDDLEWARE", None) or [])
        position = middleware.index(MIDDLEWARE_PATH) if MIDDLEWARE_PATH in middleware else 0
        naming = naming_hook(xray_recorder, lambda request: request.META.get("HTTP_HOST"))
        urls = settings.URLS_AS_ANNOTATION == "ALL" or (settings.URLS_AS_ANNOTATION == "LAMBDA" and xray_recorder.in_lambda)

        def request_hook(span: Any, request: Any) -> None:
            if naming is not None:
                naming(span, request)
            if urls:
                segment = _segment(span)
                meta = request.META
                segment.put_annotation("url", request.build_absolute_uri())
                segment.put_annotation("method", request.method)
                if meta.get("HTTP_USER_AGENT"):
                    segment.put_annotation("user_agent", meta["HTTP_USER_AGENT"])
                if meta.get("HTTP_X_FORWARDED_FOR"):
                    segment.put_annotation("client_ip", meta["HTTP_X_FORWARDED_FOR"])
                    segment.put_annotation("x_forwarded_for", True)
                elif meta.get("REMOTE_ADDR"):
                    segment.put_annotation("client_ip", meta["REMOTE_ADDR"])

        def response_hook(span: Any, request: Any, response: Any) -> None:
            if urls:
                segment = _segment(span)
                segment.put_annotation("status", response.status_code)
                if response.has_header("content-length"):
                    segment.put_annotation("content_length", int(response["content-length"]))

        instrumentor = DjangoInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(
                tracer_provider=xray_recorder.tracer_provider,
                middleware_position=position,
                request_hook=request_hook if (naming or urls) else None,
                response_hook=response_hook if urls else None,
            )
        _instrumented = True


def _segment(span: Any) -> Any:
    from ... import xray_recorder
    from ...entities import Segment

    return Segment(xray_recorder, span, getattr(span, "name", "") or "")
