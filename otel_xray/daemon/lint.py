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

from .store import TraceStore

_WHERE = re.compile(r"^(document[^:]*): (.*)$", re.DOTALL)
_INDEX = re.compile(r"\[\d+\]")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"\b\d+(\.\d+)?\b")
SKEW_TOLERANCE = 0.001  # seconds
_PAST_WINDOW = 30 * 24 * 3600
_FUTURE_WINDOW = 5 * 60


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

    rows = store.query(
        "SELECT trace_id, id, name, verdict, valid FROM documents WHERE verdict IS NOT NULL "
        "ORDER BY received_at DESC LIMIT ?",
        (limit,),
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
    recent = "(SELECT trace_id FROM traces ORDER BY updated_at DESC LIMIT ?)"
    for row in store.query(
        f"""SELECT e.trace_id, e.id, e.name, e.parent_id FROM entities e
        WHERE e.trace_id IN {recent} AND e.id = e.doc_id AND e.parent_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM entities p WHERE p.trace_id = e.trace_id AND p.id = e.parent_id)""",
        (limit,),
    ):
        add("parent_id: names no segment or subsegment of the trace (shown detached)", "warning", {
            "trace_id": row["trace_id"], "id": row["id"], "name": row["name"], "where": "document.parent_id",
            "message": f"parent_id {row['parent_id']} is not in trace {row['trace_id']}",
        })
    for row in store.query(
        f"""SELECT trace_id, name, start_time, trace_epoch FROM traces WHERE trace_id IN {recent}
        AND trace_epoch IS NOT NULL AND start_time IS NOT NULL
        AND (trace_epoch < start_time - {_PAST_WINDOW} OR trace_epoch > start_time + {_FUTURE_WINDOW})""",
        (limit,),
    ):
        add("trace_id: time part outside X-Ray's window (30 days before to 5 minutes after the start)", "warning", {
            "trace_id": row["trace_id"], "id": None, "name": row["name"], "where": "document.trace_id",
            "message": f"the trace ID says {row['trace_epoch']}, the trace started at {row['start_time']:.0f}",
        })
    for row in store.query(
        f"""SELECT c.trace_id, c.id, c.name, p.name AS parent_name,
            max(p.start_time - c.start_time, c.end_time - p.end_time) AS skew
        FROM entities c JOIN entities p ON p.trace_id = c.trace_id AND p.id = c.parent_id
        WHERE c.trace_id IN {recent} AND c.is_segment = 1 AND c.doc_id != p.doc_id
            AND c.end_time IS NOT NULL AND p.end_time IS NOT NULL
            AND max(p.start_time - c.start_time, c.end_time - p.end_time) > {SKEW_TOLERANCE}""",
        (limit,),
    ):
        add("clock skew: a segment starts before or ends after the subsegment that called it", "warning", {
            "trace_id": row["trace_id"], "id": row["id"], "name": row["name"], "where": "document.start_time",
            "message": f"{row['skew'] * 1000:.1f} ms outside its caller {row['parent_name']}",
        })
    ordered = sorted(groups.values(), key=lambda g: (g["severity"] != "error", -g["count"], g["cause"]))
    return {"groups": ordered, "documents_checked": min(limit, store.document_count())}
