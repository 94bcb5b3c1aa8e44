"""The local daemon under hostile input: no datagram stops it, whatever its bytes.

Each payload below once ended ``otel-xray daemon`` (issue 9, defect 1): parsing
was guarded, but validation, counting, the JSONL write and the printout were
not. Each must now be counted as rejected or invalid, with a reason.
"""

from __future__ import annotations

import copy
import io
import json
import random
import signal
import socket
from typing import Any, Dict, List

import pytest

from otel_xray.daemon.server import LocalDaemon, flatten
from otel_xray.daemon.show import document_line, render_traces
from otel_xray.daemon.validate import REJECTION_CATEGORIES, Verdict, validate_document

from .conftest import cli_process
from .test_daemon_validate import GOOD
from .test_wire_udp import free_udp_port

HEADER = b'{"format":"json","version":1}\n'


def _doc(**changes: Any) -> bytes:
    return json.dumps(dict(GOOD, **changes)).encode()


# (label, body after the header, what the daemon must make of it)
HOSTILE = [
    ("top-level array", b"[1, 2]", "rejected"),
    ("top-level number", b"5", "rejected"),
    ("top-level string", b'"svc"', "rejected"),
    ("top-level null", b"null", "rejected"),
    ("subsegments a number", _doc(subsegments=5), "invalid"),
    ("subsegments holding numbers", _doc(subsegments=[1, "x", None]), "invalid"),
    ("http.request a string", _doc(http={"request": "GET /"}), "invalid"),
    ("http.response a list", _doc(http={"response": [200]}), "invalid"),
    ("sql.sanitized_query a number", _doc(sql={"sanitized_query": 5}), "invalid"),
    ("cause.exceptions an object", _doc(cause={"exceptions": {"0": {"id": "0000000000000001"}}}), "invalid"),
    ("cause.exceptions numbers", _doc(cause={"exceptions": [1, 2]}), "invalid"),
    ("cause.exceptions[0].message an object", _doc(cause={"exceptions": [{"id": "0000000000000001", "message": {"a": 1}}]}), "invalid"),
    ("400-digit start_time", _doc(start_time=int("9" * 400)), "invalid"),
    ("400-digit end_time", _doc(end_time=int("9" * 400)), "invalid"),
    ("400-digit times both", _doc(start_time=int("8" * 400), end_time=int("9" * 400)), "invalid"),
    ("name with a lone surrogate", _doc(name="svc\ud800"), "invalid"),
    ("id with a lone surrogate", _doc(id="\udfff" * 16), "invalid"),
    ("annotation key with a lone surrogate", _doc(annotations={"k\ud800": "v\udc00"}), "invalid"),
    ("trace_id a list", _doc(trace_id=["1-5759e988-bd862e3fe1be46a994272793"]), "invalid"),
    ("parent_id an object", _doc(parent_id={"id": 1}), "invalid"),
    ("name an object", _doc(name={"first": "svc"}), "invalid"),
    ("aws.operation a list", _doc(aws={"operation": ["GetItem"]}), "invalid"),
    ("start_time a string, end_time a number", _doc(start_time="1700000000"), "invalid"),
    ("escape codes everywhere", _doc(name="\x1b]0;pwned\x07", http={"request": {"url": "\r\x1b[2J\nforged"}}), "invalid"),
]
DEEP = 300  # nested subsegments: 600 levels of JSON, within the parser's limit
HOSTILE.append(
    (
        "deeply nested subsegments",
        b'{"name":"svc","id":"53995c3f42cd8ad8","trace_id":"1-5759e988-bd862e3fe1be46a994272793","start_time":1.5,"end_time":2.5,'
        + b'"subsegments":[{"name":"s","id":"0000000000000001","start_time":1.5,"end_time":2.5,' * DEEP
        + b'"subsegments":5'
        + b"}]" * DEEP
        + b"}",
        "invalid",
    )
)


