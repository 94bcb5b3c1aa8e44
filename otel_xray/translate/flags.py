"""``error``, ``fault`` and ``throttle`` (docs/mapping.md, "Flags").

The HTTP status decides when it is 4xx or 5xx, whatever the span status;
otherwise ``fault`` is the span's ERROR status. The boolean span attributes
``aws.xray.error``, ``aws.xray.fault`` and ``aws.xray.throttle`` set their
flag on top of that (throttle implies error, as in X-Ray) and are consumed.
"""

from __future__ import annotations

from typing import AbstractSet, Any, Mapping, NamedTuple, Optional, Set, Tuple

from opentelemetry.trace import StatusCode

__all__ = ["error_flags", "error_flags_planned", "flag_plan", "FlagPlan", "status_code", "FLAG_ATTRIBUTES", "STATUS_CODE_KEYS"]

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


_ERROR = StatusCode.ERROR
_FLAG_ORDER = (ERROR_ATTRIBUTE, FAULT_ATTRIBUTE, THROTTLE_ATTRIBUTE)


class FlagPlan(NamedTuple):
    """The status code and flag keys a span has, in the order they are read."""

    status_keys: Tuple[str, ...]
    flag_keys: Tuple[str, ...]


def flag_plan(keys: AbstractSet[str]) -> FlagPlan:
    return FlagPlan(tuple(key for key in STATUS_CODE_KEYS if key in keys), tuple(key for key in _FLAG_ORDER if key in keys))


_ALL_FLAGS = FlagPlan(STATUS_CODE_KEYS, _FLAG_ORDER)


def error_flags(attributes: Mapping[str, Any], status: StatusCode, consumed: Set[str]) -> Tuple[bool, bool, bool]:
    """``(error, fault, throttle)`` for a span; the ``aws.xray.*`` flag attributes it reads are consumed."""
    return error_flags_planned(_ALL_FLAGS, attributes, status, consumed)


def error_flags_planned(
    plan: FlagPlan, attributes: Mapping[str, Any], status: StatusCode, consumed: Set[str]
) -> Tuple[bool, bool, bool]:
    """:func:`error_flags` reading only the keys of ``plan`` (the others absent)."""
    number = None
    for key in plan.status_keys:
        code = attributes.get(key)
        if code is not None:
            number = status_code(code)
            break
    if number is not None and 400 <= number <= 499:
        error, fault, throttle = True, False, number == 429
    elif number is not None and 500 <= number <= 599:
        error, fault, throttle = False, True, False
    else:
        error, fault, throttle = False, status is _ERROR, False
    for key in plan.flag_keys:
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
