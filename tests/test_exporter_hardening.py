"""The exporter's promises under attack (issue 9): every span sent or counted, nothing waits, nothing hangs.

Real SDK spans, real UDP on loopback, the local daemon and its validator.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_xray import XRayIdGenerator, XRaySpanExporter
from otel_xray.assemble import MAX_NESTING_DEPTH
from otel_xray.wire import framing, udp
from otel_xray.wire.framing import MAX_DOCUMENT_BYTES

from .spans import make_span, raw_span, span_context
from .test_wire_udp import free_udp_port


def traces_of_six(count: int):
    """``count`` requests, each a SERVER span with five children: one export batch per request."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}), id_generator=XRayIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    batches = []
    for _ in range(count):
        memory.clear()
        with tracer.start_as_current_span("GET /", kind=SpanKind.SERVER):
            for child in range(5):
                with tracer.start_as_current_span(f"child-{child}", kind=SpanKind.CLIENT):
                    pass
        batches.append(list(memory.get_finished_spans()))
    provider.shutdown()
    return batches


def chain(depth: int):
    """A SERVER span and ``depth - 1`` descendants, each the only child of the one before."""
    spans = [raw_span(name="root", context=span_context(span_id=1), parent=None, kind=SpanKind.SERVER)]
    for index in range(2, depth + 1):
        spans.append(raw_span(name=f"level-{index}", context=span_context(span_id=index), parent=span_context(span_id=index - 1)))
    return spans


class CountingEncoder:
    """Stands in for orjson in wire.framing and counts what is encoded (operations, not time)."""

    def __init__(self):
        self.calls = 0
        self.bytes = 0

    def dumps(self, doc):
        self.calls += 1
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        self.bytes += len(body)
        return body


# ------------------------------------------------------------------ 4: spans, not datagrams
def test_a_refused_datagram_counts_every_span_it_carried(caplog):
    exporter = XRaySpanExporter(endpoint=f"127.0.0.1:{free_udp_port()}")
    with caplog.at_level(logging.WARNING, logger="otel_xray.exporter"):
        for batch in traces_of_six(50):
            exporter.export(batch)
        exporter.force_flush()
    stats = exporter.stats()
    assert stats.documents_sent == 50  # one nested document per request, each refused
    assert (stats.spans_received, stats.spans_exported, stats.lost) == (300, 0, 300)
    assert stats.send_failures == {"connection_refused": 300}
    message = caplog.records[0].getMessage()
    assert "not delivered" in message and "connection refused" in message.split("last error:")[1]


