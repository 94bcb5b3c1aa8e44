"""``global_sdk_config``: turning tracing off, as aws-xray-sdk's ``SDKConfig`` does.

``AWS_XRAY_SDK_ENABLED`` (read once, through :mod:`otel_xray.config`) wins
over :meth:`SDKConfig.set_sdk_enabled`. When disabled, the recorder hands out
entities that record nothing, ``patch``/``patch_all`` instrument nothing, and
no tracer provider is set up.

Internal: the public names are those of ``otel_xray.compat``, which imports
them from here.
"""

from __future__ import annotations

import logging
from typing import Optional

from ..config import xray_sdk_enabled

_logger = logging.getLogger(__name__)


class SDKConfig:
    XRAY_ENABLED_KEY = "AWS_XRAY_SDK_ENABLED"
    DISABLED_ENTITY_NAME = "dummy"

    _enabled: Optional[bool] = None

    @classmethod
    def sdk_enabled(cls) -> bool:
        """Whether tracing is enabled (the variable is read on the first call and cached)."""
        if cls._enabled is None:
            setting = xray_sdk_enabled()
            if setting.problem:
                _logger.warning("otel_xray.compat: %s", setting.problem)
            cls._enabled = bool(setting.value)
        return cls._enabled

    @classmethod
    def set_sdk_enabled(cls, value: bool) -> None:
        """Enable or disable tracing; ``AWS_XRAY_SDK_ENABLED``, when set, wins."""
        setting = xray_sdk_enabled(code=value)
        if setting.problem:
            _logger.warning("otel_xray.compat: %s", setting.problem)
        cls._enabled = bool(setting.value)


global_sdk_config = SDKConfig
