"""`show` and `validate` on malformed files, and with their output closed early (issue 9, defect 9).

They used to end in a traceback: wrong types, mixed ``start_time`` types, huge
integers, lone surrogates; and ``show | head`` printed ``BrokenPipeError``.
Now: clear one-line errors on stderr, the trees of whatever can be shown, and
a non-zero exit. Everything runs the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from .conftest import cli_process
from .conftest import cli_run as cli
from .test_daemon_validate import GOOD
from .test_wire_udp import free_udp_port

HEADER = '{"format":"json","version":1}'


def _jsonl(*documents) -> str:
    return "".join(json.dumps({"valid": False, "document": d}) + "\n" for d in documents)


def _child(**changes):
    return {**GOOD, "id": "0000000000000002", "parent_id": GOOD["id"], "type": "subsegment", **changes}


MALFORMED = [
    ("http.request a string", _jsonl(dict(GOOD, http={"request": "GET /"}))),
    ("http.response a list", _jsonl(dict(GOOD, http={"response": [200]}))),
    ("sql.sanitized_query a number", _jsonl(dict(GOOD, sql={"sanitized_query": 5}))),
    ("cause.exceptions an object", _jsonl(dict(GOOD, cause={"exceptions": {"a": 1}}))),
    ("cause.exceptions numbers", _jsonl(dict(GOOD, cause={"exceptions": [1, 2]}))),
    ("subsegments a number", _jsonl(dict(GOOD, subsegments=5))),
    ("subsegments of strings", _jsonl(dict(GOOD, subsegments=["a", "b"]))),
    ("mixed start_time types", _jsonl(GOOD, _child(start_time="early"), _child(id="0000000000000003", start_time=[1]))),
    ("a 400-digit start_time", _jsonl(dict(GOOD, start_time=int("9" * 400)), _child())),
    ("a 400-digit end_time", _jsonl(dict(GOOD, end_time=-int("9" * 400)))),
    ("a name with a lone surrogate", '{"document": {"name": "a\\ud800", "id": "53995c3f42cd8ad8", "start_time": 1, "end_time": 2}}\n'),
    ("ids that are lists and objects", _jsonl(dict(GOOD, trace_id=[1]), dict(GOOD, id={"a": 1}, parent_id=[2]))),
    ("a document that is not an object", _jsonl(5, "x", [GOOD])),
    ("a line that is not JSON", _jsonl(GOOD) + "{not json\n"),
    ("deeply nested JSON", "[" * 100_000 + "]" * 100_000 + "\n"),
    ("a number too long for Python", '{"document": {"start_time": ' + "9" * 5000 + "}}\n"),
]


@pytest.mark.parametrize("label, text", MALFORMED, ids=[m[0] for m in MALFORMED])
@pytest.mark.parametrize("command", ["show", "validate"])
def test_malformed_files_give_one_line_errors_and_exit_1(tmp_path, command, label, text):
    path = tmp_path / "bad.jsonl"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = cli(command, str(path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert b"Traceback" not in result.stderr and b"Error:" not in result.stderr, result.stderr
    stdout, stderr = result.stdout.decode("utf-8"), result.stderr.decode("utf-8")  # valid UTF-8 both
    assert all(line.isprintable() for line in (stdout + stderr).splitlines())
    if command == "validate":
        assert "INVALID" in stdout and "invalid" in stdout.splitlines()[-1]
    else:
        (summary,) = stderr.splitlines()[-1:]
        assert summary.startswith(f"otel-xray show: {path}: ") and "otel-xray validate" in summary


def test_show_still_draws_every_entity_of_a_parent_cycle(tmp_path):
    path = tmp_path / "cycle.jsonl"
    path.write_text(_jsonl(dict(GOOD, parent_id="0000000000000002"), _child(name="child")), encoding="utf-8")
    result = cli("show", str(path))
    lines = result.stdout.decode().splitlines()
    assert any(line.lstrip().startswith("svc  [segment]") for line in lines)
    assert any(line.lstrip().startswith("child  [subsegment]") for line in lines)


def test_show_marks_rather_than_hides_deep_nesting(tmp_path):
    chain = [dict(GOOD, id="%016x" % 1, name="n1")]
    for level in range(2, 81):
        chain.append(_child(id="%016x" % level, parent_id="%016x" % (level - 1), name=f"n{level}", start_time=GOOD["start_time"] + level / 1000))
    path = tmp_path / "deep.jsonl"
    path.write_text(_jsonl(*chain), encoding="utf-8")
    result = cli("show", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 81  # "trace ..." and every one of the 80 levels
    assert max(len(line) - len(line.lstrip()) for line in lines) <= 2 * 33
    assert "(depth 80)" in lines[-1]


@pytest.mark.parametrize("command", ["show", "validate"])
@pytest.mark.parametrize(
    "name, make",
    [
        ("absent", lambda tmp: tmp / "absent.jsonl"),
        ("a directory", lambda tmp: tmp),
        ("not UTF-8", lambda tmp: (tmp / "latin1.jsonl", (tmp / "latin1.jsonl").write_bytes(b'{"name": "caf\xe9"}\n'))[0]),
    ],
)
def test_unreadable_files_exit_2_with_one_line(tmp_path, command, name, make):
    path = make(tmp_path)
    result = cli(command, str(path))
    assert result.returncode == 2, result
    stderr = result.stderr.decode()
    assert len(stderr.splitlines()) == 1 and str(path) in stderr and "cannot read" in stderr, stderr


def test_show_reads_several_files_in_order(tmp_path):
    first, second = tmp_path / "got.jsonl.1", tmp_path / "got.jsonl"
    first.write_text(_jsonl(GOOD), encoding="utf-8")
    second.write_text(_jsonl(_child(name="later")), encoding="utf-8")
    result = cli("show", str(first), str(second))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0] == f"trace {GOOD['trace_id']}" and lines[2].lstrip().startswith("later  [subsegment]")


def _big_file(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(
        "".join(json.dumps({"valid": True, "document": dict(GOOD, id="%016x" % (i + 1), name=f"svc{i}")}) + "\n" for i in range(5000)),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("command", [["show"], ["validate", "--verbose"]])
def test_output_closed_early_exits_quietly(tmp_path, command):
    """``otel-xray show FILE | head -1``: the reader goes away; no BrokenPipeError, the usual SIGPIPE status."""
    with cli_process(*command, str(_big_file(tmp_path))) as process:
        assert process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read()
        assert process.wait(timeout=60) == 141
    assert stderr == b""


def test_daemon_with_its_output_closed_stops_quietly(tmp_path):
    port = free_udp_port()
    with cli_process("daemon", "--listen", f"127.0.0.1:{port}", "--duration", "30") as process:
        assert b"listening on udp" in process.stdout.readline()
        process.stdout.close()
        datagram = f"{HEADER}\n{json.dumps(GOOD)}".encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(600):  # until the pipe is seen closed
                if process.poll() is not None:
                    break
                sock.sendto(datagram, ("127.0.0.1", port))
                time.sleep(0.05)
        assert process.wait(timeout=30) == 141
        assert process.stderr.read() == b""
