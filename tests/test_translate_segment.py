"""Segment or subsegment, IDs, times, names and namespaces (docs/mapping.md; Collector rules R5, R9-R16, R17-R32)."""

from __future__ import annotations

import math
import platform
from collections import defaultdict

import pytest
from opentelemetry.trace import SpanKind

from otel_xray.daemon.validate import validate_document
from otel_xray.translate import SpanDropped, Translator
from otel_xray.translate.names import sanitize_name

from .spans import PARENT_ID, make_span, raw_span, span_context

LOCAL_PARENT = span_context(remote=False)
REMOTE_PARENT = span_context(remote=True)


def translate(**kwargs):
    return Translator().translate(make_span(**kwargs))


# --------------------------------------------------------------- segment or subsegment (R5)
@pytest.mark.parametrize(
    "kind, parent, segment",
    [
        (SpanKind.SERVER, None, True),
        (SpanKind.SERVER, LOCAL_PARENT, True),
        (SpanKind.SERVER, REMOTE_PARENT, True),
        (SpanKind.CONSUMER, LOCAL_PARENT, True),
        (SpanKind.CONSUMER, None, True),
        (SpanKind.INTERNAL, None, True),
        (SpanKind.CLIENT, None, True),
        (SpanKind.PRODUCER, None, True),
        (SpanKind.INTERNAL, LOCAL_PARENT, False),
        (SpanKind.CLIENT, LOCAL_PARENT, False),
        (SpanKind.PRODUCER, LOCAL_PARENT, False),
        # Beyond the reference: a remote parent means this span starts the service's own segment.
        (SpanKind.INTERNAL, REMOTE_PARENT, True),
        (SpanKind.CLIENT, REMOTE_PARENT, True),
    ],
)
def test_r5_segment_or_subsegment_by_kind_and_parent(kind, parent, segment):
    doc = translate(kind=kind, parent=parent)
    assert ("type" not in doc) is segment
    if not segment:
        assert doc["type"] == "subsegment"


