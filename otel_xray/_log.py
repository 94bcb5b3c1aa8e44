"""Warnings that reach a reader even when OpenTelemetry's own log handler is the only one.

With no handler configured, Python prints a WARNING to stderr (``logging.lastResort``).
``opentelemetry-instrument`` can put an OpenTelemetry ``LoggingHandler`` on the
root logger (``opentelemetry-instrumentation-logging``, which
``opentelemetry-bootstrap`` installs, or
``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true``): then the record
counts as handled and ``lastResort`` stays silent, and when the logs exporter is
``none`` (the distro's default) the warning goes nowhere. The warnings that say
spans are being lost must not vanish that way.

Internal (see ``otel_xray.__all__`` for the public API).
"""

from __future__ import annotations

import logging
from typing import Any


def _is_opentelemetry_handler(handler: logging.Handler) -> bool:
    return type(handler).__module__.startswith("opentelemetry.")


def _reaches_a_reader(logger: logging.Logger, level: int) -> bool:
    """Whether Python's own handling already shows a record of ``level`` to someone.

    True when a handler that is not OpenTelemetry's takes it, or when no
    handler is found at all (Python then uses ``logging.lastResort`` itself).
    """
    found = False
    current: Any = logger
    while current is not None:
        for handler in current.handlers:
            found = True
            if level >= handler.level and not _is_opentelemetry_handler(handler):
                return True
        if not current.propagate:
            break
        current = current.parent
    return not found


def log_visibly(logger: logging.Logger, level: int, msg: str, *args: Any) -> None:
    """``logger.log(level, msg, *args)``, also written to stderr when only OpenTelemetry's handler would see it."""
    if not logger.isEnabledFor(level):
        return
    logger.log(level, msg, *args)
    last_resort = logging.lastResort
    if last_resort is not None and level >= last_resort.level and not _reaches_a_reader(logger, level):
        last_resort.handle(logger.makeRecord(logger.name, level, "(otel_xray)", 0, msg, args, None))