@pytest.mark.parametrize("label, body, outcome", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_each_hostile_payload_is_counted_with_a_reason(label, body, outcome):
    out = io.StringIO()
    printed: List[str] = []
    daemon = LocalDaemon(
        "127.0.0.1",
        0,
        out=out,
        on_document=lambda received: printed.append(document_line(received.document, received.verdict)),
        on_rejected=lambda reason, data: printed.append(reason),
    )
    try:
        daemon.handle(HEADER + body)
        daemon.handle(HEADER + json.dumps(GOOD).encode())  # and it carries on
    finally:
        daemon.stop()
    record = json.loads(out.getvalue().splitlines()[0])
    assert record["valid"] is False and record["errors"], record
    if outcome == "rejected":
        assert daemon.rejected == {"document is not a JSON object": 1}
        assert daemon.document_count == 1
    else:
        assert sum(daemon.rejected.values()) == 0
        assert daemon.document_count == 2 and daemon.invalid_count == 1
    assert daemon.received()[-1].verdict.valid
    # What was written is valid UTF-8, and every printed line is one printable line.
    out.getvalue().encode("utf-8")
    assert all(line.isprintable() for line in printed), printed


def test_the_jsonl_record_keeps_a_lone_surrogate_as_a_json_escape():
    out = io.StringIO()
    with LocalDaemon("127.0.0.1", 0, out=out) as daemon:
        daemon.handle(HEADER + _doc(name="caf\u00e9\ud800"))
    text = out.getvalue()
    text.encode("utf-8")
    assert json.loads(text)["document"]["name"] == "caf\u00e9\ud800"
    assert daemon.document_count == 1


def test_a_failing_output_file_or_callback_does_not_stop_the_daemon():
    class FullDisk(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    def broken_callback(received: Any) -> None:
        raise RuntimeError("a bug in the caller's code")

    with LocalDaemon("127.0.0.1", 0, out=FullDisk(), on_document=broken_callback) as daemon:
        for _ in range(3):
            daemon.handle(HEADER + json.dumps(GOOD).encode())
    assert daemon.document_count == 3
    assert daemon.write_errors == 3 and "No space left" in daemon.last_write_error
    assert daemon.callback_errors == 3 and "a bug in the caller's code" in daemon.last_callback_error


def test_every_hostile_payload_through_udp_into_the_real_daemon_command(tmp_path):
    port = free_udp_port()
    out = tmp_path / "got.jsonl"
    final = dict(GOOD, name="final-and-valid")
    with cli_process("daemon", "--listen", f"127.0.0.1:{port}", "--out", str(out), "--duration", "30") as process:
        assert b"listening on udp" in process.stdout.readline()
        assert b"storing traces in" in process.stdout.readline()  # the default: a store beside the printout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _, body, _ in HOSTILE:
                sock.sendto(HEADER + body, ("127.0.0.1", port))
            sock.sendto(HEADER + json.dumps(final).encode(), ("127.0.0.1", port))
            # The daemon still answers: the line for the final datagram arrives, after one per hostile payload.
            lines = [process.stdout.readline() for _ in range(len(HOSTILE) + 1)]
        assert process.poll() is None, process.stderr.read()
        assert b"final-and-valid  [segment]" in lines[-1] and lines[-1].rstrip().endswith(b"-- valid")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert b"Traceback" not in stderr
    rejected = sum(1 for h in HOSTILE if h[2] == "rejected")
    invalid = len(HOSTILE) - rejected
    summary = stdout.decode("utf-8").strip().splitlines()[-1]
    assert f"received {invalid + 1} document(s)" in summary
    assert f"1 valid, {invalid} invalid; {rejected} malformed datagram(s)" in summary
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(HOSTILE) + 1
    assert [r["valid"] for r in records] == [False] * len(HOSTILE) + [True]
    # Nothing the daemon printed holds a control character but the line ends.
    for line in lines:
        assert line.endswith(b"\n") and line[:-1].decode("utf-8").isprintable(), line


# ------------------------------------------------------------------ the validator is total
_KEYS = [
    "name", "id", "trace_id", "parent_id", "type", "start_time", "end_time", "in_progress", "subsegments",
    "http", "request", "response", "method", "url", "status", "content_length", "aws", "operation", "ec2",
    "elastic_beanstalk", "deployment_id", "xray", "table_names", "sql", "sanitized_query", "preparation", "user",
    "annotations", "metadata", "AWS.x", "cause", "exceptions", "stack", "line", "message", "paths", "links",
    "attributes", "precursor_ids", "service", "version", "namespace", "error", "fault", "throttle", "document",
]


def _scalar(rng: random.Random) -> Any:
    return rng.choice(
        [
            None, True, False, 0, -1, 1.5, -0.0, 1e308, 2**63, -(2**64), int("9" * 400), -int("7" * 401),
            "", "svc", "53995c3f42cd8ad8", "1-5759e988-bd862e3fe1be46a994272793", "\ud800", "a\udfffb",
            "\x1b[2J\x07\r\n", "\u202e", "call", "subsegment", "x" * 300, "0000000000000000",
        ]
    )


def _shape(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 6 or roll < 0.35:
        return _scalar(rng)
    if roll < 0.6:
        return [_shape(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(_KEYS): _shape(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def _mutated_good(rng: random.Random) -> Dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    for _ in range(rng.randint(1, 5)):
        doc[rng.choice(_KEYS)] = _shape(rng, 1)
    return doc


def test_seeded_fuzz_the_validator_and_the_renderer_never_raise():
    rng = random.Random(9)
    shapes = [_shape(rng, 0) for _ in range(1500)] + [_mutated_good(rng) for _ in range(1500)]
    verdicts = []
    for shape in shapes:
        verdict = validate_document(shape)
        assert isinstance(verdict, Verdict)
        verdicts.append(verdict)
        for entity in flatten(shape):
            assert isinstance(entity, dict)
        if isinstance(shape, dict):
            assert document_line(shape, verdict).isprintable()
    rendered = render_traces([(s, v) for s, v in zip(shapes, verdicts)])
    assert all(line.isprintable() for line in rendered.splitlines())
    # The fuzz reaches both outcomes, and every error names where it is.
    assert any(v.valid for v in verdicts) and any(not v.valid for v in verdicts)
    assert all(error.startswith("document") for v in verdicts for error in v.errors)


def test_validator_is_total_on_values_python_can_build_but_json_cannot_carry():
    nested: Dict[str, Any] = dict(GOOD)
    node = nested
    for _ in range(5000):  # deeper than the interpreter's recursion limit
        child = {"name": "s", "id": "0000000000000001", "start_time": 1.5, "end_time": 2.5}
        node["subsegments"] = [child]
        node = child
    node["name"] = "bad,name"
    for doc in (
        dict(GOOD, start_time=10**5000),  # repr and json refuse over 4,300 digits on Python 3.11+
        dict(GOOD, annotations={1: "non-string key"}),
        dict(GOOD, metadata={("a",): {}}),
        dict(GOOD, http={"request": {"url": object()}}),
        dict(GOOD, start_time=float("inf")),
        nested,
    ):
        verdict = validate_document(doc)
        assert not verdict.valid and all(isinstance(error, str) for error in verdict.errors)
    # Every level was checked, the deepest one too; the path in the message is shortened.
    errors = validate_document(nested).errors
    assert any("InvalidName" in error and len(error) < 500 for error in errors), errors
    assert len(flatten(nested)) == 5001


def test_the_number_of_errors_reported_per_document_is_bounded():
    doc = dict(GOOD, subsegments=[{"name": "bad,name"} for _ in range(5000)])
    verdict = validate_document(doc)
    assert len(verdict.errors) <= 101
    assert verdict.errors[-1].startswith("document: ") and "more error(s)" in verdict.errors[-1]


def test_rejection_categories_cover_the_new_reasons():
    assert "document is not a JSON object" in REJECTION_CATEGORIES
    assert "too many spans" in REJECTION_CATEGORIES
