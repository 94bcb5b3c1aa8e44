"""``XRayBatchSpanProcessor``: the SDK's BatchSpanProcessor, with its queue drops counted.

When spans end faster than they can be exported, the SDK's processor drops
them from a bounded queue and says so only in a log line per span. This
subclass drops the span that just ended when the queue is full and counts it
in the exporter's counters (``ExporterStats.spans_dropped_by_queue``), so
every span lost between ``span.end()`` and the daemon is visible in one place,
and the exporter's own rate-limited warning reports it.

Public as ``otel_xray.XRayBatchSpanProcessor``; the module itself is internal.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from opentelemetry.sdk.trace.export import BatchSpanProcessor

from ._sdk import batch_emit, batch_queue
from .annotate import root_ended, root_started, tracking_installed
from .exporter import XRaySpanExporter

_logger = logging.getLogger(__name__)


class XRayBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` for an :class:`XRaySpanExporter` (created from the environment if not given).

    Keyword arguments are the SDK's (``max_queue_size``, ``schedule_delay_millis``,
    ``max_export_batch_size``, ``export_timeout_millis``). It also notes which span
    starts each segment, so that :func:`otel_xray.annotate` finds it.
    """

    tracks_local_roots = True  # install_local_root_tracking adds no second tracker beside it

    def __init__(self, exporter: Optional[XRaySpanExporter] = None, **kwargs: Any) -> None:
        self.exporter = exporter if exporter is not None else XRaySpanExporter()
        super().__init__(self.exporter, **kwargs)
        self._queue, self._queue_limit = batch_queue(self)
        if self._queue is None:
            _logger.warning(
                "otel-xray: this OpenTelemetry SDK's BatchSpanProcessor keeps its queue where otel-xray "
                "cannot see it; spans it drops are not counted in the exporter's stats"
            )
        # The SDK's own enqueueing step, called straight from on_end (one call less per span), where there is one.
        self._emit = batch_emit(self)
        tracking_installed()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        root_started(span)  # the SDK's own on_start does nothing

    def on_end(self, span: Any) -> None:
        context = span.context
        if context is None:
            return
        root_ended(span)
        if not context.trace_flags.sampled:
            return  # as the SDK's processor: only sampled spans are exported
        queue = self._queue
        if queue is not None and len(queue) >= self._queue_limit:  # type: ignore[operator]
            # Drop this span and count it. The SDK would drop the oldest
            # queued span instead, with a WARNING per span, which under
            # overload adds logging work exactly when there is no time for it.
            self.exporter.note_queue_drop()
            return
        emit = self._emit
        if emit is not None:
            emit(span)
        else:
            super().on_end(span)
