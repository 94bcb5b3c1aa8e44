"""``error``/``fault``/``throttle`` and ``cause`` (R34-R41).

HTTP status decides the flags when it is 4xx or 5xx, whatever the span
status; otherwise ``fault`` is the span's ERROR status. ``cause`` comes from
exception events whenever there are any (even on a successful span), else
from the status description of an ERROR span.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from opentelemetry.trace import StatusCode

from ..ids import new_segment_id
from ..values import clean_str
from .http import status_code
from .stacktrace import parse_stacktrace

__all__ = ["error_flags", "make_cause"]

EXCEPTION_EVENT = "exception"
AWS_HTTP_FAILURE_EVENT = "HTTP request failure"


def error_flags(attributes: Mapping[str, Any], status: StatusCode) -> Tuple[bool, bool, bool]:
    """``(error, fault, throttle)`` from the HTTP status code and the span status (R35, R36)."""
    code = attributes.get("http.status_code")
    if code is None:
        code = attributes.get("http.response.status_code")
    code = status_code(code) if code is not None else None
    if code is not None and 400 <= code <= 499:
        return True, False, code == 429
    if code is not None and 500 <= code <= 599:
        return False, True, False
    return False, status is StatusCode.ERROR, False


def _text(attributes: Mapping[str, Any], key: str) -> str:
    value = attributes.get(key)
    if value is None:
        return ""
    return clean_str(value if type(value) is str else str(value))


# Exceptions recorded by instrumented code repeat (the same error from the same
# place gives the same text), so parsed stack traces are cached, bounded. The
# cached frame lists are shared between documents and never modified.
_PARSED: Dict[Tuple[Optional[str], str, str, str], List[Tuple[str, str, List[Dict[str, Any]]]]] = {}
_PARSED_SIZE = 256


def _parsed_chain(language: Optional[str], stacktrace: str, kind: str, message: str) -> List[Tuple[str, str, List[Dict[str, Any]]]]:
    key = (language, stacktrace, kind, message)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = [
            (
                parsed_kind,
                parsed_message,
                [{"path": clean_str(str(f["path"])), "line": f["line"], "label": clean_str(str(f["label"]))} for f in frames],
            )
            for parsed_kind, parsed_message, frames in parse_stacktrace(language, stacktrace, kind, message)
        ]
        if len(_PARSED) >= _PARSED_SIZE:
            _PARSED.clear()
        _PARSED[key] = parsed
    return parsed


def _exception_chain(
    language: Optional[str], attributes: Mapping[str, Any], remote: bool
) -> List[Dict[str, Any]]:
    parsed = _parsed_chain(
        language,
        _text(attributes, "exception.stacktrace"),
        _text(attributes, "exception.type"),
        _text(attributes, "exception.message"),
    )
    chain: List[Dict[str, Any]] = []
    for kind, message, stack in parsed:
        exception: Dict[str, Any] = {"id": new_segment_id(), "type": kind, "message": message, "remote": remote}
        if stack:
            exception["stack"] = stack
        if chain:
            chain[-1]["cause"] = exception["id"]
        chain.append(exception)
    return chain


def _aws_http_failure(event: Any, remote: bool) -> Optional[Dict[str, Any]]:
    attributes = event.attributes or {}
    code = attributes.get("http.response.status_code")
    text = attributes.get("aws.http.error_message")
    if code is None or text is None:
        return None
    seconds = event.timestamp / 1e9 if event.timestamp else 0.0
    return {
        "id": new_segment_id(),
        "type": "aws.http.error.event",
        "message": clean_str(f"{code}@{seconds:.6f}@{text}"),
        "remote": True,
    }


def make_cause(
    events: Sequence[Any],
    attributes: Mapping[str, Any],
    status: StatusCode,
    description: Optional[str],
    language: Optional[str],
    remote: bool,
    consumed: Set[str],
) -> Optional[Dict[str, Any]]:
    """The ``cause`` object, or ``None``. ``remote`` is true for CLIENT and PRODUCER spans."""
    if not events and status is not StatusCode.ERROR:
        return None
    is_aws_sdk = attributes.get("rpc.system") == "aws-api"
    exceptions: List[Dict[str, Any]] = []
    found_event = False
    for event in events:
        name = event.name
        if name == EXCEPTION_EVENT:
            found_event = True
            exceptions.extend(_exception_chain(language, event.attributes or {}, remote))
        elif name == AWS_HTTP_FAILURE_EVENT and is_aws_sdk:
            found_event = True
            failure = _aws_http_failure(event, remote)
            if failure is not None:
                exceptions.append(failure)
    if found_event:
        return {"exceptions": exceptions}
    if status is not StatusCode.ERROR:
        return None
    if "http.status_text" in attributes:
        consumed.add("http.status_text")
    message = description or _text(attributes, "http.status_text")
    if not message:
        return None
    return {"exceptions": [{"id": new_segment_id(), "type": "", "message": clean_str(message)}]}
