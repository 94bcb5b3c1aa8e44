"""The service graph over a time window, in the shape of X-Ray's ``GetServiceGraph``.

Nodes are the store's (name, type) pairs: a segment's name and origin, the
``client`` that calls entry points, and nodes inferred from ``remote`` and
``aws`` subsegments that no traced segment answered. Statistics count each
trace's contributions (see :mod:`.store`): for a node, its segments' (or
inferred subsegments') own times and flags; for an edge, the caller's view.
The window is read in whole minutes (sums per minute, ten minutes and hour
kept by the store), so a node's ``StartTime``/``EndTime`` are minute
boundaries. Response times fall
into logarithmic buckets (four per decade); a histogram
entry ``{"Value": v, "Count": n}`` counts the times up to ``v`` seconds and
above the previous entry's value.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from .store import HISTOGRAM_BOUNDS, ROLLUP_LEVELS, SUMS, TraceStore


def _bucket_value(bucket: int) -> float:
    return HISTOGRAM_BOUNDS[bucket] if bucket < len(HISTOGRAM_BOUNDS) else HISTOGRAM_BOUNDS[-1] * 10


class _Stats:
    __slots__ = ("sums", "first", "last")

    def __init__(self) -> None:
        self.sums = [0] * len(SUMS)
        self.first: Optional[int] = None
        self.last: Optional[int] = None

    def add(self, row: Sequence[Any]) -> None:
        """``row``: first minute, last minute, then the sums in the order of :data:`SUMS`."""
        first, last = row[0], row[1]
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)
        self.sums = [a + b for a, b in zip(self.sums, row[2:])]

    def statistics(self) -> Dict[str, Any]:
        total, faults, throttles, errors, time_sum = self.sums[:5]
        return {
            "OkCount": total - faults - throttles - errors,
            "ErrorStatistics": {
                "ThrottleCount": throttles,
                "OtherCount": errors,
                "TotalCount": throttles + errors,
            },
            "FaultStatistics": {"OtherCount": faults, "TotalCount": faults},
            "TotalCount": total,
            "TotalResponseTime": round(time_sum, 6),
        }

    def histogram_entries(self) -> List[Dict[str, Any]]:
        return [
            {"Value": _bucket_value(bucket), "Count": count}
            for bucket, count in enumerate(self.sums[5:])
            if count
        ]


def window_rows(store: TraceStore, first_minute: int, last_minute: int) -> List[Tuple[Any, ...]]:
    """Rows that sum up the window, per node or edge: ``(source, destination, first, last, *sums)``.

    The window is covered with the coarsest sums that fit: hours, then ten minutes, then minutes at
    its edges. A coarse row also stands for its minutes when all of its data (its ``first`` to
    ``last`` minute) lies in the window, so a window over everything stored reads about one row
    per node or edge and hour, and a rolling hour about twenty. Rows of one level are summed by
    SQLite (thousands of rows of 31 sums each are too many for Python).
    """
    sums = ", ".join(f"sum({column})" for column in SUMS)
    rows: List[Tuple[Any, ...]] = []
    # Ranges still to cover at the next finer level: (first minute, last minute) -> keys that need it
    # (None: every key).
    todo: Dict[Tuple[int, int], Optional[Set[Tuple[int, int]]]] = {(first_minute, last_minute): None}
    for table, width in reversed(ROLLUP_LEVELS):
        finer: Dict[Tuple[int, int], Optional[Set[Tuple[int, int]]]] = {}
        for (low, high), keys in sorted(todo.items()):
            if width == 1:
                found = store.query_rows(
                    f"SELECT source, destination, min(start), max(start), {sums} FROM {table} "
                    "WHERE start >= ? AND start <= ? AND total > 0 GROUP BY source, destination",
                    (low, high),
                )
                rows.extend(row for row in found if keys is None or (row[0], row[1]) in keys)
                continue
            # Blocks whose data lies in [low, high]: summed here. The others: their part of the range, finer.
            inside = "((start >= ? AND start + ? <= ?) OR (first >= ? AND last <= ?))"
            span = (low - low % width, high, low, width - 1, high, low, high)
            found = store.query_rows(
                f"SELECT source, destination, min(first), max(last), {sums} FROM {table} "
                f"WHERE start >= ? AND start <= ? AND total > 0 AND {inside} GROUP BY source, destination",
                span,
            )
            rows.extend(row for row in found if keys is None or (row[0], row[1]) in keys)
            for block, source, destination in store.query_rows(
                f"SELECT start, source, destination FROM {table} "
                f"WHERE start >= ? AND start <= ? AND total > 0 AND NOT {inside}",
                span,
            ):
                if keys is not None and (source, destination) not in keys:
                    continue
                part = (max(block, low), min(block + width - 1, high))
                wanted = finer.setdefault(part, set())
                assert wanted is not None
                wanted.add((source, destination))
        todo = finer
    return rows


def _time(minute: Optional[int], after: int = 0) -> Optional[int]:
    return None if minute is None else (minute + after) * 60


def service_graph(store: TraceStore, start: float, end: float) -> Dict[str, Any]:
    """``GetServiceGraph``'s answer for traces whose segments started in ``[start, end]``."""
    nodes: Dict[int, _Stats] = {}
    edges: Dict[Tuple[int, int], _Stats] = {}
    for row in window_rows(store, int(start // 60), int(end // 60)):
        source, destination = row[0], row[1]
        stats = nodes.setdefault(source, _Stats()) if destination == 0 else edges.setdefault((source, destination), _Stats())
        stats.add(row[2:])
    ids = set(nodes)
    for source, destination in edges:
        ids.update((source, destination))
    names = store.node_names(ids)
    roots = {destination for (source, destination) in edges if names.get(source, ("", ""))[1] == "client"}
    edges_from: Dict[int, List[Tuple[int, _Stats]]] = {}
    for (source, destination), edge in sorted(edges.items()):
        edges_from.setdefault(source, []).append((destination, edge))
    services: List[Dict[str, Any]] = []
    for node_id in sorted(ids, key=lambda i: (names.get(i, ("", ""))[1] != "client", names.get(i, ("", ""))[0], i)):
        name, node_type = names.get(node_id, ("?", ""))
        node_stats = nodes.get(node_id)
        service: Dict[str, Any] = {
            "ReferenceId": node_id,
            "Name": name,
            "Names": [name],
            "Root": node_id in roots,
            "State": "unknown" if node_type == "client" else "active",
            "Edges": [],
        }
        if node_type:
            service["Type"] = node_type
        if node_stats is not None:
            service.update(
                StartTime=_time(node_stats.first),
                EndTime=_time(node_stats.last, 1),
                SummaryStatistics=node_stats.statistics(),
                ResponseTimeHistogram=node_stats.histogram_entries(),
                DurationHistogram=node_stats.histogram_entries(),
            )
        for destination, edge in edges_from.get(node_id, ()):
            service["Edges"].append(
                {
                    "ReferenceId": destination,
                    "StartTime": _time(edge.first),
                    "EndTime": _time(edge.last, 1),
                    "SummaryStatistics": edge.statistics(),
                    "ResponseTimeHistogram": edge.histogram_entries(),
                    "Aliases": [],
                }
            )
        services.append(service)
    return {"Services": services, "StartTime": start, "EndTime": end, "ContainsOldGroupVersions": False}
