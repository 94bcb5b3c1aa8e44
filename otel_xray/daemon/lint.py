"""What X-Ray would reject or degrade in the stored documents, grouped by cause.

Causes come from each document's validation verdict (size, names, annotation
keys and types, IDs, times, field types) and from checks across documents:
``parent_id``s that name nothing in the trace (the segment shows up detached),
trace IDs whose time part lies outside X-Ray's former window around the
segment's start (30 days before to 5 minutes after: older collectors and
TraceId time-range queries miss them), and clock skew between a segment and
the subsegment that called it.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict

from .store import SKEW_TOLERANCE, TraceStore  # noqa: F401 - SKEW_TOLERANCE: where it used to be

_WHERE = re.compile(r"^(document[^:]*): (.*)$", re.DOTALL)
_INDEX = re.compile(r"\[\d+\]")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"\b\d+(\.\d+)?\b")


def cause_of(message: str) -> Dict[str, str]:
    """``{"cause": grouping key, "where": location}`` for one verdict message."""
    match = _WHERE.match(message)
    where, text = (match.group(1), match.group(2)) if match else ("document", message)
    field = _INDEX.sub("", where).split(".")[-1]
    field = re.sub(r"\[.*$", "", field) or "document"
    if field.startswith("annotations"):
        field = "annotations"
    text = _NUMBER.sub("N", _QUOTED.sub("\u2026", text))
    return {"cause": f"{field}: {text}", "where": where}


def lint(store: TraceStore, limit: int = 5000) -> Dict[str, Any]:
    """Problems in the latest ``limit`` documents, as ``{"groups": [{cause, severity, count, items}]}``."""
    groups: Dict[str, Dict[str, Any]] = {}

    def add(cause: str, severity: str, item: Dict[str, Any]) -> None:
        group = groups.setdefault(cause, {"cause": cause, "severity": severity, "count": 0, "items": []})
        group["count"] += 1
        if len(group["items"]) < 50:
            group["items"].append(item)

    # The latest `limit` documents: those received at or after the limit-th newest one's time.
    newest = store.query_rows("SELECT received_at FROM documents ORDER BY received_at DESC LIMIT 1 OFFSET ?", (limit - 1,))
    since = newest[0][0] if newest else float("-inf")
    rows = store.query(
        "SELECT trace_id, id, name, verdict FROM documents WHERE verdict IS NOT NULL AND received_at >= ? "
        "ORDER BY received_at DESC",
        (since,),
    )
    for row in rows:
        verdict = json.loads(row["verdict"])
        for severity, key in (("error", "errors"), ("warning", "warnings")):
            for message in verdict.get(key) or []:
                found = cause_of(message)
                add(found["cause"], severity, {
                    "trace_id": row["trace_id"], "id": row["id"], "name": row["name"],
                    "where": found["where"], "message": message,
                })
    # What the store found across each trace's documents when it stored them (see store.derive).
    for row in store.query(
        "SELECT trace_id, lint FROM traces WHERE trace_id IN "
        "(SELECT trace_id FROM traces ORDER BY updated_at DESC LIMIT ?) AND lint IS NOT NULL",
        (limit,),
    ):
        trace_id = row["trace_id"]
        for finding in json.loads(row["lint"]):
            kind = finding[0]
            if kind == "orphan":
                _, doc_id, name, parent_id = finding
                add("parent_id: names no segment or subsegment of the trace (shown detached)", "warning", {
                    "trace_id": trace_id, "id": doc_id, "name": name, "where": "document.parent_id",
                    "message": f"parent_id {parent_id} is not in trace {trace_id}",
                })
            elif kind == "epoch":
                _, _, name, epoch, start = finding
                add("trace_id: time part outside X-Ray's window (30 days before to 5 minutes after the start)", "warning", {
                    "trace_id": trace_id, "id": None, "name": name, "where": "document.trace_id",
                    "message": f"the trace ID says {epoch}, the trace started at {start:.0f}",
                })
            elif kind == "skew":
                _, entity_id, name, parent_name, skew = finding
                add("clock skew: a segment starts before or ends after the subsegment that called it", "warning", {
                    "trace_id": trace_id, "id": entity_id, "name": name, "where": "document.start_time",
                    "message": f"{skew * 1000:.1f} ms outside its caller {parent_name}",
                })
    ordered = sorted(groups.values(), key=lambda g: (g["severity"] != "error", -g["count"], g["cause"]))
    return {"groups": ordered, "documents_checked": min(limit, store.document_count())}
