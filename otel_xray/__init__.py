"""Send OpenTelemetry traces to AWS X-Ray over UDP, with no collector.

Public API::

    from otel_xray import XRaySpanExporter, XRayIdGenerator
"""

from .annotate import annotate
from .exporter import ExporterStats, XRaySpanExporter
from .ids import XRayIdGenerator
from .processor import XRayBatchSpanProcessor
from .version import __version__

__all__ = ["XRaySpanExporter", "XRayBatchSpanProcessor", "XRayIdGenerator", "ExporterStats", "__version__"]
__all__ += ["annotate"]
