"""The ``XRAY_RECORDER`` Django setting, read as aws-xray-sdk reads it: environment > settings > defaults.

Internal to the Django app.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .... import config

DEFAULTS: Dict[str, Any] = {
    "AWS_XRAY_DAEMON_ADDRESS": None,
    "AUTO_INSTRUMENT": True,
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "PLUGINS": (),
    "SAMPLING": True,
    "SAMPLING_RULES": None,
    "SAMPLER": None,
    "AWS_XRAY_TRACING_NAME": None,
    "DYNAMIC_NAMING": None,
    "STREAMING_THRESHOLD": None,
    "MAX_TRACE_BACK": None,
    "STREAM_SQL": True,
    "PATCH_MODULES": [],
    "AUTO_PATCH_PARENT_SEGMENT_NAME": None,
    "IGNORE_MODULE_PATTERNS": [],
    "URLS_AS_ANNOTATION": "LAMBDA",
}
XRAY_NAMESPACE = "XRAY_RECORDER"


class XRaySettings:
    def __init__(self, user_settings: Optional[Dict[str, Any]] = None) -> None:
        if user_settings is None:
            from django.conf import settings as django_settings  # type: ignore[import-untyped,unused-ignore]

            user_settings = getattr(django_settings, XRAY_NAMESPACE, {}) or {}
        self.user_settings = user_settings

    def __getattr__(self, attr: str) -> Any:
        if attr not in DEFAULTS:
            raise AttributeError(f"Invalid setting: {attr}")
        given = self.user_settings.get(attr)
        if attr == "AWS_XRAY_TRACING_NAME":
            return config.xray_sdk_tracing_name(given).value
        if attr == "AWS_XRAY_CONTEXT_MISSING":
            return config.xray_sdk_context_missing(given).value
        if attr == "AWS_XRAY_DAEMON_ADDRESS":
            found = config.xray_sdk_daemon_address(given).value
            return str(found) if found is not None else None
        return given if given is not None else DEFAULTS[attr]