def test_every_span_is_accounted_for_with_many_threads_and_no_daemon():
    exporter = XRaySpanExporter(endpoint=f"127.0.0.1:{free_udp_port()}")
    provider = TracerProvider(resource=Resource.create({"service.name": "busy"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    start = threading.Barrier(8)

    def work():
        start.wait()
        for _ in range(250):
            with tracer.start_as_current_span("w"):
                pass

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    provider.shutdown()
    stats = exporter.stats()
    assert stats.spans_received == 2000
    # Counted under locks: nothing is lost between threads, and the sums add up exactly.
    assert stats.spans_exported + stats.spans_dropped == 2000
    assert stats.spans_dropped == sum(stats.send_failures.values()) == stats.lost
    assert stats.send_failures["connection_refused"] > 0 and stats.spans_exported >= 0


# ------------------------------------------------------------------ 2: no DNS on the export path
def test_export_never_waits_for_a_resolver_that_does_not_answer(monkeypatch, daemon):
    release = threading.Event()
    real_getaddrinfo = socket.getaddrinfo
    daemon_host, daemon_port = daemon.address

    def hanging_lookup(host, port, *args):
        release.wait()
        return real_getaddrinfo(daemon_host, daemon_port, *args)

    monkeypatch.setattr(udp.socket, "getaddrinfo", hanging_lookup)
    monkeypatch.setattr(udp, "FIRST_RESOLVE_WAIT_SECONDS", 0.0)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "xray-daemon:2000")  # as on ECS and EKS
    exporter = XRaySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "dns"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # export() on the application's threads
    tracer = provider.get_tracer("t")

    def work():
        for _ in range(50):
            with tracer.start_as_current_span("request"):
                pass

    threads = [threading.Thread(target=work, daemon=True) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)  # a bound, not a timing: an export waiting on the lookup would never return
    still_waiting = any(thread.is_alive() for thread in threads)
    if still_waiting:
        release.set()
    assert not still_waiting and not release.is_set()
    stats = exporter.stats()
    assert stats.send_failures == {"resolve": 300} and stats.lost == 300
    assert "xray-daemon" in exporter.transport.last_error
    release.set()
    assert exporter.transport._first_answer.wait(10)
    with tracer.start_as_current_span("after the answer"):
        pass
    assert daemon.wait_for(1)
    assert [d["name"] for d in daemon.documents()] == ["after the answer"]
    provider.shutdown()


# ------------------------------------------------------------------ 3: fork while threads export
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_children_never_hang_and_start_with_their_own_counters(daemon):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint, index_all_attributes=True)
    spans = [make_span(attributes={"k": i}, parent=span_context()) for i in range(4)]
    stop = threading.Event()

    def export_forever():  # holds the exporter's and the annotation budget's locks often
        while not stop.is_set():
            exporter.export(spans)

    threads = [threading.Thread(target=export_forever, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    outcomes = []
    try:
        for _ in range(150):
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    exporter.export(spans[:1])
                    stats = exporter.stats()
                    code = 0 if (stats.spans_received, stats.spans_exported) == (1, 1) else 3
                except BaseException:
                    code = 4
                os._exit(code)
            outcomes.append(_wait_bounded(pid, 20))
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert outcomes == [0] * len(outcomes), f"children hung ('hung') or failed: {sorted(set(outcomes), key=str)}"


def _wait_bounded(pid: int, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hung"


# ------------------------------------------------------------------ 6: deep parent chains
@pytest.mark.parametrize("depth", [1200, 5000])
def test_deep_chains_are_nested_linearly_in_valid_documents(daemon, monkeypatch, depth):
    encoder = CountingEncoder()
    monkeypatch.setattr(framing, "_orjson", encoder)
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    assert exporter.export(chain(depth)) is SpanExportResult.SUCCESS
    stats = exporter.stats()
    assert stats.spans_exported == depth and stats.lost == 0
    documents = -(-depth // (MAX_NESTING_DEPTH + 1))
    assert stats.documents_sent == documents
    # Linear: each document encoded once (a chain's documents fit), whatever the depth.
    assert encoder.calls == documents
    assert daemon.wait_for(depth, timeout=20, entities=True)
    received = daemon.received()
    assert all(item.verdict.valid for item in received), [item.verdict.errors for item in received if not item.verdict.valid][:1]
    assert sorted(int(e["id"], 16) for e in daemon.entities()) == list(range(1, depth + 1))


def test_a_deep_chain_too_large_together_is_split_with_linear_work(daemon, monkeypatch):
    encoder = CountingEncoder()
    monkeypatch.setattr(framing, "_orjson", encoder)
    spans = chain(1200)
    spans = [raw_span(name=s.name, context=s.context, parent=s.parent, kind=s.kind, attributes={"pad": "p" * 3000}) for s in spans]
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    exporter.export(spans)
    stats = exporter.stats()
    assert stats.spans_exported == 1200 and stats.lost == 0
    # Every span is the root of at most one encoding attempt, plus the first attempt of each document.
    assert encoder.calls <= 2 * 1200
    # ...and each byte is encoded at most once per level of a bounded nest.
    assert encoder.bytes <= (MAX_NESTING_DEPTH + 2) * stats.bytes_sent
    assert daemon.wait_for(1200, timeout=20, entities=True)
    assert all(item.verdict.valid and item.size <= MAX_DOCUMENT_BYTES for item in daemon.received())


# ------------------------------------------------------------------ 11: cycles of parents
def test_spans_whose_parents_form_a_cycle_are_exported(daemon):
    a = raw_span(name="a", context=span_context(span_id=0xA), parent=span_context(span_id=0xB))
    b = raw_span(name="b", context=span_context(span_id=0xB), parent=span_context(span_id=0xC))
    c = raw_span(name="c", context=span_context(span_id=0xC), parent=span_context(span_id=0xA))
    selfish = raw_span(name="self", context=span_context(span_id=0xD), parent=span_context(span_id=0xD))
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    assert exporter.export([a, b, c, selfish]) is SpanExportResult.SUCCESS
    assert exporter.stats().spans_exported == 4
    assert daemon.wait_for(4, entities=True)
    assert sorted(e["name"] for e in daemon.entities()) == ["a", "b", "c", "self"]
    assert all(item.verdict.valid for item in daemon.received())


# ------------------------------------------------------------------ 10: nothing fits
def test_a_span_whose_id_x_ray_cannot_hold_is_dropped_and_counted(daemon):
    # It once made a 64,567-byte "minimal" document that was sent anyway; the translator now refuses it.
    absurd = raw_span(name="absurd", context=span_context(span_id=1 << 260_000))  # a 65,000-digit ID
    fine = make_span(name="fine")
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    assert exporter.export([absurd, fine]) is SpanExportResult.FAILURE
    stats = exporter.stats()
    assert stats.spans_dropped == 1 and stats.spans_exported == 1 and stats.spans_received == 2
    assert stats.translation_dropped == {"spans_invalid_id": 1}
    assert daemon.wait_for(1)
    daemon.wait_quiet(quiet=0.2, timeout=2)
    assert [d["name"] for d in daemon.documents()] == ["fine"]


def test_a_document_that_cannot_fit_even_minimal_is_not_encoded():
    # The last shedding step is checked like the others: a hand-built document whose identity alone is
    # over the limit gives no body at all (the exporter counts it as too_large) instead of one over it.
    from otel_xray.wire.framing import encode_document

    doc = {"name": "n", "id": "1" * 70_000, "trace_id": "1-5759e988-bd862e3fe1be46a994272793", "start_time": 1.0,
           "end_time": 2.0, "metadata": {"default": {"k": "v" * 70_000}}}
    encoded = encode_document(doc)
    assert encoded.body is None and encoded.shed[-1] == "minimal"


# ------------------------------------------------------------------ the loss WARNING reaches a reader
class _OpenTelemetryHandler(logging.Handler):
    """Stands for opentelemetry's LoggingHandler (which is recognised by its module)."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


_OpenTelemetryHandler.__module__ = "opentelemetry.sdk._logs._internal"


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.mark.parametrize(
    "handlers, to_last_resort",
    [
        ([], 1),  # Python's own last resort, once (not twice)
        ([_OpenTelemetryHandler], 1),  # swallowed by OpenTelemetry's handler: written to stderr too
        ([_Collect], 0),  # the application configured logging: left to it
        ([_OpenTelemetryHandler, _Collect], 0),
    ],
)
def test_warnings_reach_stderr_unless_a_handler_other_than_opentelemetrys_takes_them(monkeypatch, handlers, to_last_resort):
    from otel_xray._log import log_visibly

    last_resort = _Collect()
    last_resort.setLevel(logging.WARNING)
    monkeypatch.setattr(logging, "lastResort", last_resort)
    logger = logging.getLogger(f"otel_xray.test.visibly.{len(handlers)}.{to_last_resort}")
    logger.propagate = False
    installed = [handler() for handler in handlers]
    for handler in installed:
        logger.addHandler(handler)
    try:
        log_visibly(logger, logging.WARNING, "lost %d", 3)
        log_visibly(logger, logging.DEBUG, "not shown %d", 4)
    finally:
        for handler in installed:
            logger.removeHandler(handler)
    assert [r.getMessage() for r in last_resort.records] == ["lost 3"] * to_last_resort
    for handler in installed:
        assert [r.getMessage() for r in handler.records] == ["lost 3"]
