"""Values to and from JSON: one home for the translator, the wire, sampling and the local daemon.

The translator converts span attributes with :func:`json_value`; the encoder
falls back to it for a hand-built document that strict JSON cannot carry.
:func:`json_number` and :func:`json_int` read numbers out of parsed JSON (rules
files, the sampling API's answers, requests to the local daemon), where Python
counts ``true`` and ``false`` as integers and JSON does not. They live here,
the lowest module of the package (it imports none of it), because both
``sampling`` and ``daemon`` read such numbers and neither may import the other's
side of the API.

Internal (see ``otel_xray.__all__`` for the public API).
"""

from __future__ import annotations

import base64
import math
from typing import Any, Mapping, Optional

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


def json_number(value: Any) -> Optional[float]:
    """``value`` as a float where parsed JSON holds a number, else ``None`` (``true``/``false`` are not numbers)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def json_int(value: Any) -> Optional[int]:
    """``value`` where parsed JSON holds an integer, else ``None`` (``true``/``false`` are not integers)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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
