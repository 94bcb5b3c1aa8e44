"""Text rendering of received documents: one line each, and traces as trees.

Span data is user input (exception messages, URLs, names): every line made
here passes through :func:`escape_controls`, so that no control character
reaches the terminal, and a newline in the data cannot forge a line. Any
document renders, whatever its types: what cannot be shown is shown as ``?``.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from typing import Any, Dict, Hashable, Iterable, List, Optional, Set, Tuple

from .validate import Verdict

# C0 and C1 controls and DEL; bidi embeddings, overrides, isolates and marks
# (they reorder what the terminal shows); line and paragraph separators; lone
# surrogates (no terminal encoding can carry them).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_MAX_FIELD = 200  # characters of one value shown on a line
_MAX_INDENT = 32  # levels of indentation; deeper entries say their depth instead


def _escape_one(match: "re.Match[str]") -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with control characters as visible escapes (``\\x1b``, ``\\n``, ``\\u202e``).

    The one helper for everything the CLI prints from span data. Printable
    text, non-ASCII letters included, is unchanged; escaping twice changes
    nothing more.
    """
    if text.isprintable():  # the usual case; everything escaped here is non-printable to Python
        return text
    return _CONTROLS.sub(_escape_one, text)


def _text(value: Any, limit: int = _MAX_FIELD) -> str:
    """A value as short text: strings as they are, anything else as its ``repr``."""
    if type(value) is str and len(value) <= limit:
        return value
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception:  # a Python-built value whose repr fails (an int past 4,300 digits)
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> Optional[float]:
    """A finite float for a JSON number; None for anything else (bools, huge integers, NaN)."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is not int:
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _key(value: Any) -> Hashable:
    """A hashable stand-in for an ID of any type (a list ID must not break grouping)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return (type(value).__name__, value)
    return ("repr", _text(value, 10_000))


def _duration(doc: Dict[str, Any]) -> str:
    start, end = _number(doc.get("start_time")), _number(doc.get("end_time"))
    if start is not None and end is not None:
        duration = (end - start) * 1000
        if math.isfinite(duration):
            return f"{duration:.1f} ms"
    return "in progress" if doc.get("in_progress") is True else "?"


_EMPTY: Dict[str, Any] = {}


def _describe(doc: Dict[str, Any]) -> str:
    # Any field may hold any type: each is read through a type check (this runs for every document printed).
    kind = "subsegment" if doc.get("type") == "subsegment" or doc.get("_embedded") else "segment"
    namespace = doc.get("namespace")
    if namespace:
        kind += f"/{_text(namespace)}"
    parts = [_text(doc.get("name", "?")), f"[{kind}]", _duration(doc)]
    http = doc.get("http")
    if isinstance(http, dict):
        request, response = http.get("request"), http.get("response")
        if isinstance(request, dict) and (request.get("method") or request.get("url")):
            parts.append(f"{_text(request.get('method', ''))} {_text(request.get('url', ''))}".strip())
        if isinstance(response, dict) and "status" in response:
            parts.append(f"http {_text(response['status'])}")
    sql = doc.get("sql")
    query = sql.get("sanitized_query") if isinstance(sql, dict) else None
    if query:
        parts.append(f"sql {(query if isinstance(query, str) else _text(query))[:60]!r}")
    aws = doc.get("aws")
    operation = aws.get("operation") if isinstance(aws, dict) else None
    if operation:
        parts.append(f"aws {_text(operation)}")
    flags = [flag for flag in ("error", "fault", "throttle") if doc.get(flag) is True]
    if flags:
        parts.append("+".join(flags).upper())
    cause = doc.get("cause")
    exceptions = cause.get("exceptions") if isinstance(cause, dict) else None
    if isinstance(exceptions, list) and exceptions:
        first = exceptions[0] if isinstance(exceptions[0], dict) else _EMPTY
        parts.append(f"cause {_text(first.get('type') or '')}: {_text(first.get('message') or '')}".rstrip(": "))
    return "  ".join(parts)


