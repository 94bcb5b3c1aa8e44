"""The daemon's fast paths give the same answers as the slow ones they stand in front of.

- ``parse_body`` parses with orjson when it is installed and falls back to the standard library
  for anything orjson refuses or would read differently: the document and the rejection reason
  are the same either way.
- ``validate_document`` clears the common clean document without building messages; whatever it
  clears, the full checker finds nothing in either, and everything else goes to the full checker.
"""

from __future__ import annotations

import copy
import json
import math
import random
from typing import Any, Dict, List

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_xray.daemon import validate
from otel_xray.daemon.validate import _clean_entities, _full_verdict, parse_body, split_datagram, validate_document
from otel_xray.translate import Translator

from .spans import make_span, span_context
from .test_daemon_hostile import HOSTILE
from .test_daemon_validate import GOOD

orjson = pytest.importorskip("orjson")  # the `fast` extra is part of the test extra


def stdlib_parse(body: bytes, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patched:
        patched.setattr(validate, "_orjson_loads", None)
        return parse_body(body)


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 == 1.0 == True for Python, not for JSON)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


BODIES = [
    b'{"a":1,"a":2}',  # duplicate keys: the last wins, in the first one's place
    b'{"a":1,"b":2,"a":3}',
    b'{"a":18446744073709551615}',  # the largest integer orjson keeps exact
    b'{"a":18446744073709551616}',  # orjson would make this a float
    b'{"a": -9223372036854775809}',
    b'{"a":[1,\n 123456789012345678901234567890]}',
    b'{"t":"1-00000000-000000000000000000000001","n":12345678901234567890}',
    b'{"t":"1-00000000-000000000000000000000001"}',  # digits in a string: no integer
    b'{"a":1e999}', b'{"a":-1e999}', b'{"a":2e308}', b'{"a":1e-400}', b'{"a":-0.0}', b'{"a":-0}',
    b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}',
    b'{"a":"\\ud800"}',  # a lone surrogate escape: JSON allows it, orjson refuses it
    b'{"\\ud800\\udc00":1}',
    b'{"a":"\xed\xa0\x80"}',  # an encoded surrogate: not UTF-8
    b'\xef\xbb\xbf{}',  # a byte order mark
    b'{"a":"x\x01y"}',  # a raw control character
    b'{"a":1.}', b'{"a":01}', b'{"a":[1,]}', b'{}\x00', b' {} ', b'{"a":1}\n\n', b'\x0c{}',
    b'[1,2]', b'5', b'"svc"', b'null', b'{"a":', b'\xff\xfe',
    b'{"a":0.1000000000000000055511151231257827021181583404541015625}', b'{"a":9007199254740993.0}',
    b'{"a":123456789012345678901234567890.5}', b'{"a":"\\u0000"}', b'{"a":1E2}',
    b"[" * 2000 + b"]" * 2000,  # deeper than orjson goes
]


@pytest.mark.parametrize("body", BODIES, ids=[repr(b[:40]) for b in BODIES])
def test_orjson_and_the_standard_library_give_the_same_document_or_reason(body, monkeypatch):
    fast = parse_body(body)
    slow = stdlib_parse(body, monkeypatch)
    assert fast[1:] == slow[1:]
    assert same(fast[0], slow[0])


def _random_json(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([0, 1, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**25, -(10**30)])
    if kind == 1:
        return rng.choice([0.1, -2.5, 1e308, 5e-324, 1795969460.381242, 1e-7, 123456789.123456789])
    if kind == 2:
        return rng.random() * 10 ** rng.randint(-30, 30)
    if kind == 3:
        return "".join(rng.choice("ab\u00e9\u6771\U0001f600\\\"\n\t0123456789") for _ in range(rng.randint(0, 12)))
    if kind == 4:
        return rng.choice([True, False, None])
    if kind == 5:
        return "1-%08x-%024x" % (rng.randrange(2**32), rng.randrange(10**20))
    if kind == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice("abcdefgh"): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def test_seeded_fuzz_orjson_and_the_standard_library_agree(monkeypatch):
    rng = random.Random(13)
    for _ in range(1500):
        value = {"k": _random_json(rng, 0), "n": _random_json(rng, 1)}
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1]))
        if rng.random() < 0.3:  # numbers as people write them, not only as Python prints them
            text = text.replace("e+", "E").replace(".0,", ",")
        body = text.encode("utf-8")
        fast, slow = parse_body(body), stdlib_parse(body, monkeypatch)
        assert fast[1:] == slow[1:], body
        assert same(fast[0], slow[0]), body


def test_the_usual_header_takes_the_short_way_with_the_same_result():
    body = json.dumps(GOOD).encode()
    for header in (b'{"format":"json","version":1}', b'{"format": "json", "version": 1}'):
        assert split_datagram(header + b"\n" + body) == (body, None)
    assert split_datagram(b'{"format":"json","version":1}\n  \n')[1] == "missing header or document"


