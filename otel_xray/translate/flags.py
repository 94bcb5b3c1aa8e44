"""``error``, ``fault`` and ``throttle`` (docs/mapping.md, "Flags").

The HTTP status decides when it is 4xx or 5xx, whatever the span status;
otherwise ``fault`` is the span's ERROR status. The boolean span attributes
``aws.xray.error``, ``aws.xray.fault`` and ``aws.xray.throttle`` set their
flag on top of that (throttle implies error, as in X-Ray) and are consumed.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Set, Tuple

from opentelemetry.trace import StatusCode

__all__ = ["error_flags", "status_code", "FLAG_ATTRIBUTES", "STATUS_CODE_KEYS"]

# Old convention first, as the Collector reads them.
STATUS_CODE_KEYS = ("http.status_code", "http.response.status_code")
ERROR_ATTRIBUTE = "aws.xray.error"
FAULT_ATTRIBUTE = "aws.xray.fault"
THROTTLE_ATTRIBUTE = "aws.xray.throttle"
FLAG_ATTRIBUTES = frozenset((ERROR_ATTRIBUTE, FAULT_ATTRIBUTE, THROTTLE_ATTRIBUTE))


def status_code(value: Any) -> Optional[int]:
    """An HTTP status code as an int; numeric strings count too (the Collector reads them as 0)."""
    if type(value) is int:
        return value
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 9:
        return int(value)
    return None


def error_flags(attributes: Mapping[str, Any], status: StatusCode, consumed: Set[str]) -> Tuple[bool, bool, bool]:
    """``(error, fault, throttle)`` for a span; the ``aws.xray.*`` flag attributes it reads are consumed."""
    code = attributes.get(STATUS_CODE_KEYS[0])
    if code is None:
        code = attributes.get(STATUS_CODE_KEYS[1])
    number = status_code(code) if code is not None else None
    if number is not None and 400 <= number <= 499:
        error, fault, throttle = True, False, number == 429
    elif number is not None and 500 <= number <= 599:
        error, fault, throttle = False, True, False
    else:
        error, fault, throttle = False, status is StatusCode.ERROR, False
    if FLAG_ATTRIBUTES.isdisjoint(attributes):
        return error, fault, throttle
    for key in FLAG_ATTRIBUTES:
        value = attributes.get(key)
        if type(value) is bool:  # other types are not flags and stay in metadata
            consumed.add(key)
            if value:
                if key == ERROR_ATTRIBUTE:
                    error = True
                elif key == FAULT_ATTRIBUTE:
                    fault = True
                else:
                    throttle = error = True
    return error, fault, throttle
