"""The service graph over a time window, in the shape of X-Ray's ``GetServiceGraph``.

Nodes are the store's (name, type) pairs: a segment's name and origin, the
``client`` that calls entry points, and nodes inferred from ``remote`` and
``aws`` subsegments that no traced segment answered. Statistics count each
trace's contributions (see :mod:`.store`): for a node, its segments' (or
inferred subsegments') own times and flags; for an edge, the caller's view.
The window is read in whole minutes (per-minute sums kept by the store), so
a node's ``StartTime``/``EndTime`` are minute boundaries. Response times fall
into logarithmic buckets (four per decade); a histogram
entry ``{"Value": v, "Count": n}`` counts the times up to ``v`` seconds and
above the previous entry's value.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .store import HISTOGRAM_BOUNDS, TraceStore

_STATS = (
    "sum(total) AS total, sum(faults) AS faults, sum(throttles) AS throttles, sum(errors) AS errors, "
    "sum(time_sum) AS time_sum, min(minute) * 60 AS first, (max(minute) + 1) * 60 AS last"
)


def _bucket_value(bucket: Optional[int]) -> Optional[float]:
    if bucket is None or bucket < 0:  # in progress: no response time yet
        return None
    if bucket < len(HISTOGRAM_BOUNDS):
        return HISTOGRAM_BOUNDS[bucket]
    return HISTOGRAM_BOUNDS[-1] * 10


class _Stats:
    __slots__ = ("total", "faults", "throttles", "errors", "time_sum", "first", "last", "histogram")

    def __init__(self) -> None:
        self.total = self.faults = self.throttles = self.errors = 0
        self.time_sum = 0.0
        self.first: Optional[float] = None
        self.last: Optional[float] = None
        self.histogram: Dict[float, int] = {}

    def add(self, row: Dict[str, Any]) -> None:
        self.total += row["total"]
        self.faults += row["faults"] or 0
        self.throttles += row["throttles"] or 0
        self.errors += row["errors"] or 0
        self.time_sum += row["time_sum"] or 0.0
        for key, pick in (("first", min), ("last", max)):
            value = row[key]
            if value is not None:
                current = getattr(self, key)
                setattr(self, key, value if current is None else pick(current, value))
        value = _bucket_value(row["bucket"])
        if value is not None:
            self.histogram[value] = self.histogram.get(value, 0) + row["total"]

    def statistics(self) -> Dict[str, Any]:
        return {
            "OkCount": self.total - self.faults - self.throttles - self.errors,
            "ErrorStatistics": {
                "ThrottleCount": self.throttles,
                "OtherCount": self.errors,
                "TotalCount": self.throttles + self.errors,
            },
            "FaultStatistics": {"OtherCount": self.faults, "TotalCount": self.faults},
            "TotalCount": self.total,
            "TotalResponseTime": round(self.time_sum, 6),
        }

    def histogram_entries(self) -> List[Dict[str, Any]]:
        return [{"Value": value, "Count": count} for value, count in sorted(self.histogram.items())]


def service_graph(store: TraceStore, start: float, end: float) -> Dict[str, Any]:
    """``GetServiceGraph``'s answer for traces whose segments started in ``[start, end]``."""
    window = (int(start // 60), int(end // 60))
    node_rows = store.query(
        f"SELECT node_id, bucket, {_STATS} FROM graph_nodes_minutes "
        "WHERE minute >= ? AND minute <= ? GROUP BY node_id, bucket HAVING sum(total) > 0",
        window,
    )
    edge_rows = store.query(
        f"SELECT source, destination, bucket, {_STATS} FROM graph_edges_minutes "
        "WHERE minute >= ? AND minute <= ? GROUP BY source, destination, bucket HAVING sum(total) > 0",
        window,
    )
    nodes: Dict[int, _Stats] = {}
    for row in node_rows:
        nodes.setdefault(row["node_id"], _Stats()).add(row)
    edges: Dict[Tuple[int, int], _Stats] = {}
    for row in edge_rows:
        edges.setdefault((row["source"], row["destination"]), _Stats()).add(row)
    ids = set(nodes)
    for source, destination in edges:
        ids.update((source, destination))
    names: Dict[int, Tuple[str, str]] = {}
    if ids:
        marks = ",".join("?" * len(ids))
        for row in store.query(f"SELECT node_id, name, type FROM nodes WHERE node_id IN ({marks})", sorted(ids)):
            names[row["node_id"]] = (row["name"], row["type"])
    roots = {destination for (source, destination) in edges if names.get(source, ("", ""))[1] == "client"}
    services: List[Dict[str, Any]] = []
    for node_id in sorted(ids, key=lambda i: (names.get(i, ("", ""))[1] != "client", names.get(i, ("", ""))[0], i)):
        name, node_type = names.get(node_id, ("?", ""))
        stats = nodes.get(node_id)
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
        if stats is not None:
            service.update(
                StartTime=stats.first,
                EndTime=stats.last,
                SummaryStatistics=stats.statistics(),
                ResponseTimeHistogram=stats.histogram_entries(),
                DurationHistogram=stats.histogram_entries(),
            )
        for (source, destination), edge in sorted(edges.items()):
            if source != node_id:
                continue
            service["Edges"].append(
                {
                    "ReferenceId": destination,
                    "StartTime": edge.first,
                    "EndTime": edge.last,
                    "SummaryStatistics": edge.statistics(),
                    "ResponseTimeHistogram": edge.histogram_entries(),
                    "Aliases": [],
                }
            )
        services.append(service)
    return {"Services": services, "StartTime": start, "EndTime": end, "ContainsOldGroupVersions": False}
