"""XRaySpanExporter end to end: SDK spans -> exporter -> real UDP -> local daemon."""

from __future__ import annotations

import errno
import logging
import socket
import threading

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind

from otel_xray import XRayIdGenerator, XRaySpanExporter
from otel_xray.assemble import MAX_ANNOTATIONS_PER_TRACE, nest
from otel_xray.wire.udp import SendFailure

from otel_xray.wire.framing import HEADER

from .spans import make_span, span_context
from .test_wire_udp import free_udp_port


def provider_for(exporter, batch=True):
    provider = TracerProvider(resource=Resource.create({"service.name": "orders"}), id_generator=XRayIdGenerator())
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return provider


def test_spans_arrive_as_valid_documents_with_subsegments_nested(daemon):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    provider = provider_for(exporter)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("GET /orders", kind=SpanKind.SERVER) as server:
        server.set_attribute("http.request.method", "GET")
        server.set_attribute("http.response.status_code", 200)
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as query:
            query.set_attribute("db.system", "postgresql")
            query.set_attribute("db.name", "shop")
    provider.shutdown()
    assert daemon.wait_for(2, entities=True)
    (received,) = daemon.received()  # one batch: one document, as the X-Ray SDKs send it
    assert received.verdict.valid, received.verdict.errors
    segment = received.document
    (subsegment,) = segment["subsegments"]
    assert segment["name"] == "orders" and "type" not in segment and segment["http"]["response"]["status"] == 200
    # Embedded, a subsegment carries neither trace_id, parent_id nor type: X-Ray needs them of
    # independent subsegments only, and its place in the segment says all three.
    assert subsegment["name"] == "shop" and not {"type", "parent_id", "trace_id"} & set(subsegment)
    stats = exporter.stats()
    assert (stats.spans_exported, stats.documents_sent, stats.spans_dropped) == (2, 1, 0)
    assert stats.bytes_sent == received.size  # document bytes; the transport adds its header line


def test_subsegment_whose_parent_is_in_another_batch_goes_on_its_own(daemon):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    child = make_span(name="child", kind=SpanKind.CLIENT, parent=span_context())
    exporter.export([child])
    assert daemon.wait_for(1)
    (doc,) = daemon.documents()
    assert doc["type"] == "subsegment" and "subsegments" not in doc


def test_nested_subsegments_under_subsegments_and_other_traces_stay_apart():
    root = {"id": "a" * 16, "trace_id": "1-00000001-000000000000000000000001", "name": "root"}
    mid = {"id": "b" * 16, "trace_id": root["trace_id"], "parent_id": "a" * 16, "type": "subsegment", "name": "mid"}
    leaf = {"id": "c" * 16, "trace_id": root["trace_id"], "parent_id": "b" * 16, "type": "subsegment", "name": "leaf"}
    stranger = {"id": "d" * 16, "trace_id": "1-00000002-000000000000000000000002", "parent_id": "a" * 16, "type": "subsegment", "name": "x"}
    server_child = {"id": "e" * 16, "trace_id": root["trace_id"], "parent_id": "a" * 16, "name": "segment-child"}
    roots = nest([leaf, mid, root, stranger, server_child])
    assert [(doc["name"], spans) for doc, spans in roots] == [("root", 3), ("x", 1), ("segment-child", 1)]
    assert root["subsegments"] == [mid] and mid["subsegments"] == [leaf]
    # Embedded ones lose what their place says; the independent ones keep it.
    assert mid == {"id": "b" * 16, "name": "mid", "subsegments": [leaf]} and leaf == {"id": "c" * 16, "name": "leaf"}
    assert stranger["type"] == "subsegment" and stranger["parent_id"] == "a" * 16 and "trace_id" in stranger


