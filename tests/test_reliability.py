"""Nothing the application or the network does makes the exporter raise, block, grow, or send a bad datagram.

Every case goes through the real exporter and real UDP into the local daemon,
whose validator must accept what arrives.
"""

from __future__ import annotations

import math
import os
import socket
import tracemalloc

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, TracerProvider
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from otel_xray import XRayBatchSpanProcessor, XRaySpanExporter
from otel_xray.wire.framing import MAX_DOCUMENT_BYTES

from .spans import make_span, raw_span, span_context


def export_and_receive(daemon, spans, **exporter_kwargs):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint, **exporter_kwargs)
    exporter.export(spans)
    assert daemon.wait_for(len(spans))
    received = daemon.received()
    for item in received:
        assert item.verdict.valid, item.verdict.errors
        assert item.size <= MAX_DOCUMENT_BYTES
    return [r.document for r in received], exporter.stats()


# --------------------------------------------------------------- attribute values
@pytest.mark.parametrize(
    "value, stored",
    [
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (b"\x00\xff", "AP8="),
        (2**70, str(2**70)),
        ("lone \udc80 surrogate", "lone \ufffd surrogate"),
        ((math.nan, 1.0), ["NaN", 1.0]),
    ],
)
def test_attribute_values_json_cannot_carry(daemon, value, stored):
    (doc,), _ = export_and_receive(daemon, [raw_span(attributes={"v": value})])
    assert doc["metadata"]["default"]["v"] == stored


@pytest.mark.parametrize("indexed", [False, True])
def test_awkward_values_set_directly_on_a_span(daemon, indexed):
    nested = [1]
    for _ in range(40):
        nested = [nested]
    attributes = {
        "none": None,
        "map": {1: "int key", (2, 3): "tuple key", "deep": nested},
        "invalid_utf8": b"\xc3\x28".decode("utf-8", "surrogateescape"),
        "set": {1},
    }
    (doc,), _ = export_and_receive(daemon, [raw_span(attributes=attributes)], index_all_attributes=indexed)
    default = doc["metadata"]["default"]
    assert "none" not in default
    assert default["map"]["1"] == "int key" and default["map"]["(2, 3)"] == "tuple key"
    where = doc["annotations"] if indexed else default
    assert where["invalid_utf8"] == "\ufffd("


# --------------------------------------------------------------- names and keys
@pytest.mark.parametrize(
    "name, expected",
    # An unusable span name falls back to the service name ("svc").
    [("", "svc"), ("(!)", "svc"), ("GET /a,b?c=1", "GET /abc=1"), ("x" * 300, "x" * 200), ("\t\n", "svc")],
)
def test_names_x_ray_would_reject(daemon, name, expected):
    (doc,), _ = export_and_receive(daemon, [make_span(name=name, parent=span_context())])
    assert doc["name"] == expected


def test_annotation_keys_that_sanitise_to_the_same_key(daemon):
    (doc,), _ = export_and_receive(daemon, [make_span(attributes={"a-b": 1, "a:b": 2, "a b": 3}, parent=span_context())], index_all_attributes=True)
    assert doc["annotations"] == {"a_b": 1}
    assert doc["metadata"]["default"] == {"a:b": 2, "a b": 3}


# --------------------------------------------------------------- size
def test_document_over_64_kb_is_shed_sent_and_counted(daemon):
    attributes = {f"blob{i}": "x" * 4000 for i in range(40)}
    (doc,), stats = export_and_receive(daemon, [make_span(name="big", attributes=attributes, parent=span_context())])
    assert doc["name"] == "big"
    assert stats.documents_trimmed == 1 and stats.shed_steps == {"metadata_values": 1}


def test_huge_exception_is_shed_and_the_span_stays_visible(daemon):
    events = [
        Event("exception", {"exception.type": "E", "exception.message": "m" * 2000, "exception.stacktrace": "x"})
        for _ in range(100)
    ]
    (doc,), stats = export_and_receive(daemon, [raw_span(events=events, status=Status(StatusCode.ERROR))])
    assert doc["fault"] is True and stats.documents_trimmed == 1


