"""Datagram framing and the 64 kB size guard."""

from __future__ import annotations

import copy
import json

import pytest

from otel_xray.daemon.validate import parse_datagram, validate_document
from otel_xray.wire import framing
from otel_xray.wire.framing import HEADER, MAX_DOCUMENT_BYTES, encode_document


@pytest.fixture(autouse=True, params=["orjson", "json"])
def encoder(request, monkeypatch):
    """Every framing test runs with the optional orjson encoder and with the stdlib fallback."""
    if request.param == "json":
        monkeypatch.setattr(framing, "_orjson", None)
    elif framing._orjson is None:
        pytest.skip("orjson is not installed")
    return request.param

BASE = {
    "name": "svc",
    "id": "53995c3f42cd8ad8",
    "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
    "start_time": 1700000000.1,
    "end_time": 1700000000.2,
    "error": False,
    "fault": True,
    "throttle": False,
    "http": {"request": {"method": "GET"}, "response": {"status": 503, "content_length": 0}},
}


def body_of(datagram: bytes):
    document, reason, size = parse_datagram(datagram)
    assert reason is None
    return document, size


def test_header_line_then_compact_utf8_json():
    datagram = encode_document(dict(BASE, name="café")).datagram
    assert datagram.startswith(b'{"format":"json","version":1}\n')
    body = datagram[len(HEADER) :]
    assert b", " not in body and b": " not in body
    assert "café".encode() in body
    assert json.loads(body) == dict(BASE, name="café")


def test_small_document_sheds_nothing():
    assert encode_document(BASE).shed == ()


def _fits_and_valid(encoded, limit=MAX_DOCUMENT_BYTES):
    document, size = body_of(encoded.datagram)
    assert size <= limit
    verdict = validate_document(document, size)
    assert verdict.valid, verdict.errors
    return document


def test_long_metadata_values_are_trimmed_first():
    doc = dict(BASE, metadata={"default": {"big": "x" * 70_000, "small": "keep"}})
    encoded = encode_document(doc)
    assert encoded.shed == ("metadata_values",)
    document = _fits_and_valid(encoded)
    assert document["metadata"]["default"]["small"] == "keep"
    assert document["metadata"]["default"]["big"].startswith("[trimmed: ")


def test_then_all_metadata():
    doc = dict(BASE, metadata={"default": {f"k{i}": "v" * 900 for i in range(80)}})
    encoded = encode_document(doc)
    assert encoded.shed == ("metadata_values", "metadata")
    assert "metadata" not in _fits_and_valid(encoded)


def _stack(frames):
    return [{"path": "/app/" + "p" * 200 + ".py", "line": n, "label": "f" * 100} for n in range(frames)]


def test_then_stack_frames_to_ten_with_truncated_count():
    doc = dict(BASE, cause={"exceptions": [{"id": "0000000000000001", "type": "E", "message": "m", "stack": _stack(300)}]})
    encoded = encode_document(doc)
    assert encoded.shed == ("stack_frames",)
    exception = _fits_and_valid(encoded)["cause"]["exceptions"][0]
    assert len(exception["stack"]) == 10 and exception["truncated"] == 290


def test_then_annotations():
    doc = dict(BASE, annotations={f"k{i}": "v" * 999 for i in range(70)})
    encoded = encode_document(doc)
    assert encoded.shed == ("annotations",)
    assert "annotations" not in _fits_and_valid(encoded)


def test_then_long_strings():
    doc = dict(BASE, sql={"sanitized_query": "SELECT " + "x" * 80_000})
    encoded = encode_document(doc)
    assert encoded.shed == ("long_strings",)
    assert len(_fits_and_valid(encoded)["sql"]["sanitized_query"]) == 1000


def test_last_resort_keeps_identity_times_and_outcome():
    doc = dict(BASE, aws={f"field{i}": "v" * 1000 for i in range(80)})
    encoded = encode_document(doc)
    assert encoded.shed == ("long_strings", "minimal")
    document = _fits_and_valid(encoded)
    assert document["fault"] is True and document["http"] == {"response": {"status": 503}}
    assert {k: document[k] for k in ("name", "id", "trace_id", "start_time", "end_time")} == {
        k: BASE[k] for k in ("name", "id", "trace_id", "start_time", "end_time")
    }


@pytest.mark.parametrize("limit", [9_186, 20_000, MAX_DOCUMENT_BYTES])
def test_never_over_the_limit_whatever_the_content(limit):
    doc = dict(
        BASE,
        metadata={"default": {f"k{i}": "é" * 3000 for i in range(40)}},
        annotations={f"a{i}": "ü" * 999 for i in range(60)},
        cause={"exceptions": [{"id": "0000000000000001", "message": "m" * 50_000, "stack": _stack(500)}]},
        sql={"sanitized_query": "q" * 100_000},
        links=[{"trace_id": BASE["trace_id"], "id": "0000000000000002", "attributes": {"a": "b" * 5000}}] * 20,
    )
    original = copy.deepcopy(doc)
    encoded = encode_document(doc, limit)
    _fits_and_valid(encoded, limit)
    assert doc == original  # the caller's document is untouched


def test_non_json_safe_document_is_still_encoded_strictly():
    doc = dict(BASE, metadata={"default": {"nan": float("nan"), "obj": object()}})
    document, _ = body_of(encode_document(doc).datagram)
    assert document["metadata"]["default"]["nan"] == "NaN"
