"""Attribute values made representable in strict JSON: one home for both the translator and the wire.

The translator converts span attributes with :func:`json_value`; the encoder
falls back to it for a hand-built document that strict JSON cannot carry.

Internal (see ``otel_xray.__all__`` for the public API).
"""

from __future__ import annotations

import base64
import math
from typing import Any, Mapping

# Nesting deeper than this is replaced by a marker string: it bounds the work
# done on a pathological (or self-referencing) value.
MAX_NESTING = 16
NESTING_MARKER = "[nested too deep]"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def clean_str(value: str) -> str:
    """Return ``value`` as text that encodes to valid UTF-8.

    A Python ``str`` can hold lone surrogates (from ``surrogateescape`` decoding
    or careless slicing); they become U+FFFD, as Go's encoder does for invalid
    UTF-8 in the Collector.
    """
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def json_value(value: Any, depth: int = 0) -> Any:
    """Convert an attribute value to something strict JSON can carry exactly.

    ===================  ===============================================
    in                   out
    ===================  ===============================================
    str                  the same text; lone surrogates become U+FFFD
    bool, None           JSON true/false, null
    int in int64 range   JSON number
    int beyond int64     decimal string (no JSON parser would keep it)
    finite float         JSON number
    NaN, +Inf, -Inf      the strings "NaN", "Infinity", "-Infinity"
    bytes                standard base64 text, as the Collector emits
    sequence, set        JSON array (sets in iteration order)
    mapping              JSON object; keys converted with ``str``
    anything else        ``str(value)``
    nesting > 16         the string "[nested too deep]"
    ===================  ===============================================
    """
    kind = type(value)
    if kind is str:
        return value if value.isascii() else clean_str(value)
    if kind is bool or value is None:
        return value
    if kind is int:
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    if kind is float:
        return _float(value)
    if depth >= MAX_NESTING:
        return NESTING_MARKER
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_value(item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        return {clean_str(str(k)): json_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    # Subclasses of the scalar types, then anything else.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return json_value(int(value), depth)
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, str):
        return clean_str(str.__str__(value))
    try:
        return clean_str(str(value))
    except Exception:  # a broken __str__ must not break the export
        return f"<unprintable {kind.__name__}>"