def test_r5_independent_subsegment_carries_trace_id_parent_id_and_type():
    doc = translate(kind=SpanKind.CLIENT, parent=LOCAL_PARENT)
    assert doc["type"] == "subsegment"
    assert doc["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert doc["parent_id"] == "%016x" % PARENT_ID


def test_r10_root_segment_has_no_parent_id():
    assert "parent_id" not in translate(kind=SpanKind.SERVER)


def test_r10_segment_under_remote_parent_keeps_parent_id():
    assert translate(kind=SpanKind.SERVER, parent=REMOTE_PARENT)["parent_id"] == "53995c3f42cd8ad8"


# --------------------------------------------------------------- IDs and time (R9, R11, R12, R15, R16)
def test_r9_id_is_the_span_id_in_16_lowercase_hex():
    span = make_span()
    doc = Translator().translate(span)
    assert doc["id"] == "%016x" % span.context.span_id
    assert doc["id"] == doc["id"].lower() and len(doc["id"]) == 16


def test_r11_trace_id_converts_to_xray_format():
    assert translate(parent=span_context(trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736, remote=True))["trace_id"] == (
        "1-4bf92f35-77b34da6a3ce929d0e0e4736"
    )


@pytest.mark.parametrize("first_32_bits", [0x00000000, 0x11111111, 0xFFFFFFFF])
def test_r12_trace_ids_whose_time_part_is_not_a_plausible_epoch_are_kept(first_32_bits):
    # X-Ray has accepted W3C-random trace IDs since October 2023; nothing is dropped.
    trace_id = (first_32_bits << 96) | 0xABCDEF
    doc = translate(parent=span_context(trace_id=trace_id, remote=True), kind=SpanKind.SERVER)
    assert doc["trace_id"] == "1-%08x-%024x" % (first_32_bits, 0xABCDEF)


def test_r15_times_are_epoch_seconds_with_microsecond_precision():
    doc = translate(start=1_700_000_000_123_456_789, end=1_700_000_000_623_456_999)
    assert doc["start_time"] == 1700000000.123456
    assert doc["end_time"] == 1700000000.623456


def test_end_before_start_is_clamped_to_zero_duration():
    doc = translate(start=1_700_000_001_000_000_000, end=1_700_000_000_000_000_000)
    assert doc["end_time"] == doc["start_time"]


@pytest.mark.parametrize(
    "value, in_progress, in_metadata",
    [(True, True, False), (False, False, False), ("true", False, True)],
)
def test_r16_in_progress_attribute(value, in_progress, in_metadata):
    doc = translate(attributes={"aws.xray.inprogress": value})
    assert doc.get("in_progress", False) is in_progress
    assert ("end_time" in doc) is (not in_progress)
    assert ("aws.xray.inprogress" in doc.get("metadata", {}).get("default", {})) is in_metadata


# --------------------------------------------------------------- names (R17-R29)
@pytest.mark.parametrize(
    "kind, attributes, expected",
    [
        (SpanKind.SERVER, {}, "svc"),
        (SpanKind.SERVER, {"aws.local.service": "local-svc"}, "local-svc"),
        (SpanKind.CLIENT, {"aws.remote.service": "AWS.SDK.DynamoDb", "rpc.system": "aws-api"}, "DynamoDb"),
        (SpanKind.CLIENT, {"aws.remote.service": "AWS::DynamoDB", "rpc.system": "aws-api"}, "DynamoDB"),
        (SpanKind.CLIENT, {"aws.remote.service": "AWS.SDK.SQS"}, "AWS.SDK.SQS"),
        (SpanKind.CLIENT, {"peer.service": "payments"}, "payments"),
        (SpanKind.SERVER, {"peer.service": "payments"}, "payments"),
        (SpanKind.CLIENT, {"aws.service": "S3"}, "S3"),
        (SpanKind.CLIENT, {"db.name": "customers", "db.connection_string": "jdbc:mysql://db.dev.example.com:3306"}, "customers@db.dev.example.com"),
        (SpanKind.CLIENT, {"db.name": "customers", "db.connection_string": "mysql://db.example.com:3306"}, "customers@db.example.com"),
        (SpanKind.CLIENT, {"db.name": "customers", "db.connection_string": "not a url"}, "customers"),
        (SpanKind.CLIENT, {"db.name": "0", "db.system": "redis"}, "0"),
        (SpanKind.CLIENT, {"rpc.service": "Greeter"}, "Greeter"),
        (SpanKind.CLIENT, {"http.host": "api.example.com"}, "api.example.com"),
        (SpanKind.CLIENT, {"net.peer.name": "peer.example.com"}, "peer.example.com"),
        # R24: only SERVER spans fall back to service.name; others are named after the span.
        (SpanKind.INTERNAL, {}, "span-name"),
        (SpanKind.CLIENT, {}, "span-name"),
        (SpanKind.CONSUMER, {}, "span-name"),
    ],
)
def test_r17_to_r28_name_selection(kind, attributes, expected):
    assert translate(name="span-name", kind=kind, attributes=attributes, parent=LOCAL_PARENT)["name"] == expected


@pytest.mark.parametrize(
    "kind, attributes, expected",
    [
        (SpanKind.PRODUCER, {"messaging.destination.name": "orders-queue"}, "orders-queue"),
        (SpanKind.CLIENT, {"server.address": "api.example.com", "url.full": "https://x.example.com/"}, "api.example.com"),
        (SpanKind.CLIENT, {"url.full": "https://api.example.com:8443/v1?q=1"}, "api.example.com"),
        (SpanKind.CLIENT, {"http.url": "http://legacy.example.com/v1"}, "legacy.example.com"),
        (SpanKind.CLIENT, {"db.namespace": "shop"}, "shop"),
        # INTERNAL spans do not take remote names.
        (SpanKind.INTERNAL, {"server.address": "api.example.com"}, "span-name"),
    ],
)
def test_names_beyond_the_reference_for_stable_conventions(kind, attributes, expected):
    assert translate(name="span-name", kind=kind, attributes=attributes, parent=LOCAL_PARENT)["name"] == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("<subDomain>.example.com,1413", "subDomain.example.com1413"),
        ("<>", ""),
        ("EP @ test_15.testing-dömain.org#GO", "EP @ test_15.testing-dömain.org#GO"),
        ("café 東京 ½²", "café 東京 ½²"),
        ("cafe\u0301", "café"),
        ("tab\there\nnewline", "tabherenewline"),
        ("a$b?c;d*e(f)g!h~i^j'k\"l[m]n{o}p|q`r\\s", "abcdefghijklmnopqrs"),
        ("   padded   ", "padded"),
        ("\U0002070e astral", "astral"),
        ("x" * 250, "x" * 200),
        ("é" * 250, "é" * 200),
        (None, ""),
    ],
)
def test_r28_sanitize_name(raw, expected):
    assert sanitize_name(raw) == expected


