"""What the X-Ray console derives from a run's documents, and how two runs differ.

A run's documents become *facts*: ``(request, role, field) -> value``, with
values normalised so that what varies between runs (IDs, times, ports,
versions, temporary paths) does not count and what a console user sees does:

- the service map: each node's name and namespace (``service map node`` on the
  role that makes it) and, per request, the edges between roles;
- per document: flags, ``http``, ``sql``, ``aws``, ``service``, ``origin``,
  ``cause`` (exceptions, stack shape), annotations, metadata keys;
- trace joining: which incoming header's trace the request's segment joined,
  and whether the downstream service's segment hangs under the HTTP call.

Roles name documents by what they are, not by what they are called (that may
differ): ``segment`` (the request's), ``downstream segment`` (inventory's),
``SQL query``, ``AWS call``, ``HTTP call``, ``subsegment <name>`` (local ones).

The table of accepted differences is read from a Markdown document, between
``<!-- differences:begin -->`` and ``<!-- differences:end -->``.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Set, Tuple

from ..xray_fixtures import entities_as_read
from .harness import Request, Run

ABSENT = "absent"
PRESENT = "present"
ANY_REQUEST = "*"
# Metadata keys the app itself writes; others are described by kind, not listed,
# so that an instrumentation release adding an attribute does not change a row.
APP_METADATA_KEYS = frozenset({"cart_items", "coupon"})
_KNOWN_TOP_KEYS = frozenset(
    {
        "id", "name", "namespace", "trace_id", "parent_id", "type", "start_time", "end_time", "in_progress",
        "subsegments", "fault", "error", "throttle", "http", "sql", "aws", "service", "origin", "user",
        "annotations", "metadata", "cause",
    }
)
_NODE_ROLES = ("segment", "downstream segment", "SQL query", "AWS call", "HTTP call")

Facts = Dict[Tuple[str, str, str], str]


# ------------------------------------------------------------------ facts of one run
def console_view(run: Run) -> Facts:
    # As X-Ray reads them: an embedded subsegment takes its trace, parent and type from its place.
    entities = entities_as_read(run.documents())
    by_id = {entity["id"]: entity for entity in entities if isinstance(entity.get("id"), str)}
    children: Dict[str, List[Dict[str, Any]]] = {}
    for entity in entities:
        # Embedded or independent alike: entities_as_read gives each subsegment its parent.
        if entity.get("type") == "subsegment" and entity.get("parent_id") in by_id:
            _add_child(children, entity["parent_id"], entity)
    segments = [entity for entity in entities if entity.get("type") != "subsegment"]

    facts: Facts = {}
    entries: Dict[str, Dict[str, Any]] = {}
    for request in run.requests:
        path = urllib.parse.urlsplit(request.path).path
        found = [s for s in segments if s.get("name") == "parity-shop" and _url_path(s) == path]
        facts[(request.label, "segment", "documents for the request")] = str(len(found))
        if found:
            entries[request.label] = found[0]

    downstream: Dict[str, List[Dict[str, Any]]] = {}
    entry_ids = {id(entry) for entry in entries.values()}
    for segment in segments:
        if id(segment) in entry_ids:
            continue
        owner = _owner(segment, entries, by_id)
        if owner is not None:
            downstream.setdefault(owner, []).append(segment)

    for request in run.requests:
        entry = entries.get(request.label)
        if entry is None:
            continue
        roles: Dict[str, Dict[str, Any]] = {}
        _collect(entry, "segment", children, roles)
        for index, segment in enumerate(downstream.get(request.label, ())):
            _collect(segment, "downstream segment" + (f" #{index + 1}" if index else ""), children, roles)
        edges = []
        call = roles.get("HTTP call")
        joined = [s for s in downstream.get(request.label, ()) if call is not None and s.get("parent_id") == call.get("id")]
        for role, entity in roles.items():
            for field, value in _document_facts(entity, request, role).items():
                facts[(request.label, role, field)] = value
            if role == "segment":
                facts[(request.label, role, "trace")] = _joining(entity, request)
                facts[(request.label, role, "service map node")] = f"{entity.get('name')} (segment)"
            elif role.startswith("downstream segment"):
                facts[(request.label, role, "service map node")] = f"{entity.get('name')} (segment)"
                parent = entity.get("parent_id")
                facts[(request.label, role, "parent")] = (
                    "the HTTP call" if call is not None and parent == call.get("id") and entity.get("trace_id") == call.get("trace_id")
                    else ("none" if not parent else "another document")
                )
            elif role == "HTTP call" and joined:
                edges.append("segment -> downstream segment")
            elif _base(role) in _NODE_ROLES:
                facts[(request.label, role, "service map node")] = f"{entity.get('name')} ({entity.get('namespace', ABSENT)})"
                edges.append(f"segment -> {role}")
        facts[(request.label, "service map", "edges")] = ", ".join(sorted(edges)) or "none"
    return facts


def _base(role: str) -> str:
    """The role without its ``#n`` suffix."""
    return role.split(" #", 1)[0]


