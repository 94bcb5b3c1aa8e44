"""``cause``: exceptions from exception events, else from an ERROR status (docs/mapping.md, "cause").

``cause`` comes from exception events whenever there are any (even on a
successful span), else from the status description of an ERROR span.

Python stacks are shown as aws-xray-sdk shows them: OpenTelemetry's own frames
(``use_span``, ``start_as_current_span``, instrumentation wrappers) are left
out, paths under the working directory are made relative to it and the
directory is given once as ``cause.working_directory``, and paths inside an
installed package (``site-packages/``) start at the package.
"""

from __future__ import annotations

from typing import Any, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from opentelemetry.trace import StatusCode

from ..document import Cause, EventLike, ExceptionRecord, StackFrame
from ..ids import new_segment_id
from ..values import clean_str
from ._attr import text
from .caches import BoundedCache
from .stacktrace import parse_stacktrace

__all__ = ["make_cause", "ParsedChain", "StackCache", "new_stack_cache", "EXCEPTION_EVENT", "STATUS_TEXT_ATTRIBUTE"]

EXCEPTION_EVENT = "exception"
AWS_HTTP_FAILURE_EVENT = "HTTP request failure"
# The message of an ERROR span without exception events and without a status description (then consumed).
STATUS_TEXT_ATTRIBUTE = "http.status_text"

# Parsed stack traces, per translator: stack traces up to 64 KiB are remembered, in 2 MiB.
STACK_CACHE_BYTES = 2 * 1024 * 1024
STACK_CACHE_KEY_CHARS = 64 * 1024

_PACKAGE_DIRS = ("/site-packages/", "/dist-packages/", "\\site-packages\\", "\\dist-packages\\")
_OTEL_DIRS = ("/opentelemetry/", "\\opentelemetry\\")


class ParsedChain(NamedTuple):
    """A parsed stack trace: ``(type, message, frames)`` per exception, and whether a path was made relative."""

    exceptions: List[Tuple[str, str, List[StackFrame]]]
    relative: bool


StackCache = BoundedCache[Tuple[Optional[str], str, str, str], ParsedChain]


def new_stack_cache(max_bytes: int = STACK_CACHE_BYTES) -> StackCache:
    return BoundedCache(max_bytes, STACK_CACHE_KEY_CHARS)


def _is_opentelemetry_frame(path: str) -> bool:
    return path.startswith("opentelemetry/") or any(part in path for part in _OTEL_DIRS)


def _python_path(path: str, working_directory: Optional[str]) -> Tuple[str, bool]:
    """The path as shown, and whether it was made relative to the working directory."""
    for marker in _PACKAGE_DIRS:
        index = path.rfind(marker)
        if index >= 0:
            return path[index + len(marker) :], False
    if working_directory and path.startswith(working_directory):
        rest = path[len(working_directory) :]
        if rest[:1] in ("/", "\\") and len(rest) > 1:
            return rest[1:], True
    return path, False


def _parse(language: Optional[str], stacktrace: str, kind: str, message: str, working_directory: Optional[str]) -> ParsedChain:
    relative = False
    exceptions: List[Tuple[str, str, List[StackFrame]]] = []
    for parsed_kind, parsed_message, frames in parse_stacktrace(language, stacktrace, kind, message):
        stack: List[StackFrame] = []
        for frame in frames:
            path = frame["path"]
            if language == "python":
                if _is_opentelemetry_frame(path):
                    continue
                path, made_relative = _python_path(path, working_directory)
                relative = relative or made_relative
            stack.append({"path": clean_str(path), "line": frame["line"], "label": clean_str(frame["label"])})
        exceptions.append((clean_str(parsed_kind), clean_str(parsed_message), stack))
    return ParsedChain(exceptions, relative)


def _parsed_chain(
    cache: Optional[StackCache], language: Optional[str], attributes: Mapping[str, Any], working_directory: Optional[str]
) -> ParsedChain:
    stacktrace = text(attributes, "exception.stacktrace")
    kind = text(attributes, "exception.type")
    message = text(attributes, "exception.message")
    if cache is None:
        return _parse(language, stacktrace, kind, message, working_directory)
    key = (language, stacktrace, kind, message)
    parsed = cache.get(key)
    if parsed is None:
        parsed = _parse(language, stacktrace, kind, message, working_directory)
        size = len(stacktrace) + len(kind) + len(message)
        # The frames hold the text again, in small dicts: about twice the text, plus a dict per frame.
        cache.put(key, parsed, size, 2 * size + 250 * sum(len(frames) for _, _, frames in parsed.exceptions))
    return parsed


def _exception_chain(parsed: ParsedChain, remote: bool) -> List[ExceptionRecord]:
    # The cached frame lists are shared between documents and never modified.
    chain: List[ExceptionRecord] = []
    for kind, message, stack in parsed.exceptions:
        exception: ExceptionRecord = {"id": new_segment_id(), "type": kind, "message": message, "remote": remote}
        if stack:
            exception["stack"] = stack
        if chain:
            chain[-1]["cause"] = exception["id"]
        chain.append(exception)
    return chain


def _aws_http_failure(event: EventLike) -> Optional[ExceptionRecord]:
    attributes = event.attributes or {}
    code = attributes.get("http.response.status_code")
    message = attributes.get("aws.http.error_message")
    if code is None or message is None:
        return None
    seconds = event.timestamp / 1e9 if event.timestamp else 0.0
    return {
        "id": new_segment_id(),
        "type": "aws.http.error.event",
        "message": clean_str(f"{code}@{seconds:.6f}@{message}"),
        "remote": True,
    }


def make_cause(
    events: Sequence[EventLike],
    attributes: Mapping[str, Any],
    status: StatusCode,
    description: Optional[str],
    language: Optional[str],
    remote: bool,
    consumed: Set[str],
    stack_cache: Optional[StackCache] = None,
    working_directory: Optional[str] = None,
) -> Optional[Cause]:
    """The ``cause`` object, or ``None``. ``remote`` is true for CLIENT and PRODUCER spans."""
    if not events and status is not StatusCode.ERROR:
        return None
    is_aws_sdk = attributes.get("rpc.system") == "aws-api"
    exceptions: List[ExceptionRecord] = []
    found_event = False
    relative = False
    for event in events:
        name = event.name
        if name == EXCEPTION_EVENT:
            found_event = True
            parsed = _parsed_chain(stack_cache, language, event.attributes or {}, working_directory)
            relative = relative or parsed.relative
            exceptions.extend(_exception_chain(parsed, remote))
        elif name == AWS_HTTP_FAILURE_EVENT and is_aws_sdk:
            found_event = True
            failure = _aws_http_failure(event)
            if failure is not None:
                exceptions.append(failure)
    if found_event:
        cause: Cause = {"exceptions": exceptions}
        if relative and working_directory:
            cause["working_directory"] = clean_str(working_directory)
        return cause
    if status is not StatusCode.ERROR:
        return None
    if STATUS_TEXT_ATTRIBUTE in attributes:
        consumed.add(STATUS_TEXT_ATTRIBUTE)
    message = description or text(attributes, STATUS_TEXT_ATTRIBUTE)
    if not message:
        return None
    return {"exceptions": [{"id": new_segment_id(), "type": "", "message": clean_str(message)}]}