def test_r28_empty_name_falls_back_and_is_never_empty():
    doc = translate(name="<>", kind=SpanKind.INTERNAL, resource={"service.name": "(!)"})
    assert doc["name"] == "span"


def test_names_taken_from_attributes_are_sanitised_too():
    # The reference sends these unsanitised (R29) and X-Ray rejects the document.
    doc = translate(kind=SpanKind.CLIENT, attributes={"peer.service": "pay(ments), v2"}, parent=LOCAL_PARENT)
    assert doc["name"] == "payments v2"


# --------------------------------------------------------------- namespace (R30-R32)
@pytest.mark.parametrize(
    "kind, attributes, expected",
    [
        (SpanKind.CLIENT, {"rpc.system": "aws-api"}, "aws"),
        (SpanKind.SERVER, {"rpc.system": "aws-api"}, "aws"),
        (SpanKind.CLIENT, {"aws.service": "S3"}, "aws"),
        (SpanKind.CLIENT, {"peer.service": "p", "aws.service": "S3"}, "remote"),
        (SpanKind.CLIENT, {}, "remote"),
        (SpanKind.PRODUCER, {}, "remote"),
        (SpanKind.SERVER, {}, None),
        (SpanKind.INTERNAL, {}, None),
        (SpanKind.CONSUMER, {}, None),
    ],
)
def test_r30_to_r32_namespace(kind, attributes, expected):
    assert translate(kind=kind, attributes=attributes, parent=LOCAL_PARENT).get("namespace") == expected


# --------------------------------------------------------------- user, service, links (R88, R89, R102)
def test_r89_user_from_enduser_id_is_not_metadata():
    doc = translate(attributes={"enduser.id": "alice"})
    assert doc["user"] == "alice"
    assert "metadata" not in doc or "enduser.id" not in doc["metadata"].get("default", {})


RUNTIME = {"runtime": platform.python_implementation(), "runtime_version": platform.python_version()}


@pytest.mark.parametrize(
    "resource, expected",
    [
        ({"service.name": "s", "service.version": "1.2"}, {"version": "1.2", **RUNTIME}),
        ({"service.name": "s", "container.image.tag": "abc"}, {"version": "abc", **RUNTIME}),
        ({"service.name": "s"}, RUNTIME),
    ],
)
def test_r88_service_version_and_runtime(resource, expected):
    assert translate(resource=resource).get("service") == expected


def test_r102_links():
    link = span_context(trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736, span_id=0x00F067AA0BA902B7)
    doc = translate(links=[(link, {"k": 1, "arr": [1, 2]})])
    assert doc["links"] == [
        {"trace_id": "1-4bf92f35-77b34da6a3ce929d0e0e4736", "id": "00f067aa0ba902b7", "attributes": {"k": 1, "arr": [1, 2]}}
    ]


def test_r102_links_without_attributes_and_absent_links():
    link = span_context()
    assert translate(links=[(link, {})])["links"] == [{"trace_id": "1-5759e988-bd862e3fe1be46a994272793", "id": "53995c3f42cd8ad8"}]
    assert "links" not in translate()


