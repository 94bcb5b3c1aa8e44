"""What translation leaves out or repairs, counted for the exporter's stats (docs/mapping.md, "What is dropped").

``Translator.translate(span, dropped)`` adds to ``dropped`` (any mutable
mapping of names to counts, such as a ``defaultdict(int)``) under the names
below. A span that cannot become a valid document at all is counted and
:class:`SpanDropped` is raised; every other count is about part of a span
whose document is still made.
"""

from __future__ import annotations

from typing import MutableMapping, Optional

__all__ = [
    "SpanDropped",
    "count",
    "LINKS_DROPPED",
    "LINKS_INVALID",
    "TIMES_REPAIRED",
    "SPANS_INVALID_TIME",
    "SPANS_INVALID_ID",
    "COUNTER_NAMES",
]

LINKS_DROPPED = "links_dropped"  # valid links beyond X-Ray's 20 per document
LINKS_INVALID = "links_invalid"  # links whose trace or span ID is zero or out of range
TIMES_REPAIRED = "span_times_repaired"  # a start or end time replaced by a usable one (see times.py)
SPANS_INVALID_TIME = "spans_invalid_time"  # spans dropped: neither start nor end time usable
SPANS_INVALID_ID = "spans_invalid_id"  # spans dropped: trace or span ID zero or out of range
COUNTER_NAMES = (LINKS_DROPPED, LINKS_INVALID, TIMES_REPAIRED, SPANS_INVALID_TIME, SPANS_INVALID_ID)


class SpanDropped(ValueError):
    """A span that cannot become a valid document; already counted under ``reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def count(dropped: Optional[MutableMapping[str, int]], name: str, amount: int = 1) -> None:
    if dropped is not None and amount:
        dropped[name] = dropped.get(name, 0) + amount
