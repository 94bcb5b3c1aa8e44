"""Text rendering of received documents: one line each, and traces as trees."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .validate import Verdict

__all__ = ["document_line", "render_traces"]


def _duration(doc: Dict[str, Any]) -> str:
    start, end = doc.get("start_time"), doc.get("end_time")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        return f"{(end - start) * 1000:.1f} ms"
    return "in progress" if doc.get("in_progress") else "?"


def _describe(doc: Dict[str, Any]) -> str:
    kind = "subsegment" if doc.get("type") == "subsegment" or doc.get("_embedded") else "segment"
    if doc.get("namespace"):
        kind += f"/{doc['namespace']}"
    parts = [str(doc.get("name", "?")), f"[{kind}]", _duration(doc)]
    http = doc.get("http")
    if isinstance(http, dict):
        request, response = http.get("request") or {}, http.get("response") or {}
        if request.get("method") or request.get("url"):
            parts.append(f"{request.get('method', '')} {request.get('url', '')}".strip())
        if "status" in response:
            parts.append(f"http {response['status']}")
    if isinstance(doc.get("sql"), dict) and doc["sql"].get("sanitized_query"):
        parts.append(f"sql {doc['sql']['sanitized_query'][:60]!r}")
    aws = doc.get("aws")
    if isinstance(aws, dict) and aws.get("operation"):
        parts.append(f"aws {aws['operation']}")
    flags = [flag for flag in ("error", "fault", "throttle") if doc.get(flag) is True]
    if flags:
        parts.append("+".join(flags).upper())
    cause = doc.get("cause")
    if isinstance(cause, dict) and cause.get("exceptions"):
        first = cause["exceptions"][0]
        parts.append(f"cause {first.get('type') or ''}: {first.get('message') or ''}".rstrip(": "))
    return "  ".join(parts)


def _verdict_text(verdict: Optional[Verdict]) -> str:
    if verdict is None:
        return ""
    if verdict.valid:
        return "valid" + (f" ({len(verdict.warnings)} warning(s))" if verdict.warnings else "")
    return "INVALID: " + "; ".join(verdict.errors)


def document_line(doc: Dict[str, Any], verdict: Optional[Verdict]) -> str:
    """One line for a received document: trace, id, description, verdict."""
    return f"{doc.get('trace_id', '?')} {doc.get('id', '?')}  {_describe(doc)}  -- {_verdict_text(verdict)}"


def _flatten(
    doc: Dict[str, Any], verdict: Optional[Verdict], trace_id: Any, out: List[Tuple[Dict[str, Any], Optional[Verdict]]]
) -> None:
    out.append((doc, verdict))
    for sub in doc.get("subsegments") or []:
        if isinstance(sub, dict):
            child = dict(sub, _embedded=True)
            child.setdefault("trace_id", trace_id)
            child.setdefault("parent_id", doc.get("id"))
            _flatten(child, None, trace_id, out)


def render_traces(items: Iterable[Tuple[Dict[str, Any], Optional[Verdict]]]) -> str:
    """Render documents grouped by trace, each as a tree of segments and subsegments."""
    traces: "OrderedDict[Any, List[Tuple[Dict[str, Any], Optional[Verdict]]]]" = OrderedDict()
    for doc, verdict in items:
        if not isinstance(doc, dict):
            continue
        flat: List[Tuple[Dict[str, Any], Optional[Verdict]]] = []
        _flatten(doc, verdict, doc.get("trace_id"), flat)
        for entry in flat:
            traces.setdefault(entry[0].get("trace_id"), []).append(entry)
    lines: List[str] = []
    for trace_id, entries in traces.items():
        lines.append(f"trace {trace_id}")
        ids = {doc.get("id") for doc, _ in entries}
        children: Dict[Any, List[Tuple[Dict[str, Any], Optional[Verdict]]]] = {}
        roots = []
        for entry in sorted(entries, key=lambda e: e[0].get("start_time") or 0):
            parent = entry[0].get("parent_id")
            if parent in ids and parent != entry[0].get("id"):
                children.setdefault(parent, []).append(entry)
            else:
                roots.append(entry)

        for root in roots:
            _walk(root, 0, children, lines)
    return "\n".join(lines)


def _walk(
    entry: Tuple[Dict[str, Any], Optional[Verdict]],
    depth: int,
    children: Dict[Any, List[Tuple[Dict[str, Any], Optional[Verdict]]]],
    lines: List[str],
) -> None:
    doc, verdict = entry
    verdict_text = _verdict_text(verdict)
    suffix = f"  -- {verdict_text}" if verdict_text else ""
    lines.append(f"{'  ' * (depth + 1)}{_describe(doc)}{suffix}")
    if depth < 50:
        for child in children.get(doc.get("id"), []):
            _walk(child, depth + 1, children, lines)
