"""Stack traces (``exception.stacktrace``) parsed into X-Ray exceptions with frames (R42-R47).

Each parser returns a list of ``(type, message, frames)``: the thrown
exception first, then its causes, innermost frame first as X-Ray shows them.
The caller assigns IDs and links each exception to the next as its ``cause``.

Python gets a fresh parser rather than a copy of the reference's: it reads
frames whose paths contain commas, exceptions whose line has no colon, and
explicit chaining (``raise ... from``), all of which the reference drops.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Tuple

__all__ = ["Frame", "ParsedException", "parse_stacktrace"]

Frame = Dict[str, object]
ParsedException = Tuple[str, str, List[Frame]]


def _frame(path: str, line: int, label: str) -> Frame:
    return {"path": path, "line": line, "label": label}


def _int(text: str) -> int:
    text = text.strip()
    return int(text) if text.isdigit() else 0


# ---------------------------------------------------------------- Python
_PY_FRAME = re.compile(r'^  File "(.*)", line (\d+)(?:, in (.*))?$')
_PY_CHAIN_MARKERS = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


def _split_type_message(text: str) -> Tuple[str, str]:
    kind, sep, message = text.partition(":")
    if not sep:
        return text.strip(), ""
    return kind.strip(), message[1:] if message.startswith(" ") else message


def _python_block(lines: List[str]) -> Tuple[List[Frame], str]:
    """Frames (outermost first) and the exception text of one printed traceback."""
    frames: List[Frame] = []
    text_start = None
    for index, line in enumerate(lines):
        match = _PY_FRAME.match(line)
        if match:
            frames.append(_frame(match.group(1), int(match.group(2)), match.group(3) or ""))
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
    for line in stacktrace.splitlines():
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
    parsed: List[ParsedException] = [(kind, message, [])]
    lines = stacktrace.splitlines()[1:]
    in_cause_message = False
    for line in lines:
        if line.startswith("\tat ") and "(" in line and line.endswith(")"):
            in_cause_message = False
            body = line[4:]
            label, _, location = body.partition("(")
            if "/" in label:
                label = label.split("/", 1)[1]
            location = location[:-1]
            path, sep, number = location.partition(":")
            parsed[-1][2].append(_frame(path, _int(number) if sep else 0, label))
        elif line.startswith("Caused by: "):
            cause_type, cause_message = _split_type_message(line[len("Caused by: ") :])
            parsed.append((cause_type, cause_message, []))
            in_cause_message = True
        elif in_cause_message and not line.startswith("\t"):
            last_type, last_message, frames = parsed[-1]
            parsed[-1] = (last_type, last_message + line, frames)
        # "\t... N more", "\tSuppressed:" blocks and malformed lines are skipped.
    return parsed


# ---------------------------------------------------------------- JavaScript
def parse_javascript(stacktrace: str, kind: str, message: str) -> List[ParsedException]:
    frames: List[Frame] = []
    for line in stacktrace.splitlines()[1:]:
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
    frames: List[Frame] = []
    for raw in stacktrace.splitlines()[1:]:
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
_GO_LOCATION = re.compile(r"([^:\s]+):(\d+)")


def parse_go(stacktrace: str, kind: str, message: str) -> List[ParsedException]:
    frames: List[Frame] = []
    lines = [line for line in stacktrace.splitlines()[1:] if line.strip()]
    for label_line, location_line in zip(lines[0::2], lines[1::2]):
        match = _GO_LOCATION.search(location_line)
        if match:
            frames.append(_frame(match.group(1), int(match.group(2)), label_line.strip()))
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
