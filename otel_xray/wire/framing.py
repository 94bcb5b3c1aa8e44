"""Datagram framing and the size guard.

A datagram is the daemon's header line, ``\\n``, and one compact JSON
document. X-Ray's limit is 64 kB per document; read strictly as 64,000 bytes
it is also below the largest IPv4 UDP payload (65,507 bytes), so one limit
covers both. A document over the limit is made to fit by shedding content in
this order, stopping as soon as it fits (each step is counted by the caller):

1. ``metadata_values``: metadata values longer than 1 KB encoded become a
   ``"[trimmed: N bytes]"`` marker;
2. ``metadata``: all metadata;
3. ``stack_frames``: exception stacks cut to 10 frames (``truncated`` says how
   many were left out), then dropped;
4. ``annotations``: all annotations;
5. ``long_strings``: remaining long strings (SQL query, exception messages,
   link attributes) cut to 1,000 characters;
6. ``minimal``: only the fields that identify the span and its outcome are
   kept (name, IDs, times, namespace, origin, error flags, http status).

The span stays visible in X-Ray at every step.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from ..values import json_value

__all__ = [
    "HEADER",
    "MAX_DOCUMENT_BYTES",
    "MAX_UDP_PAYLOAD_IPV4",
    "EncodedDocument",
    "encode_document",
    "encode_if_fits",
    "SHED_STEPS",
    "JSON_ENCODER",
]

HEADER = b'{"format":"json","version":1}\n'
MAX_DOCUMENT_BYTES = 64_000
MAX_UDP_PAYLOAD_IPV4 = 65_507
SHED_STEPS = ("metadata_values", "metadata", "stack_frames", "annotations", "long_strings", "minimal")

_LONG_VALUE_BYTES = 1024
_MAX_FRAMES = 10
_LONG_STRING_CHARS = 1000
_MINIMAL_KEYS = (
    "name", "id", "trace_id", "parent_id", "type", "start_time", "end_time", "in_progress",
    "namespace", "origin", "error", "fault", "throttle", "user",
)

# Documents come out of the translator already JSON-safe, so the circularity
# check is skipped; allow_nan=False still guarantees strict JSON.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False)

_orjson: Any
try:  # the optional `fast` extra: about 15 times faster on segment documents
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

JSON_ENCODER = "orjson" if _orjson is not None else "json"


def _encode_stdlib(doc: Dict[str, Any]) -> bytes:
    try:
        text = _ENCODER.encode(doc)
    except (TypeError, ValueError, RecursionError):
        # Something not JSON-safe reached here (a hand-built document, say).
        text = _ENCODER.encode(json_value(doc))
    return text.encode("utf-8", "replace")


def _has_non_finite(value: Any) -> bool:
    if type(value) is float:
        return value != value or value in (_INF, -_INF)
    if type(value) is dict:
        return any(_has_non_finite(item) for item in value.values())
    if type(value) is list:
        return any(_has_non_finite(item) for item in value)
    return False


_INF = float("inf")


class EncodedDocument(NamedTuple):
    datagram: bytes
    shed: Tuple[str, ...]


def _encode(doc: Dict[str, Any]) -> bytes:
    if _orjson is not None:
        try:
            body = _orjson.dumps(doc)
        except (TypeError, ValueError):  # lone surrogates, huge ints, foreign types
            return _encode_stdlib(doc)
        # orjson writes NaN and Infinity as null; translated documents hold none,
        # and a hand-built one that does goes the strict way instead.
        if b"null" in body and _has_non_finite(doc):
            return _encode_stdlib(doc)
        return body
    return _encode_stdlib(doc)


def _trim_metadata_values(doc: Dict[str, Any]) -> None:
    trimmed = {}
    for namespace, values in doc["metadata"].items():
        if not isinstance(values, dict):
            continue
        new_values = {}
        for key, value in values.items():
            size = len(_encode(value)) if not isinstance(value, (bool, int, float)) else 0
            new_values[key] = f"[trimmed: {size} bytes]" if size > _LONG_VALUE_BYTES else value
        trimmed[namespace] = new_values
    doc["metadata"] = trimmed


def _exceptions(doc: Dict[str, Any]) -> List[Dict[str, Any]]:
    cause = doc.get("cause")
    if isinstance(cause, dict) and isinstance(cause.get("exceptions"), list):
        return cause["exceptions"]
    return []


def _set_exceptions(doc: Dict[str, Any], exceptions: List[Dict[str, Any]]) -> None:
    cause = dict(doc["cause"])
    cause["exceptions"] = exceptions
    doc["cause"] = cause


def _cut_stacks(doc: Dict[str, Any], keep: int) -> None:
    exceptions = []
    for exception in _exceptions(doc):
        stack = exception.get("stack")
        if isinstance(stack, list) and len(stack) > keep:
            exception = dict(exception)
            exception["truncated"] = exception.get("truncated", 0) + len(stack) - keep
            if keep:
                exception["stack"] = stack[:keep]
            else:
                del exception["stack"]
        exceptions.append(exception)
    if exceptions:
        _set_exceptions(doc, exceptions)


def _cut(value: Any) -> Any:
    return value[:_LONG_STRING_CHARS] if isinstance(value, str) else value


def _cut_long_strings(doc: Dict[str, Any]) -> None:
    if isinstance(doc.get("sql"), dict):
        sql = dict(doc["sql"])
        for key in sql:
            sql[key] = _cut(sql[key])
        doc["sql"] = sql
    exceptions = _exceptions(doc)
    if exceptions:
        _set_exceptions(doc, [{key: _cut(value) for key, value in e.items()} for e in exceptions])
    if "links" in doc:
        doc["links"] = [{k: v for k, v in link.items() if k != "attributes"} for link in doc["links"]]


def _minimal(doc: Dict[str, Any]) -> Dict[str, Any]:
    small = {key: doc[key] for key in _MINIMAL_KEYS if key in doc}
    if isinstance(small.get("name"), str):
        small["name"] = small["name"][:200]
    status = doc.get("http", {}).get("response", {}).get("status") if isinstance(doc.get("http"), dict) else None
    if isinstance(status, int):
        small["http"] = {"response": {"status": status}}
    return small


def encode_if_fits(doc: Dict[str, Any], max_bytes: int = MAX_DOCUMENT_BYTES) -> Optional[bytes]:
    """The datagram for ``doc`` as it is, or ``None`` if it is over ``max_bytes``."""
    body = _encode(doc)
    return HEADER + body if len(body) <= max_bytes else None


def encode_document(doc: Dict[str, Any], max_bytes: int = MAX_DOCUMENT_BYTES) -> EncodedDocument:
    """Encode ``doc`` as one datagram no larger than ``len(HEADER) + max_bytes``.

    ``doc`` itself is never modified; shedding works on copies.
    """
    body = _encode(doc)
    if len(body) <= max_bytes:
        return EncodedDocument(HEADER + body, ())

    work = dict(doc)
    shed: List[str] = []

    def fits(step: str) -> bool:
        shed.append(step)
        nonlocal body
        body = _encode(work)
        return len(body) <= max_bytes

    if "metadata" in work:
        _trim_metadata_values(work)
        if fits("metadata_values"):
            return EncodedDocument(HEADER + body, tuple(shed))
        del work["metadata"]
        if fits("metadata"):
            return EncodedDocument(HEADER + body, tuple(shed))
    if any("stack" in e for e in _exceptions(work)):
        _cut_stacks(work, _MAX_FRAMES)
        body = _encode(work)
        if len(body) <= max_bytes:
            shed.append("stack_frames")
            return EncodedDocument(HEADER + body, tuple(shed))
        _cut_stacks(work, 0)
        if fits("stack_frames"):
            return EncodedDocument(HEADER + body, tuple(shed))
    if "annotations" in work:
        del work["annotations"]
        if fits("annotations"):
            return EncodedDocument(HEADER + body, tuple(shed))
    _cut_long_strings(work)
    if fits("long_strings"):
        return EncodedDocument(HEADER + body, tuple(shed))
    work = _minimal(work)
    shed.append("minimal")
    body = _encode(work)
    return EncodedDocument(HEADER + body, tuple(shed))
