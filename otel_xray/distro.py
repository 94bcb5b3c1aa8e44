"""Entry points for ``opentelemetry-instrument``.

``OTEL_PYTHON_DISTRO=otel_xray OTEL_PYTHON_CONFIGURATOR=otel_xray opentelemetry-instrument python app.py``
gives X-Ray trace IDs, the X-Ray propagator (with W3C tracecontext and
baggage) and this exporter. Each default is set only when the matching
``OTEL_*`` variable is unset, so the usual variables still override it.
"""

from __future__ import annotations

import os
from typing import Dict

from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

__all__ = ["DEFAULTS", "XRayDistro", "XRayConfigurator", "apply_defaults"]

DEFAULTS: Dict[str, str] = {
    "OTEL_TRACES_EXPORTER": "xray",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_PROPAGATORS": "xray,tracecontext,baggage",
    "OTEL_PYTHON_ID_GENERATOR": "otel_xray",
}


def apply_defaults() -> None:
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)


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
    for name in os.environ.get("OTEL_PROPAGATORS", "").split(","):
        name = name.strip()
        if not name or name.lower() == "none":
            continue
        found = list(entry_points(group="opentelemetry_propagator", name=name))
        if not found:
            raise ValueError(f"OTEL_PROPAGATORS names {name!r}, which no installed package provides")
        propagators.append(found[0].load()())
    set_global_textmap(CompositePropagator(propagators))


class XRayDistro(BaseDistro):
    """Sets X-Ray defaults for ``opentelemetry-instrument``."""

    def _configure(self, **kwargs):
        apply_defaults()


class XRayConfigurator(_OTelSDKConfigurator):
    """The SDK's configurator with X-Ray defaults (also when used without the distro)."""

    def _configure(self, **kwargs):
        apply_defaults()
        super()._configure(**kwargs)
        _install_propagators()
