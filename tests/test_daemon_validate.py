"""The local daemon's validator: X-Ray's document and datagram rules."""

from __future__ import annotations

import copy
import json

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_xray.cli import load_documents
from otel_xray.daemon.validate import parse_datagram, validate_document
from otel_xray.translate import Translator

from .spans import make_span, span_context

GOOD = {
    "name": "svc",
    "id": "53995c3f42cd8ad8",
    "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
    "start_time": 1700000000.1,
    "end_time": 1700000000.2,
}


def errors_of(**changes):
    doc = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is _DELETE:
            del doc[key]
        else:
            doc[key] = value
    return validate_document(doc).errors


_DELETE = object()


def test_minimal_segment_is_valid():
    assert validate_document(GOOD).valid


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"name": _DELETE}, "'name' is required"),
        ({"name": ""}, "1 to 200 characters"),
        ({"name": "x" * 201}, "1 to 200 characters"),
        ({"name": "a,b"}, "InvalidName"),
        ({"name": "tab\there"}, "InvalidName"),
        ({"name": "back\\slash"}, "InvalidName"),
        ({"name": 5}, "must be a string"),
        ({"id": _DELETE}, "'id' is required"),
        ({"id": "zzzzzzzzzzzzzzzz"}, "16 hexadecimal"),
        ({"id": "0000000000000000"}, "all zeros"),
        ({"trace_id": _DELETE}, "'trace_id' is required"),
        ({"trace_id": "1-5759e988-bd862e3fe1be46a99427279"}, "must look like"),
        ({"start_time": _DELETE}, "'start_time' is required"),
        ({"start_time": "1700000000"}, "positive epoch seconds"),
        ({"start_time": float("nan")}, "NaN and Infinity"),
        ({"end_time": _DELETE}, "'end_time', or 'in_progress'"),
        ({"end_time": 1699999999.0}, "before start_time"),
        ({"in_progress": True}, "'in_progress' is true but 'end_time' is set"),
        ({"in_progress": "no"}, "must be a boolean"),
        ({"type": "segment"}, "only type"),
        ({"type": "subsegment"}, "needs 'parent_id'"),
        ({"parent_id": "123"}, "16 hexadecimal"),
        ({"fault": "true"}, "must be a boolean"),
        ({"user": "u" * 251}, "over the limit of 250"),
        ({"http": {"request": {"url": "u" * 251}}}, "over the limit of 250"),
        ({"http": {"response": {"status": "200"}}}, "must be an integer"),
        ({"annotations": {"a-b": 1}}, "keys may hold only"),
        ({"annotations": {"a": [1]}}, "string, number or boolean"),
        ({"annotations": {"a": "x" * 1001}}, "over 1000"),
        ({"metadata": {"default": 1}}, "each namespace must be an object"),
        ({"cause": {"exceptions": [{"message": "no id"}]}}, "'id' is required"),
        ({"cause": {"exceptions": [{"id": "0000000000000001", "stack": [{"line": "7"}]}]}}, "must be an integer"),
        ({"cause": "short"}, "16-digit exception ID"),
        ({"sql": {"preparation": "maybe"}}, "'call' or 'statement'"),
        ({"aws": {"elastic_beanstalk": {"deployment_id": "7"}}}, "must be a number"),
        ({"aws": {"ec2": {"instance_id": None}}}, "must be a string"),
        ({"links": [{"trace_id": "x", "id": "0000000000000001"}]}, "X-Ray trace ID"),
        ({"subsegments": [{"name": "s", "id": "0000000000000001", "start_time": 1.0}]}, "'end_time', or 'in_progress'"),
        ({"metadata": {"default": {"blob": "x" * 70_000}}}, "over X-Ray's 64 kB"),
    ],
)
def test_rejections(changes, expected):
    errors = errors_of(**changes)
    assert any(expected in error for error in errors), errors


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "café 東京 ½² _.:/%&#=+-@"},
        {"annotations": {"dotted.key": "ok", "n": 1.5, "b": False}},
        {"trace_id": "1-4efaaf4d-1e8720b39541901950019ee5"},  # W3C-random, epoch not validated
        {"end_time": _DELETE, "in_progress": True},
        {"in_progress": False},
        {"type": "subsegment", "parent_id": "0000000000000abc", "namespace": "remote"},
        {"cause": "0000000000000abc"},
        {"links": [{"trace_id": "1-4efaaf4d-1e8720b39541901950019ee5", "id": "0000000000000001", "attributes": {"k": 1}}]},
        {"unknown_extra_field": {"x": 1}},
    ],
)
def test_acceptances(changes):
    assert errors_of(**changes) == []