def test_too_large_together_is_sent_as_separate_documents(daemon):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    parent = make_span(name="parent", kind=SpanKind.SERVER, parent=None)
    from opentelemetry.trace import SpanContext, TraceFlags

    parent_context = SpanContext(parent.context.trace_id, parent.context.span_id, False, TraceFlags(1))
    children = [make_span(name=f"c{i}", parent=parent_context, attributes={"blob": "x" * 20_000}) for i in range(5)]
    exporter.export(children + [parent])
    assert daemon.wait_for(6, entities=True)
    received = daemon.received()
    assert all(r.verdict.valid for r in received) and all(r.size <= 64_000 for r in received)
    assert len(received) >= 2
    assert sorted(e["name"] for e in daemon.entities()) == ["c0", "c1", "c2", "c3", "c4", "svc"]
    # Sent on their own, the subsegments carry again what their embedded form left out.
    segment_id = "%016x" % parent.context.span_id
    for doc in (r.document for r in received if r.document["name"] != "svc"):
        assert (doc["type"], doc["parent_id"], doc["trace_id"]) == ("subsegment", segment_id, received[0].document["trace_id"])
    stats = exporter.stats()
    assert stats.spans_exported == 6 and stats.documents_trimmed == 0


@pytest.mark.parametrize("batch", [False, True], ids=["one span per call", "in a batch"])
def test_a_local_root_call_too_large_for_one_document_is_still_one_span(daemon, batch):
    # A CLIENT span without a parent becomes two documents, the service's segment holding the call;
    # split because it is too large together, they still carry one span between them.
    call = make_span(name="call", kind=SpanKind.CLIENT, attributes={f"k{i}": "v" * 900 for i in range(80)})
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    assert exporter.export([call, make_span(name="other")] if batch else [call]) is SpanExportResult.SUCCESS
    stats = exporter.stats()
    assert (stats.spans_received, stats.spans_exported, stats.spans_dropped) == (1 + batch, 1 + batch, 0)
    assert stats.documents_sent == 2 + batch
    assert daemon.wait_for(2 + batch)
    received = daemon.received()
    assert all(r.verdict.valid for r in received)
    segment, subsegment = (r.document for r in received[:2])
    assert (segment["name"], subsegment["name"]) == ("svc", "call")
    assert (subsegment["type"], subsegment["parent_id"], subsegment["trace_id"]) == ("subsegment", segment["id"], segment["trace_id"])


def test_no_daemon_listening_costs_a_counter_not_an_exception():
    exporter = XRaySpanExporter(endpoint=f"127.0.0.1:{free_udp_port()}")
    provider = provider_for(exporter, batch=False)
    tracer = provider.get_tracer("t")
    for _ in range(30):
        with tracer.start_as_current_span("work"):
            pass
    provider.shutdown()
    stats = exporter.stats()
    assert stats.spans_received == 30
    assert stats.send_failures.get(SendFailure.CONNECTION_REFUSED, 0) >= 15
    assert stats.lost >= 15


def test_unresolvable_daemon_host_drops_and_counts():
    exporter = XRaySpanExporter(endpoint="no-such-daemon.invalid:2000")
    assert exporter.export([make_span()]) is SpanExportResult.FAILURE
    stats = exporter.stats()
    assert stats.send_failures == {SendFailure.RESOLVE: 1} and stats.spans_dropped == 1


def test_loss_is_logged_at_warning_at_most_once_per_interval(caplog):
    exporter = XRaySpanExporter(endpoint="no-such-daemon.invalid:2000")
    with caplog.at_level(logging.WARNING, logger="otel_xray.exporter"):
        for _ in range(50):
            exporter.export([make_span()])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "not delivered" in warnings[0].getMessage() and "resolve" in warnings[0].getMessage()


def test_export_after_shutdown_fails_and_sends_nothing(daemon):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    assert exporter.force_flush() is True
    exporter.shutdown()
    exporter.shutdown()  # idempotent
    assert exporter.export([make_span()]) is SpanExportResult.FAILURE
    assert exporter.force_flush() is False
    daemon.wait_quiet(quiet=0.2, timeout=1)
    assert daemon.document_count == 0