def _verdict_text(verdict: Optional[Verdict]) -> str:
    if verdict is None:
        return ""
    if verdict.valid:
        return "valid" + (f" ({len(verdict.warnings)} warning(s))" if verdict.warnings else "")
    return "INVALID: " + "; ".join(verdict.errors)


def document_line(doc: Dict[str, Any], verdict: Optional[Verdict]) -> str:
    """One line for a received document: trace, id, description, verdict."""
    line = f"{_text(doc.get('trace_id', '?'))} {_text(doc.get('id', '?'))}  {_describe(doc)}  -- {_verdict_text(verdict)}"
    return escape_controls(line)


_Entry = Tuple[Dict[str, Any], Optional[Verdict]]


def _flatten(doc: Dict[str, Any], verdict: Optional[Verdict]) -> List[_Entry]:
    """The document, then its embedded subsegments (depth first), each knowing its trace and parent."""
    out: List[_Entry] = []
    pending: List[_Entry] = [(doc, verdict)]
    while pending:
        entity, entity_verdict = pending.pop()
        out.append((entity, entity_verdict))
        subsegments = entity.get("subsegments")
        if not isinstance(subsegments, list):
            continue
        children = []
        for sub in subsegments:
            if isinstance(sub, dict):
                child = dict(sub, _embedded=True)
                child.setdefault("trace_id", entity.get("trace_id"))
                child.setdefault("parent_id", entity.get("id"))
                children.append((child, None))
        pending.extend(reversed(children))
    return out


def _start(entry: _Entry) -> float:
    start = _number(entry[0].get("start_time"))
    return 0.0 if start is None else start


def render_traces(items: Iterable[Tuple[Dict[str, Any], Optional[Verdict]]]) -> str:
    """Render documents grouped by trace, each as a tree of segments and subsegments.

    Every entity is drawn once: children under their parent (by start time),
    then entities whose parents form a cycle, as roots. Indentation stops at
    32 levels; deeper lines start with their depth.
    """
    traces: "OrderedDict[Hashable, Tuple[Any, List[_Entry]]]" = OrderedDict()
    for doc, verdict in items:
        if not isinstance(doc, dict):
            continue
        for entry in _flatten(doc, verdict):
            trace_id = entry[0].get("trace_id")
            traces.setdefault(_key(trace_id), (trace_id, []))[1].append(entry)
    lines: List[str] = []
    for trace_id, entries in traces.values():
        lines.append(escape_controls(f"trace {_text(trace_id)}"))
        ordered = sorted(range(len(entries)), key=lambda index: _start(entries[index]))
        ids = {_key(entries[index][0].get("id")) for index in ordered}
        children: Dict[Hashable, List[int]] = {}
        roots = []
        for index in ordered:
            doc = entries[index][0]
            parent, own = _key(doc.get("parent_id")), _key(doc.get("id"))
            if doc.get("parent_id") is not None and parent in ids and parent != own:
                children.setdefault(parent, []).append(index)
            else:
                roots.append(index)
        drawn: Set[int] = set()
        for index in roots + ordered:  # then whatever a parent cycle kept from the roots
            if index not in drawn:
                _walk(index, entries, children, drawn, lines)
    return "\n".join(lines)


def _walk(root: int, entries: List[_Entry], children: Dict[Hashable, List[int]], drawn: Set[int], lines: List[str]) -> None:
    pending = [(root, 0)]
    while pending:
        index, depth = pending.pop()
        if index in drawn:
            continue
        drawn.add(index)
        doc, verdict = entries[index]
        verdict_text = _verdict_text(verdict)
        suffix = f"  -- {verdict_text}" if verdict_text else ""
        marker = f"(depth {depth + 1}) " if depth >= _MAX_INDENT else ""
        lines.append(escape_controls(f"{'  ' * (min(depth, _MAX_INDENT) + 1)}{marker}{_describe(doc)}{suffix}"))
        pending.extend((child, depth + 1) for child in reversed(children.get(_key(doc.get("id")), [])))