def test_over_fifty_annotations_is_a_warning_not_an_error():
    verdict = validate_document(dict(GOOD, annotations={f"a{i}": i for i in range(51)}))
    assert verdict.valid and any("50" in w for w in verdict.warnings)


# --------------------------------------------------------------- datagrams
@pytest.mark.parametrize(
    "datagram, reason",
    [
        (b"", "empty datagram"),
        (b'{"format":"json","version":1}', "missing header or document"),
        (b'{"format":"json","version":1}\n   ', "missing header or document"),
        (b'{"format":"xml","version":1}\n{}', "invalid header"),
        (b'{"format":"json","version":"1"}\n{}', "invalid header"),
        (b'{"format":"json","version":1.0}\n{}', "invalid header"),
        (b"garbage\n{}", "invalid header"),
        (b'{"format":"json","version":1}\n\xff\xfe', "not UTF-8"),
        (b'{"format":"json","version":1}\n{"a":', "not JSON"),
        (b'{"format":"json","version":1}\n{"start_time": NaN}', "not JSON"),
        (b'{"format":"json","version":1}\n{"start_time": 1e999}', "not a finite number"),
        (b'{"format":"json","version":1}\n' + b"x" * 65_500, "datagram too large"),
    ],
)
def test_malformed_datagrams(datagram, reason):
    document, rejection, _ = parse_datagram(datagram)
    assert document is None and reason in rejection


@pytest.mark.parametrize(
    "header",
    [b'{"format": "json", "version": 1}', b'{"format":"JSON","version":1}', b'{"version":1,"format":"json","extra":true}\r'],
)
def test_header_forms_the_daemon_accepts(header):
    document, reason, _ = parse_datagram(header + b"\n" + json.dumps(GOOD).encode())
    assert reason is None and document == GOOD


# --------------------------------------------------------------- real samples and the official schema
def test_aws_sdk_sample_datagrams_are_valid(shared):
    for path in sorted((shared / "reference" / "samples").glob("xray-sdk-*.txt")):
        results = list(load_documents(path.read_text()))
        assert results, path
        for label, document, reason in results:
            assert reason is None, (path.name, label, reason)
            assert validate_document(document).valid, (path.name, label, validate_document(document).errors)


def _translated_documents():
    parent = span_context()
    resource = {"service.name": "svc", "cloud.provider": "aws", "cloud.platform": "aws_ecs", "host.id": "i-1"}
    spans = [
        make_span(kind=SpanKind.SERVER, resource=resource, attributes={"http.request.method": "GET", "url.full": "https://a/b", "http.response.status_code": 500, "user_agent.original": "ua", "client.address": "1.2.3.4", "enduser.id": "u"}),
        make_span(kind=SpanKind.CLIENT, parent=parent, attributes={"db.system": "mysql", "db.name": "d", "db.statement": "SELECT 1", "db.user": "me"}),
        make_span(kind=SpanKind.CLIENT, parent=parent, attributes={"rpc.system": "aws-api", "rpc.service": "DynamoDB", "rpc.method": "Query", "aws.dynamodb.table_names": ["a", "b"]}),
        make_span(kind=SpanKind.INTERNAL, parent=parent, exception=ValueError("boom"), status=(StatusCode.ERROR, "boom"), attributes={"order_id": "1", "nan": float("nan")}),
        make_span(kind=SpanKind.PRODUCER, parent=parent, attributes={"messaging.destination.name": "q"}, links=[(span_context(span_id=5), {"k": "v"})]),
    ]
    translator = Translator(indexed_attributes=("order_id",))
    return [translator.translate(span) for span in spans]


def test_translated_documents_pass_the_official_schema_and_the_validator(shared):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((shared / "xray" / "segment-schema.json").read_text())
    checker = jsonschema.Draft4Validator(schema)
    for doc in _translated_documents():
        assert validate_document(doc).valid, validate_document(doc).errors
        schema_errors = [e.message for e in checker.iter_errors(json.loads(json.dumps(doc)))]
        assert schema_errors == [], (doc["name"], schema_errors)


def test_validator_is_stricter_than_the_schema_where_the_service_is(shared):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((shared / "xray" / "segment-schema.json").read_text())
    checker = jsonschema.Draft4Validator(schema)
    for doc in (dict(GOOD, id="zzzzzzzzzzzzzzzz"), dict(GOOD, start_time=float("nan"))):
        assert checker.is_valid(doc)
        assert not validate_document(doc).valid