def test_a_span_that_cannot_be_translated_is_counted_and_the_rest_still_go(daemon):
    class Broken:
        name = "broken"
        links = ()

        def __getattr__(self, item):
            raise RuntimeError("not a span")

    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    result = exporter.export([Broken(), make_span(name="fine")])
    assert result is SpanExportResult.FAILURE
    assert daemon.wait_for(1)
    stats = exporter.stats()
    assert stats.translation_errors == 1 and stats.spans_exported == 1


def test_annotation_budget_of_fifty_per_trace(daemon):
    attributes = {f"attr{i:02d}": i for i in range(40)}
    first = make_span(attributes=attributes, parent=span_context())
    second = make_span(attributes={f"more{i:02d}": i for i in range(20)}, parent=span_context())
    exporter = XRaySpanExporter(endpoint=daemon.endpoint, index_all_attributes=True)
    exporter.export([first, second])
    assert daemon.wait_for(2)
    docs = daemon.documents()
    assert docs[0]["trace_id"] == docs[1]["trace_id"]
    total = sum(len(d.get("annotations", {})) for d in docs)
    assert total == MAX_ANNOTATIONS_PER_TRACE
    assert docs[1]["annotations"] == {f"more{i:02d}": i for i in range(10)}
    assert docs[1]["metadata"]["default"]["more15"] == 15
    assert exporter.stats().annotations_over_budget == 10


@pytest.mark.parametrize("batch", [False, True], ids=["one span per call", "in a batch"])
def test_annotations_of_a_local_root_call_count_against_the_trace_budget(daemon, batch):
    # A CLIENT span without a parent is a service segment holding the call: the call's annotations
    # are in the embedded subsegment, and the trace's budget of 50 holds for them as well.
    call = make_span(name="call", kind=SpanKind.CLIENT, attributes={f"a{i:02d}": i for i in range(60)})
    exporter = XRaySpanExporter(endpoint=daemon.endpoint, index_all_attributes=True)
    # In a batch, a span of the same trace after it finds the budget spent.
    inside = span_context(trace_id=call.context.trace_id, span_id=call.context.span_id)
    exporter.export([call, make_span(name="other", parent=inside, attributes={"b": 1})] if batch else [call])
    assert exporter.stats().annotations_over_budget == 10 + batch
    assert daemon.wait_for(1 + batch)
    segment = daemon.documents()[0]
    (subsegment,) = [s for s in segment["subsegments"] if s["name"] == "call"]
    assert "annotations" not in segment
    assert subsegment["annotations"] == {f"a{i:02d}": i for i in range(50)}
    assert subsegment["metadata"]["default"] == {f"a{i:02d}": i for i in range(50, 60)}


def test_datagram_too_long_for_the_path_is_resent_smaller(daemon):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    real = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    real.connect(exporter.daemon.udp)

    class SmallPath:  # a path that, like macOS loopback, takes at most 9,216 bytes
        def send(self, datagram):
            if len(datagram) > 9216:
                raise OSError(errno.EMSGSIZE, "Message too long")
            return real.send(datagram)

    exporter.transport._sock = SmallPath()
    span = make_span(attributes={f"k{i}": "v" * 500 for i in range(40)})
    exporter.export([span])
    assert daemon.wait_for(1)
    received = daemon.received()[0]
    assert received.verdict.valid and received.size + len(HEADER) <= 9216
    stats = exporter.stats()
    assert stats.documents_trimmed == 1 and stats.spans_exported == 1
    real.close()


def test_many_threads_exporting_at_once(daemon):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    provider = provider_for(exporter, batch=False)
    tracer = provider.get_tracer("t")
    errors = []

    def work():
        try:
            for _ in range(200):
                with tracer.start_as_current_span("w"):
                    pass
        except Exception as exc:  # pragma: no cover - would fail the test below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    provider.shutdown()
    assert not errors
    assert daemon.wait_for(1600, timeout=10, entities=True)
    assert exporter.stats().spans_exported == 1600


