"""Span data never reaches the developer's terminal as control characters (issue 9, defect 5).

Exception messages, names and URLs come from user input. Printed raw, ESC
and BEL retitle the window or clear the screen, CR overwrites a line and a
newline forges whole lines ("... -- valid"); bidi overrides reorder what is
shown. The CLI shows them as visible escapes instead, through one helper.
"""

from __future__ import annotations

import json
import signal
import socket

import pytest

from otel_xray.daemon.show import document_line, escape_controls, render_traces
from otel_xray.daemon.validate import validate_document

from .conftest import cli_process, cli_run
from .test_daemon_validate import GOOD
from .test_wire_udp import free_udp_port

HEADER = b'{"format":"json","version":1}\n'


@pytest.mark.parametrize(
    "text, shown",
    [
        ("plain text, café, 東京, emoji \U0001f600", "plain text, café, 東京, emoji \U0001f600"),
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        ("\x1b[2J", "\\x1b[2J"),
        ("a\rb", "a\\rb"),
        ("a\nb", "a\\nb"),
        ("a\tb", "a\\tb"),
        ("\x00\x7f", "\\x00\\x7f"),
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("\x85", "\\x85"),  # C1 next line
        ("user\u202eexe.txt", "user\\u202eexe.txt"),  # right-to-left override
        ("\u2066\u2067\u2068\u2069\u200e\u200f\u061c", "\\u2066\\u2067\\u2068\\u2069\\u200e\\u200f\\u061c"),
        ("line\u2028sep\u2029para", "line\\u2028sep\\u2029para"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("already \\x1b escaped", "already \\x1b escaped"),
    ],
)
def test_escape_controls(text, shown):
    assert escape_controls(text) == shown
    assert escape_controls(shown) == shown  # idempotent: escaping twice changes nothing


HOSTILE_DOC = dict(
    GOOD,
    name="svc",
    http={"request": {"method": "GET\x1b[31m", "url": "http://x/\r\x1b]0;owned\x07\nabc  [segment]  -- valid"}, "response": {"status": 500}},
    sql={"sanitized_query": "SELECT \x1b[2J 1"},
    aws={"operation": "Get\u202eItem"},
    namespace="remote\x07",
    fault=True,
    cause={"exceptions": [{"id": "0000000000000001", "type": "Err\x9b1m", "message": "boom\n0000 fake  -- valid\x1bc"}]},
)
FORBIDDEN = [chr(c) for c in range(0x20) if c != 0x0A] + [chr(c) for c in range(0x7F, 0xA0)] + ["\u202e", "\u2028", "\ud800"]


def _assert_safe(text: str, lines_expected: int) -> None:
    assert not any(ch in text for ch in FORBIDDEN), repr(text)
    assert len(text.splitlines()) == lines_expected, text


def test_document_line_and_tree_escape_span_data():
    verdict = validate_document(HOSTILE_DOC)
    line = document_line(HOSTILE_DOC, verdict)
    _assert_safe(line, 1)
    assert "\\x1b]0;owned\\x07\\nabc" in line and "\\r" in line and "Get\\u202eItem" in line
    tree = render_traces([(HOSTILE_DOC, verdict)])
    _assert_safe(tree, 2)  # "trace ..." and the segment's own line, nothing forged
    assert "boom\\n0000 fake  -- valid\\x1bc" in tree


def test_daemon_command_prints_hostile_span_data_escaped(tmp_path):
    port = free_udp_port()
    out = tmp_path / "got.jsonl"
    with cli_process("daemon", "--listen", f"127.0.0.1:{port}", "--out", str(out), "--duration", "30") as process:
        assert b"listening on udp" in process.stdout.readline()
        assert b"storing traces in" in process.stdout.readline()  # the default: a store beside the printout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(HEADER + json.dumps(HOSTILE_DOC).encode(), ("127.0.0.1", port))
            sock.sendto(b'{"format":"json","version":1}\x1b[2J\x07\n{}', ("127.0.0.1", port))  # a hostile header
            sock.sendto(HEADER + json.dumps(GOOD).encode(), ("127.0.0.1", port))
            lines = [process.stdout.readline() for _ in range(3)]
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    text = b"".join(lines).decode("utf-8") + stdout.decode("utf-8")
    _assert_safe(text, 3 + len(stdout.splitlines()))
    assert "http://x/\\r\\x1b]0;owned\\x07\\nabc" in lines[0].decode()
    assert lines[1].startswith(b"rejected datagram") and b"\\x1b[2J\\x07" in lines[1]
    assert lines[2].rstrip().endswith(b"-- valid")


def test_show_and_validate_print_hostile_span_data_escaped(tmp_path):
    path = tmp_path / "hostile.jsonl"
    path.write_text(
        json.dumps({"valid": False, "document": HOSTILE_DOC}) + "\n" + json.dumps(dict(HOSTILE_DOC, name="bad\x1b[2Jname")) + "\n",
        encoding="utf-8",
    )
    for command in ("show", "validate"):
        result = cli_run(command, str(path))
        assert b"Traceback" not in result.stderr, result.stderr
        text = result.stdout.decode("utf-8") + result.stderr.decode("utf-8")
        assert not any(ch in text for ch in FORBIDDEN), (command, text)
        assert "\\x1b" in text, (command, text)
        if command == "show":
            # one "trace" line and one line per document: the newline in the data forged nothing
            assert len(result.stdout.splitlines()) == 3, result.stdout