@pytest.mark.parametrize(
    "valid, invalid, sent, dropped",
    [
        (25, 0, 20, {"links_dropped": 5}),
        # Issue 15's miscount: 5 invalid links before 20 valid ones were reported as 5 dropped.
        (20, 5, 20, {"links_invalid": 5}),
        (22, 3, 20, {"links_dropped": 2, "links_invalid": 3}),
        (3, 0, 3, {}),
    ],
)
def test_links_are_capped_at_twenty_and_what_is_left_out_is_counted(valid, invalid, sent, dropped):
    # The SDK keeps a link with an invalid context when it has attributes.
    bad = [(span_context(trace_id=0, span_id=0), {"why": "no context"}) for _ in range(invalid)]
    good = [(span_context(span_id=i + 1), {}) for i in range(valid)]
    counts = defaultdict(int)
    doc = Translator().translate(make_span(links=bad + good), counts)
    assert len(doc.get("links", ())) == sent
    assert dict(counts) == dropped


# --------------------------------------------------------------- times X-Ray rejects (issue 9, item 12)
NS = 1_700_000_000_000_000_000


@pytest.mark.parametrize(
    "start, end, expected_start, expected_end, counted",
    [
        (NS, NS + 2_000_000, 1700000000.0, 1700000000.002, {}),
        (NS + 5_000_000, NS, 1700000000.005, 1700000000.005, {"span_times_repaired": 1}),
        (0, NS, 1700000000.0, 1700000000.0, {"span_times_repaired": 1}),
        (-5, NS, 1700000000.0, 1700000000.0, {"span_times_repaired": 1}),
        (math.nan, NS, 1700000000.0, 1700000000.0, {"span_times_repaired": 1}),
        (None, NS, 1700000000.0, 1700000000.0, {"span_times_repaired": 1}),
        (2**80, NS, 1700000000.0, 1700000000.0, {"span_times_repaired": 1}),
        (NS, 0, 1700000000.0, 1700000000.0, {"span_times_repaired": 1}),
        (NS, math.inf, 1700000000.0, 1700000000.0, {"span_times_repaired": 1}),
        (float(NS), NS + 1_000_000, 1700000000.0, 1700000000.001, {}),
    ],
)
def test_times_x_ray_rejects_are_repaired_and_counted(start, end, expected_start, expected_end, counted):
    counts = defaultdict(int)
    doc = Translator().translate(raw_span(start_time=start, end_time=end), counts)
    assert (doc["start_time"], doc["end_time"]) == (expected_start, expected_end)
    assert dict(counts) == counted
    assert validate_document(doc).valid


@pytest.mark.parametrize("start, end", [(0, 0), (math.nan, None), (-1, -1), (None, None)])
def test_a_span_with_no_usable_time_is_dropped_and_counted(start, end):
    counts = defaultdict(int)
    with pytest.raises(SpanDropped) as raised:
        Translator().translate(raw_span(start_time=start, end_time=end), counts)
    assert raised.value.reason == "spans_invalid_time"
    assert dict(counts) == {"spans_invalid_time": 1}


def test_a_span_without_end_time_is_in_progress():
    doc = Translator().translate(raw_span(end_time=None))
    assert doc["in_progress"] is True and "end_time" not in doc and validate_document(doc).valid


@pytest.mark.parametrize(
    "context",
    [span_context(trace_id=0, span_id=5), span_context(span_id=0), span_context(span_id=2**64), span_context(trace_id=2**128)],
)
def test_a_span_whose_ids_x_ray_cannot_hold_is_dropped_and_counted(context):
    counts = defaultdict(int)
    with pytest.raises(SpanDropped):
        Translator().translate(raw_span(context=context), counts)
    assert dict(counts) == {"spans_invalid_id": 1}


def test_a_parent_id_x_ray_cannot_hold_is_no_parent():
    doc = Translator().translate(raw_span(parent=span_context(span_id=2**64 + 7)))
    assert "parent_id" not in doc and "type" not in doc