def _add_child(children: Dict[str, List[Dict[str, Any]]], parent: str, child: Dict[str, Any]) -> None:
    siblings = children.setdefault(parent, [])
    if all(existing is not child and existing.get("id") != child.get("id") for existing in siblings):
        siblings.append(child)


def _url_path(entity: Dict[str, Any]) -> Optional[str]:
    url = ((entity.get("http") or {}).get("request") or {}).get("url")
    return urllib.parse.urlsplit(url).path if isinstance(url, str) else None


def _owner(segment: Dict[str, Any], entries: Dict[str, Dict[str, Any]], by_id: Dict[str, Dict[str, Any]]) -> Optional[str]:
    """The request a downstream segment belongs to: by its parent chain, else by time."""
    parent = by_id.get(segment.get("parent_id", ""))
    seen = 0
    while parent is not None and seen < 100:
        for label, entry in entries.items():
            if parent is entry:
                return label
        parent = by_id.get(parent.get("parent_id", ""))
        seen += 1
    start = segment.get("start_time", 0)
    for label, entry in entries.items():
        if entry.get("start_time", 0) <= start <= entry.get("end_time", 0):
            return label
    return None


def _collect(entity: Dict[str, Any], role: str, children: Dict[str, List[Dict[str, Any]]], roles: Dict[str, Dict[str, Any]]) -> None:
    roles[_unique(role, roles)] = entity
    for child in children.get(entity.get("id", ""), ()):
        _collect(child, _unique(_classify(child), roles), children, roles)


def _unique(role: str, roles: Dict[str, Any]) -> str:
    if role not in roles:
        return role
    index = 2
    while f"{role} #{index}" in roles:
        index += 1
    return f"{role} #{index}"


def _classify(entity: Dict[str, Any]) -> str:
    if "sql" in entity:
        return "SQL query"
    if entity.get("namespace") == "aws" or "operation" in (entity.get("aws") or {}):
        return "AWS call"
    if entity.get("namespace") == "remote" and (entity.get("http") or {}).get("request"):
        return "HTTP call"
    return f"subsegment {entity.get('name')}"


def _joining(segment: Dict[str, Any], request: Request) -> str:
    trace_id, parent = segment.get("trace_id"), segment.get("parent_id")
    if request.xray_root and trace_id == request.xray_root:
        where = "the X-Ray header's trace"
        expected_parent = request.xray_parent
    elif request.w3c_trace and trace_id == f"1-{request.w3c_trace[:8]}-{request.w3c_trace[8:]}":
        where = "the traceparent's trace"
        expected_parent = request.w3c_parent
    else:
        where = "a new trace"
        expected_parent = None
    if not parent:
        return f"{where}, no parent"
    return f"{where}, under the header's parent" if parent == expected_parent else f"{where}, under another parent"


