"""Stack traces (``exception.stacktrace``) parsed into X-Ray exceptions with frames (docs/mapping.md, "cause").

Each parser returns a list of ``(type, message, frames)``: the thrown
exception first, then its causes, innermost frame first as X-Ray shows them.
The caller assigns IDs and links each exception to the next as its ``cause``.

Python gets a fresh parser rather than a copy of the Collector's: it reads
frames whose paths contain commas, exceptions whose line has no colon, and
explicit chaining (``raise ... from``), all of which the Collector drops.

Every parser is linear in its input and reads a bounded amount of it (a
stack trace arrives from the network when the daemon decodes OTLP): at most
:data:`MAX_STACKTRACE_CHARS` (the end of a Python traceback, where the thrown
exception is printed; the start of the others), each line cut to
:data:`MAX_LINE_CHARS`. No regular expression is used: the ones the Collector
uses backtrack quadratically on a long line.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from ..document import StackFrame

__all__ = ["ParsedException", "parse_stacktrace", "bounded_lines", "MAX_STACKTRACE_CHARS", "MAX_LINE_CHARS"]

ParsedException = Tuple[str, str, List[StackFrame]]

# Far beyond any document (64 kB): what is left out could never be sent anyway.
MAX_STACKTRACE_CHARS = 256 * 1024
# Longer lines are cut before parsing; a frame line is rarely over 300 characters.
MAX_LINE_CHARS = 4096
# Line numbers longer than this are not line numbers (and int() of 4,300+ digits raises).
_MAX_LINE_NUMBER_DIGITS = 9


def bounded_lines(stacktrace: str, keep_end: bool) -> List[str]:
    """The lines a parser reads: at most ``MAX_STACKTRACE_CHARS`` of the text (its end or its start), each line cut."""
    if len(stacktrace) > MAX_STACKTRACE_CHARS:
        if keep_end:
            stacktrace = stacktrace[-MAX_STACKTRACE_CHARS:]
            stacktrace = stacktrace[stacktrace.find("\n") + 1 :]  # drop the partial first line
        else:
            stacktrace = stacktrace[:MAX_STACKTRACE_CHARS]
            cut = stacktrace.rfind("\n")
            if cut >= 0:
                stacktrace = stacktrace[:cut]
    return [line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] for line in stacktrace.splitlines()]


def _frame(path: str, line: int, label: str) -> StackFrame:
    return {"path": path, "line": line, "label": label}


def _int(text: str) -> int:
    text = text.strip()
    return int(text) if text.isdecimal() and len(text) <= _MAX_LINE_NUMBER_DIGITS else 0


# ---------------------------------------------------------------- Python
_PY_FRAME_PREFIX = '  File "'
_PY_LINE_MARKER = '", line '
_PY_CHAIN_MARKERS = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


def _python_frame(line: str) -> Optional[StackFrame]:
    """``  File "<path>", line <n>[, in <label>]``, the path being everything up to the last ``", line``."""
    if not line.startswith(_PY_FRAME_PREFIX):
        return None
    body = line[len(_PY_FRAME_PREFIX) :]
    end = body.rfind(_PY_LINE_MARKER)
    if end < 0:
        return None
    number, sep, label = body[end + len(_PY_LINE_MARKER) :].partition(", in ")
    if not number.isdecimal():
        return None
    return _frame(body[:end], _int(number), label if sep else "")


def _split_type_message(text: str) -> Tuple[str, str]:
    kind, sep, message = text.partition(":")
    if not sep:
        return text.strip(), ""
    return kind.strip(), message[1:] if message.startswith(" ") else message


def _python_block(lines: List[str]) -> Tuple[List[StackFrame], str]:
    """Frames (outermost first) and the exception text of one printed traceback."""
    frames: List[StackFrame] = []
    text_start = None
    for index, line in enumerate(lines):
        frame = _python_frame(line)
        if frame is not None:
            frames.append(frame)
            text_start = None
            continue
        if line.startswith("  ") or line.startswith("Traceback (most recent call last)") or not line.strip():
            continue  # source lines, caret markers, headers, blanks
        if text_start is None:
            text_start = index
    text = "\n".join(lines[text_start:]).strip() if text_start is not None else ""
    return frames, text


def parse_python(stacktrace: str, kind: str, message: str) -> List[ParsedException]:
    blocks: List[List[str]] = [[]]
    for line in bounded_lines(stacktrace, keep_end=True):
        if line.strip() in _PY_CHAIN_MARKERS:
            blocks.append([])
        else:
            blocks[-1].append(line)
    parsed: List[ParsedException] = []
    # Printed oldest cause first; X-Ray wants the thrown exception first.
    for position, block in enumerate(reversed(blocks)):
        frames, text = _python_block(block)
        frames.reverse()
        if position == 0:
            parsed.append((kind, message, frames))
        elif text or frames:
            cause_type, cause_message = _split_type_message(text)
            parsed.append((cause_type, cause_message, frames))
    return parsed


