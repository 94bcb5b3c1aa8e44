"""``start_time``, ``end_time`` and ``in_progress`` (docs/mapping.md, "Times").

X-Ray wants positive epoch seconds, with ``end_time`` not before
``start_time``. A span whose start time is missing, zero, negative, not a
number or out of range (a hand-built span, or a decoded OTLP span with
``start_time_unix_nano`` 0) gets its end time as start time; an unusable end
time becomes the start time; an end before the start is moved to the start.
Each such repair is counted as ``span_times_repaired``. A span with neither
time usable cannot be placed on a timeline: it is counted as
``spans_invalid_time`` and :class:`SpanDropped` is raised.
"""

from __future__ import annotations

import math
from typing import Any, MutableMapping, Optional, Tuple

from .dropped import SPANS_INVALID_TIME, TIMES_REPAIRED, SpanDropped, count

__all__ = ["document_times", "epoch_seconds", "MAX_EPOCH_NANOS"]

# The largest time OTLP carries (fixed64 nanoseconds, the year 2554).
MAX_EPOCH_NANOS = 2**64 - 1


def epoch_seconds(nanoseconds: Any) -> Optional[float]:
    """Epoch seconds with microsecond precision, as X-Ray recommends; ``None`` for a time X-Ray would reject."""
    kind = type(nanoseconds)
    if kind is int:
        whole: int = nanoseconds
    elif kind is float and math.isfinite(nanoseconds):
        whole = int(nanoseconds)
    else:
        return None  # bool, None, NaN, infinities, other types
    if not 1000 <= whole <= MAX_EPOCH_NANOS:
        return None
    return (whole // 1000) / 1e6


def document_times(
    start_nanos: Any, end_nanos: Any, in_progress: bool, dropped: Optional[MutableMapping[str, int]]
) -> Tuple[float, Optional[float]]:
    """``(start_time, end_time)``; ``end_time`` is ``None`` for a span in progress (or without an end)."""
    start = epoch_seconds(start_nanos)
    end = epoch_seconds(end_nanos) if end_nanos is not None else None
    if start is None:
        if end is None:
            count(dropped, SPANS_INVALID_TIME)
            raise SpanDropped(SPANS_INVALID_TIME, f"start {start_nanos!r}, end {end_nanos!r}")
        start = end
        count(dropped, TIMES_REPAIRED)
    elif end_nanos is not None and (end is None or end < start):
        end = start
        count(dropped, TIMES_REPAIRED)
    if in_progress or end_nanos is None:
        return start, None
    return start, end
