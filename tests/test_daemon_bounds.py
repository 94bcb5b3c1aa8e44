"""The daemon's work and disk are bounded (issue 9, defect 8, the daemon's part).

One 64 KB datagram of empty OTLP spans used to become 24,000 documents and
11 MB of JSONL, and the ``--out`` file grew without limit. Now one datagram
yields at most ``MAX_DOCUMENTS_PER_DATAGRAM`` documents (a datagram holding
more spans is rejected whole, counted under ``too many spans``), and the
output file is rotated to ``FILE.1`` ... ``FILE.N`` past a size. Sizes and
counts are asserted, never time.
"""

from __future__ import annotations

import base64
import io
import json
import signal
import socket

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_xray.daemon.outfile import RotatingTextFile, parse_size
from otel_xray.daemon.server import MAX_DOCUMENTS_PER_DATAGRAM, LocalDaemon
from otel_xray.wire.otlp_udp import encode_otlp_datagrams, load_encoder

from .conftest import cli_process, cli_run
from .spans import raw_span, span_context
from .test_daemon_server import send
from .test_daemon_validate import GOOD
from .test_wire_udp import free_udp_port

HEADER = b'{"format":"json","version":1}\n'


def _otlp_datagram(spans: int, with_ids: bool = False) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for index in range(spans):
        span = scope.spans.add()
        if with_ids:
            span.trace_id = (0x5759E988BD862E3FE1BE46A994272793).to_bytes(16, "big")
            span.span_id = (index + 1).to_bytes(8, "big")
            span.start_time_unix_nano = 1_700_000_000_000_000_000
            span.end_time_unix_nano = 1_700_000_001_000_000_000
    return HEADER + b"T1S" + base64.b64encode(request.SerializeToString())


def test_a_datagram_of_24000_empty_spans_is_rejected_whole_and_writes_one_short_record():
    datagram = _otlp_datagram(24_000)
    assert len(datagram) < 65_507
    out = io.StringIO()
    with LocalDaemon("127.0.0.1", 0, out=out, keep=False) as daemon:
        send(daemon.endpoint, datagram)
        daemon.wait_quiet(quiet=0.2, timeout=5)
    assert daemon.document_count == 0
    assert daemon.rejected == {"too many spans": 1}
    (line,) = out.getvalue().splitlines()
    assert len(line) < 1_000
    assert f"too many spans: 24000 in one datagram, over the limit of {MAX_DOCUMENTS_PER_DATAGRAM}" in json.loads(line)["errors"][0]


def test_a_datagram_at_the_limit_is_translated_whole():
    datagram = _otlp_datagram(MAX_DOCUMENTS_PER_DATAGRAM, with_ids=True)
    with LocalDaemon("127.0.0.1", 0, keep=False) as daemon:
        daemon.handle(datagram)
        daemon.handle(_otlp_datagram(MAX_DOCUMENTS_PER_DATAGRAM + 1, with_ids=True))
    assert daemon.document_count == MAX_DOCUMENTS_PER_DATAGRAM
    assert daemon.rejected == {"too many spans": 1}


def test_the_densest_datagrams_a_real_exporter_sends_are_under_the_limit():
    # Spans with nothing but what every span carries (IDs, kind, times), packed as the exporter packs them.
    spans = [raw_span(name="", parent=None, context=span_context(span_id=i + 1)) for i in range(3000)]
    datagrams, too_large = encode_otlp_datagrams(load_encoder(), spans)
    assert not too_large and sum(count for _, count in datagrams) == 3000
    assert max(count for _, count in datagrams) <= MAX_DOCUMENTS_PER_DATAGRAM
    with LocalDaemon("127.0.0.1", 0, keep=False) as daemon:
        for datagram, _ in datagrams:
            daemon.handle(datagram)
    assert daemon.document_count == 3000 and not daemon.rejected


