"""Send OpenTelemetry traces to AWS X-Ray, with no collector.

The public API is exactly the names below (``__all__``); every other module and
name in the package is internal and may change without notice::

    from otel_xray import XRaySpanExporter, XRayIdGenerator

- :class:`XRaySpanExporter`: a span exporter that sends X-Ray segment documents
  to the X-Ray daemon; :meth:`XRaySpanExporter.stats` returns an
  :class:`ExporterStats` snapshot of what was sent and what was lost.
- :class:`XRayIdGenerator`: trace IDs that start with the epoch second, as X-Ray requires.
- :class:`XRayBatchSpanProcessor`: the SDK's batch processor, counting its queue drops in the stats.
- :func:`annotate`: an indexed annotation on the current segment, from any depth of a request.
- AWS Lambda: :func:`configure_lambda` (set-up in one call), :func:`lambda_handler`
  (one span per invocation, flushed before the handler returns) and
  :class:`InvocationSpanProcessor` (holds an invocation's spans, no thread).
- :class:`XRayRemoteSampler`: X-Ray sampling rules, polled through the daemon,
  decide which traces are sampled (loaded on first use, so that ``import
  otel_xray`` does not load the sampling package).
- ``__version__``.

Three modules are public as a whole, each with its own ``__all__``:

- ``otel_xray.compat``: aws-xray-sdk's API on OpenTelemetry
  (``from otel_xray.compat import xray_recorder, patch_all``), with
  ``otel_xray.compat.ext.flask.middleware`` and ``otel_xray.compat.ext.django``
  in place of ``aws_xray_sdk.ext.*``;
- ``otel_xray.sampling``: the sampler, its rules and the rule explainer;
- ``otel_xray.aws_lambda``: the Lambda names above, under their own names.

Set-up through ``opentelemetry-instrument`` uses the entry points declared in
``pyproject.toml`` (exporter ``xray``, distro and configurator ``otel_xray``,
ID generator ``otel_xray``) and needs no import.
"""

from typing import TYPE_CHECKING, Any, List

from .annotate import annotate
from .aws_lambda import InvocationSpanProcessor, lambda_handler
from .aws_lambda import configure as configure_lambda
from .exporter import ExporterStats, XRaySpanExporter
from .ids import XRayIdGenerator
from .processor import XRayBatchSpanProcessor
from .version import __version__

__all__ = [
    "XRaySpanExporter",
    "ExporterStats",
    "XRayIdGenerator",
    "XRayBatchSpanProcessor",
    "annotate",
    "configure_lambda",
    "lambda_handler",
    "InvocationSpanProcessor",
    "XRayRemoteSampler",
    "__version__",
]

if TYPE_CHECKING:  # pragma: no cover
    from .sampling import XRayRemoteSampler


def __getattr__(name: str) -> Any:
    # Public names loaded on first use (PEP 562): the sampling package costs import time most processes never need.
    if name == "XRayRemoteSampler":
        from .sampling import XRayRemoteSampler

        return XRayRemoteSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