# ---------------------------------------------------------------- the validator's fast path
def translated_documents() -> List[Dict[str, Any]]:
    parent = span_context()
    resource = {"service.name": "checkout", "cloud.provider": "aws", "cloud.platform": "aws_ecs",
                "aws.ecs.container.arn": "arn:aws:ecs:us-east-1:123456789012:container/x", "container.id": "c" * 64}
    spans = [
        make_span("GET /orders", kind=SpanKind.SERVER, resource=resource, attributes={
            "http.request.method": "GET", "url.full": "https://shop/orders/1", "http.response.status_code": 200,
            "user_agent.original": "ua", "client.address": "1.2.3.4", "enduser.id": "u"}),
        make_span("SELECT", kind=SpanKind.CLIENT, parent=parent, resource=resource, attributes={
            "db.system": "postgresql", "db.name": "shop", "db.statement": "SELECT 1", "db.user": "app"}),
        make_span("DynamoDB.Query", kind=SpanKind.CLIENT, parent=parent, resource=resource, attributes={
            "rpc.system": "aws-api", "rpc.service": "DynamoDB", "rpc.method": "Query", "aws.dynamodb.table_names": ["a"]}),
        make_span("discount", parent=parent, resource=resource, exception=ValueError("expired"),
                  status=(StatusCode.ERROR, "expired"), attributes={"order_id": "1", "amount": 12.5, "vip": True}),
        make_span("publish", kind=SpanKind.PRODUCER, parent=parent, resource=resource,
                  attributes={"messaging.system": "aws_sqs", "messaging.destination.name": "q"}),
        make_span("GET", kind=SpanKind.CLIENT, parent=parent, resource=resource,
                  attributes={"http.request.method": "GET", "url.full": "http://inventory:8080/x", "http.response.status_code": 503}),
    ]
    translator = Translator(indexed_attributes=("order_id", "amount", "vip"))
    documents = [json.loads(json.dumps(translator.translate(span))) for span in spans]
    root = copy.deepcopy(documents[0])
    root["subsegments"] = [dict(d, subsegments=[copy.deepcopy(documents[-1])]) for d in documents[1:]]
    for sub in root["subsegments"]:
        sub.pop("trace_id", None)
    return documents + [root]


def test_the_translators_documents_take_the_fast_path():
    for document in translated_documents():
        assert _clean_entities(document) == len(list(_entities(document))), document["name"]
        assert validate_document(document, len(json.dumps(document)), check_numbers=False).valid


def _entities(document: Dict[str, Any]):
    yield document
    for sub in document.get("subsegments", []):
        yield from _entities(sub)


_VALUES = [
    None, True, False, 0, 1, -1, 0.0, 1.5, -3.0, 2**64, 1700000000.5, 1699999999.0, "", "x", "svc", "a,b", "caf\u00e9",
    "x" * 201, "u" * 251, "0" * 16, "53995c3f42cd8ad8", "zzzzzzzzzzzzzzzz", "subsegment", "segment", "aws", "remote",
    "local", "1-5759e988-bd862e3fe1be46a994272793", "1-5759e988-bd862e3fe1be46a994272793\n", "AWS.sdk", "call",
    [], ["x"], [1], [{}], {}, {"a": 1}, {"version": 1}, {"request": {"url": 5}}, {"response": {"status": True}},
    {"k": {"v": 1}}, {"AWS.x": {}}, {"exceptions": [{"id": "0000000000000001", "stack": [{"line": "7"}]}]},
    {"ecs": {"container": 5}}, {"xray": {"auto_instrumentation": 1}}, {"elastic_beanstalk": {"deployment_id": True}},
    {"dotted.key": 1, "b": False}, {"bad-key": 1}, {f"a{i}": i for i in range(51)},
]
_KEYS = [
    "name", "id", "trace_id", "start_time", "end_time", "in_progress", "parent_id", "type", "error", "fault",
    "throttle", "namespace", "origin", "user", "resource_arn", "service", "http", "aws", "sql", "annotations",
    "metadata", "cause", "links", "precursor_ids", "subsegments", "request", "response", "status", "url",
    "retries", "table_names", "ecs", "xray", "preparation", "exceptions", "stack", "line", "version", "extra",
]


def _mutate(rng: random.Random, document: Dict[str, Any]) -> Dict[str, Any]:
    doc = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        # a random object somewhere in the document
        target: Any = doc
        for _ in range(rng.randint(0, 4)):
            children = [v for v in (target.values() if isinstance(target, dict) else target) if isinstance(v, (dict, list))]
            if not children:
                break
            target = rng.choice(children)
        if isinstance(target, list):
            if target and rng.random() < 0.5:
                target[rng.randrange(len(target))] = copy.deepcopy(rng.choice(_VALUES))
            continue
        key = rng.choice(list(target) + _KEYS) if rng.random() < 0.7 else rng.choice(_KEYS)
        if rng.random() < 0.2:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(rng.choice(_VALUES))
    return doc


def test_seeded_fuzz_whatever_the_fast_path_clears_the_full_checker_finds_clean_too():
    rng = random.Random(21)
    bases = translated_documents() + [dict(GOOD)]
    cleared = 0
    for index in range(4000):
        doc = _mutate(rng, rng.choice(bases)) if index % 4 else rng.choice(bases)
        size = len(json.dumps(doc, default=str))
        full = _full_verdict(doc, size, check_numbers=False)
        answer = validate_document(doc, size, check_numbers=False)
        assert (answer.errors, answer.warnings) == (full.errors, full.warnings), doc
        if _clean_entities(doc) >= 0:
            cleared += 1
            assert full.valid and not full.warnings, (doc, full)
    assert 500 < cleared < 4000  # both ways are taken


@pytest.mark.parametrize("label, body, outcome", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_no_hostile_payload_is_cleared_by_the_fast_path(label, body, outcome):
    document, reason, size = parse_body(body)
    if document is None:
        assert outcome == "rejected"
        return
    assert _clean_entities(document) == -1
    assert not validate_document(document, size, check_numbers=False).valid


def test_a_document_over_64_kb_never_takes_the_fast_path():
    doc = dict(GOOD, metadata={"default": {"blob": "x" * 70_000}})
    assert _clean_entities(doc) >= 0  # nothing else is wrong with it ...
    assert not validate_document(doc, len(json.dumps(doc)), check_numbers=False).valid  # ... but its size