# ------------------------------------------------------------------ the output file
def _records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_rotation_keeps_a_bounded_number_of_files_each_under_the_cap(tmp_path):
    path = tmp_path / "out.jsonl"
    writer = RotatingTextFile(str(path), max_bytes=1_000, backups=2)
    for index in range(100):
        writer.write(json.dumps({"n": index, "pad": "x" * 80}) + "\n")
    writer.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["out.jsonl", "out.jsonl.1", "out.jsonl.2"]
    assert all((tmp_path / name).stat().st_size <= 1_000 for name in files)
    kept = _records(path.with_name("out.jsonl.2")) + _records(path.with_name("out.jsonl.1")) + _records(path)
    numbers = [record["n"] for record in kept]
    assert numbers == list(range(100 - len(numbers), 100))  # the newest records, in order, none torn
    # Records 0-9 take 100 bytes (exactly one file), 10-99 take 101 (nine to a file): ten files in all, three kept.
    assert writer.rotations == 10 and len(numbers) == 27


def test_a_record_larger_than_the_cap_gets_a_file_of_its_own(tmp_path):
    path = tmp_path / "out.jsonl"
    writer = RotatingTextFile(str(path), max_bytes=100, backups=1)
    writer.write("a" * 10 + "\n")
    writer.write("b" * 500 + "\n")
    writer.write("c" * 10 + "\n")
    writer.close()
    assert path.read_text() == "c" * 10 + "\n"
    assert path.with_name("out.jsonl.1").read_text() == "b" * 500 + "\n"
    assert not path.with_name("out.jsonl.2").exists()


def test_appending_to_an_existing_file_counts_what_is_already_there(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("x" * 950 + "\n")
    writer = RotatingTextFile(str(path), max_bytes=1_000, backups=1)
    writer.write("y" * 60 + "\n")
    writer.close()
    assert path.with_name("out.jsonl.1").read_text() == "x" * 950 + "\n"
    assert path.read_text() == "y" * 60 + "\n"


def test_zero_means_no_cap(tmp_path):
    path = tmp_path / "out.jsonl"
    writer = RotatingTextFile(str(path), max_bytes=0, backups=3)
    for _ in range(50):
        writer.write("z" * 100 + "\n")
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"] and path.stat().st_size == 5_050


def test_sizes_are_counted_in_utf8_bytes(tmp_path):
    path = tmp_path / "out.jsonl"
    writer = RotatingTextFile(str(path), max_bytes=100, backups=1)
    writer.write("é" * 40 + "\n")  # 81 bytes
    writer.write("é" * 40 + "\n")
    writer.close()
    assert path.stat().st_size == 81 and path.with_name("out.jsonl.1").stat().st_size == 81


@pytest.mark.parametrize(
    "text, size",
    [("0", 0), ("1000", 1000), ("64k", 64 * 1024), ("64K", 64 * 1024), ("10M", 10 * 1024**2), ("10MB", 10 * 1024**2), ("1g", 1024**3)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1", "ten", "1.5M", "10X", "٢٠٠٠"])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_daemon_command_rotates_its_out_file(tmp_path):
    port = free_udp_port()
    out = tmp_path / "got.jsonl"
    with cli_process(
        "daemon", "--listen", f"127.0.0.1:{port}", "--out", str(out),
        "--out-max-bytes", "2k", "--out-backups", "2", "--duration", "30", "--no-db",
    ) as process:
        assert b"listening on udp" in process.stdout.readline()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for index in range(60):
                sock.sendto(HEADER + json.dumps(dict(GOOD, id="%016x" % (index + 1))).encode(), ("127.0.0.1", port))
                process.stdout.readline()  # one printed line per document: received before the next is sent
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["got.jsonl", "got.jsonl.1", "got.jsonl.2"]
    assert all(p.stat().st_size <= 2048 for p in tmp_path.iterdir())
    ids = [r["document"]["id"] for name in ("got.jsonl.2", "got.jsonl.1", "got.jsonl") for r in _records(tmp_path / name)]
    assert ids == ["%016x" % (i + 1) for i in range(60 - len(ids), 60)]
    assert b"received 60 document(s)" in stdout
    assert b"rotated" in stdout  # the summary says that older records were rotated away


def test_daemon_help_documents_the_output_cap():
    result = cli_run("daemon", "--help", text=True)
    text = " ".join(result.stdout.split())
    assert "--out-max-bytes" in text and "--out-backups" in text and "FILE.jsonl.1" in text
    assert "default 64M" in text and "default 4" in text


def test_daemon_command_refuses_a_bad_size():
    result = cli_run("daemon", "--out-max-bytes", "ten", "--duration", "0", text=True)
    assert result.returncode == 2 and "--out-max-bytes" in result.stderr and "Traceback" not in result.stderr