# --------------------------------------------------------------- span states
def test_end_before_start_and_zero_duration(daemon):
    spans = [raw_span(start_time=2_000_000_000_000_000_000, end_time=1_900_000_000_000_000_000), raw_span(context=span_context(span_id=9), end_time=1_700_000_000_000_000_000)]
    docs, _ = export_and_receive(daemon, spans)
    assert all(doc["end_time"] == doc["start_time"] for doc in docs)


def test_unfinished_span_is_sent_in_progress(daemon):
    (doc,), _ = export_and_receive(daemon, [raw_span(end_time=None)])
    assert doc["in_progress"] is True and "end_time" not in doc


def test_span_whose_parent_was_never_exported(daemon):
    (doc,), _ = export_and_receive(daemon, [make_span(kind=SpanKind.CLIENT, parent=span_context(span_id=0xDEAD))])
    assert doc["type"] == "subsegment" and doc["parent_id"] == "000000000000dead"


def test_thousands_of_events_and_links(daemon):
    events = [Event("log", {"i": i}) for i in range(5000)] + [Event("exception", {"exception.type": "E"}) for _ in range(2000)]
    links = [Link(span_context(span_id=i + 1), {"i": i}) for i in range(5000)]
    (doc,), stats = export_and_receive(daemon, [raw_span(events=events, links=links)])
    assert len(doc.get("links", [])) <= 20
    assert stats.links_dropped == 4980 and stats.spans_exported == 1


# --------------------------------------------------------------- faults around the exporter
def test_ipv6_daemon_through_the_exporter():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    from otel_xray.daemon.server import LocalDaemon

    try:
        daemon6 = LocalDaemon("::1", 0)
    except OSError:
        pytest.skip("::1 is not available")
    with daemon6:
        assert daemon6.endpoint.startswith("[::1]:")
        docs, _ = export_and_receive(daemon6, [make_span()])
        assert len(docs) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_after_export_child_and_parent_both_deliver(daemon):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    provider = TracerProvider(resource=Resource.create({"service.name": "prefork"}))
    provider.add_span_processor(XRayBatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("parent-before"):
        pass
    provider.force_flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            with tracer.start_as_current_span("child"):
                pass
            code = 0 if provider.force_flush(5000) else 3
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with tracer.start_as_current_span("parent-after"):
        pass
    provider.shutdown()
    assert daemon.wait_for(3)
    assert sorted(d["name"] for d in daemon.documents()) == ["child", "parent-after", "parent-before"]
    assert all(r.verdict.valid for r in daemon.received())


def test_burst_far_larger_than_the_queue_is_bounded_counted_and_never_blocks():
    from otel_xray.daemon.server import LocalDaemon

    # keep=False: the daemon in this process must not hold what it receives, or it
    # would be the daemon's memory that is measured.
    daemon = LocalDaemon("127.0.0.1", 0, keep=False).start()
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    provider = TracerProvider()
    processor = XRayBatchSpanProcessor(exporter, max_queue_size=512, schedule_delay_millis=5000, max_export_batch_size=512)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    burst = 50_000
    tracemalloc.start()
    for _ in range(burst):
        with tracer.start_as_current_span("burst"):
            pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    provider.shutdown()
    daemon.stop()
    stats = exporter.stats()
    # Every span is accounted for: exported by the exporter, or counted as dropped by the queue.
    assert stats.spans_received + stats.spans_dropped_by_queue == burst
    assert stats.spans_dropped_by_queue > 0
    # Bounded: a queue of 512 spans, not 50,000 (a finished span costs a few KB).
    assert peak < 16 * 1024 * 1024, peak


def test_daemon_that_stops_mid_way_keeps_the_application_running():
    from otel_xray.daemon.server import LocalDaemon

    daemon = LocalDaemon("127.0.0.1", 0).start()
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    provider = TracerProvider()
    provider.add_span_processor(XRayBatchSpanProcessor(exporter, schedule_delay_millis=10))
    tracer = provider.get_tracer("t")
    for index in range(2000):
        if index == 1000:
            provider.force_flush()
            daemon.wait_for(1000)
            daemon.stop()
        with tracer.start_as_current_span("s"):
            pass
    provider.shutdown()
    stats = exporter.stats()
    assert daemon.document_count == 1000
    assert stats.spans_received == 2000
    assert stats.send_failures.get("connection_refused", 0) >= 500
