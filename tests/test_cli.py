"""The otel-xray command: validate, daemon, show and demo, run as a user would."""

from __future__ import annotations

import json
import re
import socket

from otel_xray.cli import main
from otel_xray.daemon.server import flatten

from .conftest import cli_process, cli_run
from .test_daemon_validate import GOOD
from .test_wire_udp import free_udp_port

HEADER = '{"format":"json","version":1}'


def cli(*args, timeout=60):
    return cli_run(*args, text=True, timeout=timeout)


def test_validate_accepts_datagram_files_and_jsonl(tmp_path, capsys):
    datagrams = tmp_path / "datagrams.txt"
    datagrams.write_text(f"{HEADER}\n{json.dumps(GOOD)}\n\n{HEADER}\n{json.dumps(dict(GOOD, id='0000000000000002'))}\n")
    lines = tmp_path / "docs.jsonl"
    lines.write_text(json.dumps({"valid": True, "document": GOOD}) + "\n" + json.dumps(GOOD) + "\n")
    assert main(["validate", str(datagrams), str(lines)]) == 0
    assert "4 document(s), 4 valid, 0 invalid" in capsys.readouterr().out


def test_validate_reports_each_invalid_document_and_exits_1(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([GOOD, dict(GOOD, name="a,b"), dict(GOOD, start_time=None)]))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "item 2: INVALID" in out and "InvalidName" in out
    assert "item 3: INVALID" in out and "start_time" in out
    assert "3 document(s), 1 valid, 2 invalid" in out


def test_validate_missing_file_exits_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "absent.json")]) == 2


def test_daemon_command_receives_prints_and_stores(tmp_path):
    port = free_udp_port()
    out = tmp_path / "got.jsonl"
    daemon_args = ("daemon", "--listen", f"127.0.0.1:{port}", "--out", str(out), "--duration", "4")
    with cli_process(*daemon_args, text=True) as process:
        assert "listening on udp 127.0.0.1:%d" % port in process.stdout.readline()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(f"{HEADER}\n{json.dumps(GOOD)}".encode(), ("127.0.0.1", port))
            sock.sendto(b"junk", ("127.0.0.1", port))
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "svc  [segment]" in stdout and "-- valid" in stdout
    assert "rejected datagram (4 bytes): missing header or document" in stdout
    assert "received 1 document(s) holding 1 segment(s) and subsegment(s): 1 valid, 0 invalid; 1 malformed datagram(s)" in stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["valid"] for r in records] == [True, False]
    # The stored file feeds `validate` and `show`.
    assert cli("validate", str(out)).returncode == 1
    shown = cli("show", str(out))
    assert shown.returncode == 0 and f"trace {GOOD['trace_id']}" in shown.stdout


def test_daemon_refuses_a_non_loopback_address_unless_allowed():
    result = cli("daemon", "--listen", "0.0.0.0:2000", "--duration", "0")
    assert result.returncode == 2 and "--allow-remote" in result.stderr


def test_daemon_rejects_a_bad_listen_address():
    result = cli("daemon", "--listen", "nowhere")
    assert result.returncode == 2 and "--listen='nowhere'" in result.stderr


def test_demo_shows_the_trace_and_exits_0(tmp_path):
    result = cli("demo", "--out", str(tmp_path / "demo.jsonl"), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"all \d+ documents \(8 segments and subsegments\) are valid", out)
    tree = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(tree) == 8
    assert tree[0].startswith("  checkout  [segment]") and "http 200" in tree[0]
    assert any(line.startswith("    shop  [subsegment/remote]") and "sql " in line for line in tree)
    assert any(line.startswith("      inventory  [segment]") for line in tree)
    assert any("http 429" in line and "ERROR+THROTTLE" in line for line in tree)
    assert any(line.startswith("    DynamoDB  [subsegment/aws]") and "aws GetItem" in line for line in tree)
    assert any("cause ValueError: coupon SPRING24 has expired" in line for line in tree)
    # Each document's verdict is shown on its first line.
    assert all(line.endswith("-- valid") for line in tree if "-- " in line)
    stored = [json.loads(line) for line in (tmp_path / "demo.jsonl").read_text().splitlines()]
    assert all(record["valid"] for record in stored)
    assert sum(len(flatten(record["document"])) for record in stored) == 8
