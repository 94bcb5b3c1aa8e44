"""``XRayBatchSpanProcessor``: the SDK's BatchSpanProcessor, with its queue drops counted.

When spans end faster than they can be exported, the SDK's processor drops
them from a bounded queue and says so only in a log line per span. This
subclass drops the span that just ended when the queue is full and counts it
in the exporter's counters (``ExporterStats.spans_dropped_by_queue``), so
every span lost between ``span.end()`` and the daemon is visible in one place,
and the exporter's own rate-limited warning reports it.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from opentelemetry.sdk.trace.export import BatchSpanProcessor

from .exporter import XRaySpanExporter

__all__ = ["XRayBatchSpanProcessor"]


class XRayBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` for an :class:`XRaySpanExporter` (created from the environment if not given).

    Keyword arguments are the SDK's (``max_queue_size``, ``schedule_delay_millis``,
    ``max_export_batch_size``, ``export_timeout_millis``).
    """

    def __init__(self, exporter: Optional[XRaySpanExporter] = None, **kwargs: Any) -> None:
        self.exporter = exporter if exporter is not None else XRaySpanExporter()
        super().__init__(self.exporter, **kwargs)
        # The queue lives on an inner object in newer SDKs and on the processor in older ones.
        inner = getattr(self, "_batch_processor", self)
        self._queue = _first_present(inner, ("_queue", "queue"))
        self._queue_limit = _first_present(inner, ("_max_queue_size", "max_queue_size"))

    def on_end(self, span: Any) -> None:
        queue = self._queue
        if queue is not None and self._queue_limit is not None and len(queue) >= self._queue_limit:
            context = span.context
            if context is not None and context.trace_flags.sampled:
                # Drop this span and count it. The SDK would drop the oldest
                # queued span instead, with a WARNING per span, which under
                # overload adds logging work exactly when there is no time for it.
                self.exporter.note_queue_drop()
                return
        super().on_end(span)


def _first_present(obj: Any, names: Tuple[str, ...]) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None
