"""Encoding: segment documents as compact UTF-8 JSON bodies, within X-Ray's size limit.

Internal (see ``otel_xray.__all__`` for the public API). A body is one compact
JSON document; the UDP transport puts the daemon's header line (:data:`HEADER`)
in front of it, the API transport sends it as it is.

X-Ray's limit is 64 kB per document; read strictly as 64,000 bytes it is also
below the largest IPv4 UDP payload (65,507 bytes), so one limit covers both. A document over the limit is made to fit by shedding content in
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

The span stays visible in X-Ray at every step. Each step is re-checked,
the last one too: a document whose minimal form is still over the limit (an
absurd ID, say) is not sent, and the caller counts its spans as lost
(``too_large``).

A document that holds embedded subsegments and is too large as a whole is
split first: the parent and each subsegment go as documents of their own,
each subsegment given back the ``trace_id``, ``parent_id`` and ``type`` an
independent subsegment needs (its embedded form leaves them out)
(:func:`encode_parts`). The walks here are loops, not recursion; the
nesting depth itself is bounded before this step (``otel_xray.assemble``),
within what the JSON encoders handle.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from ..values import json_value

HEADER = b'{"format":"json","version":1}\n'
MAX_DOCUMENT_BYTES = 64_000
MAX_UDP_PAYLOAD_IPV4 = 65_507
#: The cause under which spans are counted when not even their minimal document fits.
TOO_LARGE = "too_large"

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


def _encode_stdlib(doc: Dict[str, Any]) -> bytes:
    try:
        text = _ENCODER.encode(doc)
    except (TypeError, ValueError, RecursionError):
        # Something not JSON-safe reached here (a hand-built document, say).
        text = _ENCODER.encode(json_value(doc))
    return text.encode("utf-8", "replace")


_INF = float("inf")


def _has_non_finite(value: Any) -> bool:
    # A loop, not recursion: any nesting depth is fine.
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is float:
            if item != item or item == _INF or item == -_INF:
                return True
        elif kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
    return False


def encode_body(doc: Dict[str, Any]) -> bytes:
    """``doc`` as compact, strict UTF-8 JSON (no header), whatever its size."""
    if _orjson is not None:
        try:
            body: bytes = _orjson.dumps(doc)
        except (TypeError, ValueError):  # lone surrogates, huge ints, foreign types, deep nesting
            return _encode_stdlib(doc)
        # orjson writes NaN and Infinity as null; translated documents hold none,
        # and a hand-built one that does goes the strict way instead.
        if b"null" in body and _has_non_finite(doc):
            return _encode_stdlib(doc)
        return body
    return _encode_stdlib(doc)


def encode_translated(doc: Dict[str, Any]) -> bytes:
    """:func:`encode_body` for a document the translator made (and the assembling step nested).

    Those hold no NaN or infinity (the translator writes non-finite numbers
    as strings), so the scan of the output for ``null`` that guards against
    orjson writing one as ``null`` is left out: on this path it cost more
    than the encoding itself.
    """
    if _orjson is not None:
        try:
            encoded: bytes = _orjson.dumps(doc)
            return encoded
        except (TypeError, ValueError):  # lone surrogates, huge ints, foreign types, deep nesting
            pass
    return _encode_stdlib(doc)


_encode = encode_body


class EncodedDocument(NamedTuple):
    """A body within the limit (``None`` if even the minimal document is over it) and the shedding steps taken."""

    body: Optional[bytes]
    shed: Tuple[str, ...]

    @property
    def datagram(self) -> Optional[bytes]:
        """The body as one datagram for the daemon (header line first)."""
        return None if self.body is None else HEADER + self.body


class Part(NamedTuple):
    """One document to send: its body (``None``: nothing fits), the spans it carries, what was shed."""

    body: Optional[bytes]
    spans: int
    shed: Tuple[str, ...]
    #: The document the body encodes (without the subsegments split off), to encode again for a smaller limit.
    document: Dict[str, Any]


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
    exceptions = cause.get("exceptions") if isinstance(cause, dict) else None
    return exceptions if isinstance(exceptions, list) else []


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


def encode_document(doc: Dict[str, Any], max_bytes: int = MAX_DOCUMENT_BYTES, body: Optional[bytes] = None) -> EncodedDocument:
    """Encode ``doc`` in at most ``max_bytes``, shedding content if needed (see the module's docstring).

    ``body`` is ``doc`` already encoded, when the caller has it. ``doc`` itself
    is never modified; shedding works on copies. Every step is checked, the
    last one too: ``body`` is ``None`` when nothing fits.
    """
    if body is None:
        body = _encode(doc)
    if len(body) <= max_bytes:
        return EncodedDocument(body, ())

    work = dict(doc)
    work.pop("subsegments", None)  # sent on their own by encode_parts, never shed
    shed: List[str] = []

    def fits(step: str) -> bool:
        shed.append(step)
        nonlocal body
        body = _encode(work)
        return len(body) <= max_bytes

    if "metadata" in work:
        _trim_metadata_values(work)
        if fits("metadata_values"):
            return EncodedDocument(body, tuple(shed))
        del work["metadata"]
        if fits("metadata"):
            return EncodedDocument(body, tuple(shed))
    if any("stack" in e for e in _exceptions(work)):
        _cut_stacks(work, _MAX_FRAMES)
        body = _encode(work)
        if len(body) <= max_bytes:
            shed.append("stack_frames")
            return EncodedDocument(body, tuple(shed))
        _cut_stacks(work, 0)
        if fits("stack_frames"):
            return EncodedDocument(body, tuple(shed))
    if "annotations" in work:
        del work["annotations"]
        if fits("annotations"):
            return EncodedDocument(body, tuple(shed))
    _cut_long_strings(work)
    if fits("long_strings"):
        return EncodedDocument(body, tuple(shed))
    work = _minimal(work)
    if fits("minimal"):
        return EncodedDocument(body, tuple(shed))
    return EncodedDocument(None, tuple(shed))


def count_entities(doc: Dict[str, Any]) -> int:
    """The segment or subsegment ``doc`` plus every subsegment embedded in it, at any depth (a loop)."""
    count = 0
    pending = [doc]
    while pending:
        entity = pending.pop()
        count += 1
        children = entity.get("subsegments")
        if children:
            pending.extend(children)
    return count


def _independent(child: Dict[str, Any], parent: Dict[str, Any]) -> None:
    """``child``, embedded in ``parent``, as a subsegment sent on its own: with ``trace_id``, ``parent_id`` and ``type``."""
    if "trace_id" not in child and "trace_id" in parent:
        child["trace_id"] = parent["trace_id"]
    if "parent_id" not in child and "id" in parent:
        child["parent_id"] = parent["id"]
    child.setdefault("type", "subsegment")


def encode_parts(
    doc: Dict[str, Any], spans: int, max_bytes: int = MAX_DOCUMENT_BYTES, body: Optional[bytes] = None
) -> List[Part]:
    """Encode ``doc`` (which carries ``spans`` spans, embedded subsegments included) as documents within ``max_bytes``.

    One part when it fits. Otherwise a document with embedded subsegments is
    split: the parent goes alone and each subsegment is tried as a document of
    its own, and so on down; a document without any is shed. Each entity is
    the root of at most one attempt, so the encoder is called O(entities)
    times. ``doc`` loses its ``subsegments`` when split (it is the caller's
    batch, not the user's). ``body``: ``doc`` already encoded, if at hand.
    The parts' spans add up to ``spans``: each subsegment split off carries
    itself and those embedded in it, the parent what is left (a local root's
    service segment holds its span's call and carries none of its own).
    """
    parts: List[Part] = []
    pending: List[Tuple[Dict[str, Any], int, Optional[bytes]]] = [(doc, spans, body)]
    while pending:
        entity, count, encoded = pending.pop()
        if encoded is None:
            encoded = _encode(entity)
        if len(encoded) <= max_bytes:
            parts.append(Part(encoded, count, (), entity))
            continue
        children = entity.pop("subsegments", None)
        if children:
            # Too large together. Last in, first out: the parent goes first, then its subsegments in order,
            # each now an independent subsegment of this entity.
            carried = 0
            for child in reversed(children):
                if isinstance(child, dict):
                    _independent(child, entity)
                child_spans = count_entities(child)
                carried += child_spans
                pending.append((child, child_spans, None))
            # The parent carries what its subsegments do not: none for a local root's service
            # segment, whose one span is the call inside it (translate.local_root).
            pending.append((entity, max(count - carried, 0), None))
            continue
        fitted = encode_document(entity, max_bytes, encoded)
        parts.append(Part(fitted.body, count, fitted.shed, entity))
    return parts