def _document_facts(entity: Dict[str, Any], request: Request, role: str) -> Dict[str, str]:
    facts: Dict[str, str] = {}
    if _base(role) not in _NODE_ROLES:
        facts["name"] = str(entity.get("name"))
        facts["namespace"] = str(entity.get("namespace", ABSENT))
    for flag in ("fault", "error", "throttle"):
        facts[flag] = "true" if entity.get(flag) else "false"
    http = entity.get("http") or {}
    for part in ("request", "response"):
        for key, value in (http.get(part) or {}).items():
            facts[f"http.{part}.{key}"] = _http_value(key, value)
    for key, value in (entity.get("sql") or {}).items():
        facts[f"sql.{key}"] = PRESENT if key in ("database_version", "driver_version") else _text(value)
    for key, value in (entity.get("aws") or {}).items():
        if key == "xray" and isinstance(value, dict):
            # One fact for the block: the SDK's name, and which fields it has.
            facts["aws.xray"] = _block(value, ("sdk",))
        else:
            facts[f"aws.{key}"] = PRESENT if key in ("request_id", "id_2") else _text(value)
    if isinstance(entity.get("service"), dict):
        facts["service"] = _block(entity["service"], ("runtime",))
    for key in ("origin", "user"):
        if key in entity:
            facts[key] = _text(entity[key])
    if entity.get("annotations"):
        facts["annotations"] = _text(entity["annotations"])
    for namespace, values in (entity.get("metadata") or {}).items():
        facts[f"metadata.{namespace}"] = _describe_keys(values.keys() if isinstance(values, dict) else ())
    if "cause" in entity:
        facts.update(_cause_facts(entity["cause"], request))
    for key in entity:
        if key not in _KNOWN_TOP_KEYS:
            facts[key] = PRESENT
    return facts


def _http_value(key: str, value: Any) -> str:
    if key == "url" and isinstance(value, str):
        return re.sub(r"^(\w+://[^/:]+):\d+", r"\1:<port>", value)
    if key == "user_agent" and isinstance(value, str):
        return re.sub(r"/\d[\w.]*", "/<version>", value)
    if key == "content_length":
        return "0" if value == 0 else (">0" if isinstance(value, int) and value > 0 else _text(value))
    return _text(value)


def _block(block: Dict[str, Any], shown: Tuple[str, ...]) -> str:
    """``key: value`` for the keys in ``shown``, the other keys by name only (their values vary by version)."""
    return ", ".join(f"{key}: {_text(block[key])}" if key in shown else key for key in sorted(block))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def _describe_keys(keys: Iterable[str]) -> str:
    keys = list(keys)
    parts = sorted(key for key in keys if key in APP_METADATA_KEYS)
    if any(key.startswith("otel.resource.") for key in keys):
        parts.append("otel.resource.*")
    if any(key not in APP_METADATA_KEYS and not key.startswith("otel.resource.") for key in keys):
        parts.append("instrumentation attributes")
    return ", ".join(parts) or "none"


def _cause_facts(cause: Any, request: Request) -> Dict[str, str]:
    if not isinstance(cause, dict):
        return {"cause": "the ID of an exception recorded in another document"}
    facts: Dict[str, str] = {}
    exceptions = [e for e in cause.get("exceptions") or () if isinstance(e, dict)]
    facts["cause.exceptions"] = "; ".join(f"{e.get('type')}: {e.get('message')}" for e in exceptions) or "none"
    facts["cause.exceptions.remote"] = ", ".join(_text(bool(e.get("remote"))) for e in exceptions) or "none"
    if "working_directory" in cause:
        facts["cause.working_directory"] = PRESENT
    for key in cause:
        if key not in ("exceptions", "working_directory"):
            facts[f"cause.{key}"] = PRESENT
    stack = [frame for frame in (exceptions[0].get("stack") or ()) if isinstance(frame, dict)] if exceptions else []
    paths = [str(frame.get("path", "")) for frame in stack]
    if any(path.startswith("/") for path in paths):
        facts["cause.stack.paths"] = "absolute"
    elif any("/" in path for path in paths):
        facts["cause.stack.paths"] = "relative"
    else:
        facts["cause.stack.paths"] = "file names" if paths else "no stack"
    facts["cause.stack.opentelemetry frames"] = "yes" if any("/opentelemetry/" in path for path in paths) else "no"
    if request.raises_in:
        positions = [i for i, frame in enumerate(stack) if frame.get("label") == request.raises_in and paths[i].endswith("app.py")]
        if not positions:
            facts["cause.stack.raising frame"] = "missing"
        else:
            facts["cause.stack.raising frame"] = "first (innermost first)" if positions[0] == 0 else (
                "last (outermost first)" if positions[-1] == len(stack) - 1 else "in the middle"
            )
    return facts


# ------------------------------------------------------------------ differences
class Difference(NamedTuple):
    request: str
    role: str
    field: str
    sdk: str
    otel: str