def test_shutdown_racing_with_export_never_raises(daemon):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    spans = [make_span() for _ in range(50)]
    results = []

    def export_repeatedly():
        for _ in range(20):
            results.append(exporter.export(spans))

    threads = [threading.Thread(target=export_repeatedly) for _ in range(4)]
    for thread in threads:
        thread.start()
    exporter.force_flush()
    exporter.shutdown()
    for thread in threads:
        thread.join()
    assert set(results) <= {SpanExportResult.SUCCESS, SpanExportResult.FAILURE}
    assert exporter.export(spans) is SpanExportResult.FAILURE


@pytest.mark.parametrize("kwargs", [{}, {"indexed_attributes": ["a"]}, {"index_all_attributes": True}])
def test_constructor_defaults_and_arguments(kwargs):
    exporter = XRaySpanExporter(**kwargs)
    assert exporter.daemon.udp == ("127.0.0.1", 2000)
    assert tuple(exporter.indexed_attributes) == tuple(kwargs.get("indexed_attributes", ()))
    assert exporter.index_all_attributes is kwargs.get("index_all_attributes", False)
    exporter.shutdown()


class QueueingTransport:
    """A transport that accepts documents for later, as the X-Ray API transport does (the contract, in memory)."""

    name = "memory"
    max_document_bytes = 64_000
    last_error = None

    def __init__(self):
        self.accepted = []
        self.losses = {}
        self.calls = []

    def describe(self):
        return "memory"

    def send(self, document, spans):
        self.accepted.append((document, spans))
        return None

    def take_losses(self):
        losses, self.losses = self.losses, {}
        return losses

    def force_flush(self, timeout_seconds):
        self.calls.append(("force_flush", timeout_seconds))
        return True

    def shutdown(self, timeout_seconds):
        self.calls.append(("shutdown", timeout_seconds))


def test_any_transport_that_meets_the_contract_and_losses_it_reports_later(monkeypatch, caplog):
    from otel_xray import exporter as exporter_module
    from otel_xray.wire.transport import Transport

    transport = QueueingTransport()
    assert isinstance(transport, Transport)
    monkeypatch.setattr(exporter_module, "create_transport", lambda settings: transport)
    exporter = XRaySpanExporter()
    parent = make_span(name="parent", kind=SpanKind.SERVER)
    from opentelemetry.trace import SpanContext, TraceFlags

    context = SpanContext(parent.context.trace_id, parent.context.span_id, False, TraceFlags(1))
    assert exporter.export([parent, make_span(name="child", parent=context)]) is SpanExportResult.SUCCESS
    ((document, spans),) = transport.accepted
    assert spans == 2 and b'"subsegments"' in document and not document.startswith(b'{"format"')
    assert exporter.stats().spans_exported == 2
    # Later, the transport learns that the call carrying them failed (throttled, say).
    transport.losses = {"throttled": 2}
    transport.last_error = "ThrottledException"
    with caplog.at_level(logging.WARNING, logger="otel_xray.exporter"):
        assert exporter.force_flush(2500) is True
    stats = exporter.stats()
    assert (stats.spans_exported, stats.spans_dropped, stats.send_failures) == (0, 2, {"throttled": 2})
    assert "ThrottledException" in caplog.records[-1].getMessage() and "(memory)" in caplog.records[-1].getMessage()
    exporter.shutdown()
    assert transport.calls == [("force_flush", 2.5), ("shutdown", 10.0)]


def test_otlp_goes_by_udp_only(monkeypatch):
    from otel_xray import exporter as exporter_module

    monkeypatch.setattr(exporter_module, "create_transport", lambda settings: QueueingTransport())
    with pytest.raises(ValueError, match="UDP only"):
        XRaySpanExporter(protocol="otlp")