# ---------------------------------------------------------------- Java (and PHP)
def parse_java(stacktrace: str, kind: str, message: str) -> List[ParsedException]:
    # (type, message parts, frames): a cause's message continues on the lines after "Caused by:",
    # joined without a separator as the Collector does; the parts are joined once, at the end.
    entries: List[Tuple[str, List[str], List[StackFrame]]] = [(kind, [message], [])]
    in_cause_message = False
    for line in bounded_lines(stacktrace, keep_end=False)[1:]:
        if line.startswith("\tat ") and "(" in line and line.endswith(")"):
            in_cause_message = False
            label, _, location = line[4:].partition("(")
            if "/" in label:
                label = label.split("/", 1)[1]
            path, sep, number = location[:-1].partition(":")
            entries[-1][2].append(_frame(path, _int(number) if sep else 0, label))
        elif line.startswith("Caused by: "):
            cause_type, cause_message = _split_type_message(line[len("Caused by: ") :])
            entries.append((cause_type, [cause_message], []))
            in_cause_message = True
        elif in_cause_message and not line.startswith("\t"):
            entries[-1][1].append(line)
        # "\t... N more", "\tSuppressed:" blocks and malformed lines are skipped.
    return [(entry_type, "".join(parts), frames) for entry_type, parts, frames in entries]


# ---------------------------------------------------------------- JavaScript
def parse_javascript(stacktrace: str, kind: str, message: str) -> List[ParsedException]:
    frames: List[StackFrame] = []
    for line in bounded_lines(stacktrace, keep_end=False)[1:]:
        if not line.startswith("    at "):
            continue
        body = line[len("    at ") :]
        label = ""
        if "(" in body:
            if not body.endswith(")"):
                continue
            label, _, location = body.partition("(")
            location = location[:-1]
        else:
            location = body
        pieces = location.split(":")
        path, number = location, 0
        if len(pieces) >= 3:  # path:line:column
            path, number = pieces[0], _int(pieces[1])
        elif len(pieces) == 1 and "native" in location:
            path = "native"
        if path or label or number:
            frames.append(_frame(path, number, label))
    return [(kind, message, frames)]


# ---------------------------------------------------------------- .NET
def parse_dotnet(stacktrace: str, kind: str, message: str) -> List[ParsedException]:
    frames: List[StackFrame] = []
    for raw in bounded_lines(stacktrace, keep_end=False)[1:]:
        line = raw.strip()
        if not line.startswith("at "):
            continue
        if " in " in line:
            label, _, location = line.partition(" in ")
            path, _, number = location.rpartition(":")
            number = number[len("line ") :] if number.startswith("line ") else number
            frames.append(_frame(path, _int(number), label[3:]))
        elif ")" in line:
            frames.append(_frame("", 0, line[3 : line.rindex(")") + 1]))
    return [(kind, message, frames)]


# ---------------------------------------------------------------- Go
def _go_location(line: str) -> Optional[Tuple[str, int]]:
    """``\\t/path/file.go:12 +0x1d``: the first word, split at its last colon."""
    words = line.split(None, 1)
    if not words:
        return None
    path, sep, number = words[0].rpartition(":")
    if not sep or not path or not number.isdecimal():
        return None
    return path, _int(number)


def parse_go(stacktrace: str, kind: str, message: str) -> List[ParsedException]:
    frames: List[StackFrame] = []
    lines = [line for line in bounded_lines(stacktrace, keep_end=False)[1:] if line.strip()]
    for label_line, location_line in zip(lines[0::2], lines[1::2]):
        location = _go_location(location_line)
        if location is not None:
            frames.append(_frame(location[0], location[1], label_line.strip()))
    return [(kind, message, frames)]


_PARSERS: Dict[str, Callable[[str, str, str], List[ParsedException]]] = {
    "python": parse_python,
    "java": parse_java,
    "php": parse_java,
    "javascript": parse_javascript,
    "nodejs": parse_javascript,
    "webjs": parse_javascript,
    "dotnet": parse_dotnet,
    "go": parse_go,
}


def parse_stacktrace(language: Optional[str], stacktrace: str, kind: str, message: str) -> List[ParsedException]:
    """Parse ``stacktrace`` as printed by ``language``; unknown languages give one frameless exception."""
    parser = _PARSERS.get(language or "")
    if parser is None or not stacktrace:
        return [(kind, message, [])]
    try:
        return parser(stacktrace, kind, message)
    except Exception:  # a parser bug must never cost the document
        return [(kind, message, [])]