def differences(sdk: Facts, otel: Facts) -> List[Difference]:
    """Every fact whose value differs, absent facts counting as ``absent``."""
    found = []
    for key in sorted(set(sdk) | set(otel)):
        sdk_value, otel_value = sdk.get(key, ABSENT), otel.get(key, ABSENT)
        if sdk_value != otel_value:
            found.append(Difference(*key, sdk_value, otel_value))
    return found


class Row(NamedTuple):
    """One kept difference: in these requests (or ``*``), these documents, this field, these values."""

    line: int
    requests: Tuple[str, ...]  # ("*",) for any request
    roles: Tuple[str, ...]
    field: str
    sdk: str
    otel: str
    why: str

    def covers(self, difference: Difference) -> bool:
        return (
            (difference.field, difference.sdk, difference.otel) == (self.field, self.sdk, self.otel)
            and difference.role in self.roles
            and (self.requests == (ANY_REQUEST,) or difference.request in self.requests)
        )


BEGIN, END = "<!-- differences:begin -->", "<!-- differences:end -->"
COLUMNS = ("requests", "documents", "field", "aws-xray-sdk", "otel-xray", "why we keep it")


def read_table(text: str) -> List[Row]:
    """The rows of the differences table; raises ValueError on a malformed table."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"no table between {BEGIN} and {END}")
    start = text.index(BEGIN)
    first_line = text[:start].count("\n") + 1
    rows: List[Row] = []
    header_seen = False
    for offset, line in enumerate(text[start : text.index(END)].splitlines()):
        if not line.startswith("|"):
            continue
        raw = _split(line.strip()[1:-1], "|")
        cells = [_unquote(cell) for cell in raw]
        if not header_seen:
            if tuple(cell.lower() for cell in cells) != COLUMNS:
                raise ValueError(f"the table's columns must be {COLUMNS}, not {tuple(cells)}")
            header_seen = True
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        if len(cells) != len(COLUMNS):
            raise ValueError(f"line {first_line + offset}: {len(cells)} cells, expected {len(COLUMNS)}")
        _, _, field, sdk, otel, why = cells
        requests, roles = raw[0], raw[1]
        if not why:
            raise ValueError(f"line {first_line + offset}: every kept difference needs a reason")
        rows.append(
            Row(
                first_line + offset,
                tuple(_unquote(item) for item in _split(requests, ",")),
                tuple(_unquote(item) for item in _split(roles, ",")),
                field,
                sdk,
                otel,
                why,
            )
        )
    return rows


def _split(text: str, separator: str) -> List[str]:
    """Split on ``separator`` unless backslash-escaped or inside backticks."""
    parts: List[str] = []
    current = ""
    escaped = quoted = False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "`":
            quoted = not quoted
            current += char
        elif char == separator and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def _unquote(cell: str) -> str:
    return cell[1:-1] if len(cell) >= 2 and cell.startswith("`") and cell.endswith("`") else cell


def compare(found: List[Difference], rows: List[Row]) -> Tuple[List[Difference], List[Row]]:
    """Differences that no row covers, and rows that cover none (or miss a request they name)."""
    unlisted = [difference for difference in found if not any(row.covers(difference) for row in rows)]
    stale = []
    for row in rows:
        covered = [difference for difference in found if row.covers(difference)]
        named = set(row.requests) - {ANY_REQUEST}
        if not covered or not named <= {difference.request for difference in covered}:
            stale.append(row)
    return unlisted, stale


def suggested_rows(unlisted: List[Difference], all_requests: Iterable[str]) -> List[str]:
    """Table rows that would list these differences (the reason left to fill in)."""
    grouped: Dict[Tuple[str, str, str, str], Set[str]] = {}
    for difference in unlisted:
        grouped.setdefault((difference.role, difference.field, difference.sdk, difference.otel), set()).add(difference.request)
    every = set(all_requests)
    lines = []
    for (role, field, sdk, otel), requests in sorted(grouped.items()):
        where = "`*`" if requests == every else ", ".join(f"`{r}`" for r in sorted(requests))
        cells = [where, f"`{role}`"] + [f"`{value}`" for value in (field, sdk, otel)] + ["(why we keep it)"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") if index > 1 else cell for index, cell in enumerate(cells)) + " |")
    return lines
