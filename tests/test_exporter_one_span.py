"""A call of one span (SimpleSpanProcessor, the Lambda invocation processor, a quiet batch) has a
short path of its own; it is counted and sent exactly as a batch of one would be.

Each row: the span, what the exporter's counters say after ``export([span])``, and whether the
call reports success. Real SDK spans, real UDP to the local daemon.
"""

from __future__ import annotations

from typing import Any, Dict

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_xray import XRaySpanExporter
from otel_xray.document import MAX_ANNOTATIONS_PER_TRACE

from .spans import make_span, raw_span, span_context
from .test_wire_udp import free_udp_port


class NotASpan:
    """An object handed to export that translation cannot read (a broken custom processor's)."""

    name = "not-a-span"


CASES: Dict[str, Any] = {
    "a span that translates is sent as one document": dict(
        span=lambda: make_span(name="fine"),
        stats=dict(spans_received=1, spans_exported=1, documents_sent=1, spans_dropped=0),
        result=SpanExportResult.SUCCESS,
        documents=["fine"],
    ),
    "a span X-Ray cannot hold is dropped and counted by cause": dict(
        span=lambda: raw_span(name="absurd", context=span_context(span_id=1 << 70_000)),
        stats=dict(spans_received=1, spans_exported=0, documents_sent=0, spans_dropped=1,
                   translation_dropped={"spans_invalid_id": 1}),
        result=SpanExportResult.FAILURE,
        documents=[],
    ),
    "what translation cannot read is a translation error, not an exception": dict(
        span=NotASpan,
        stats=dict(spans_received=1, spans_exported=0, spans_dropped=1, translation_errors=1),
        result=SpanExportResult.FAILURE,
        documents=[],
    ),
    "a document over X-Ray's 64 kB is trimmed and sent": dict(
        span=lambda: make_span(name="large", attributes={"payload": "x" * 200_000}),
        stats=dict(spans_received=1, spans_exported=1, documents_sent=1, documents_trimmed=1, spans_dropped=0),
        result=SpanExportResult.SUCCESS,
        documents=["large"],
    ),
    "annotations over a trace's budget are counted": dict(
        span=lambda: make_span(name="indexed", attributes={f"a{i}": i for i in range(MAX_ANNOTATIONS_PER_TRACE + 7)}),
        exporter=dict(index_all_attributes=True),
        # Indexing everything indexes the resource's service.name too: 58 for a budget of 50.
        stats=dict(spans_received=1, spans_exported=1, documents_sent=1, annotations_over_budget=8),
        result=SpanExportResult.SUCCESS,
        documents=["indexed"],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_one_span_per_call(case, daemon):
    row = CASES[case]
    exporter = XRaySpanExporter(endpoint=daemon.endpoint, **row.get("exporter", {}))
    assert exporter.export([row["span"]()]) is row["result"]
    stats = exporter.stats()
    for field, expected in row["stats"].items():
        assert getattr(stats, field) == expected, field
    if row["documents"]:
        assert daemon.wait_for(len(row["documents"]))
    daemon.wait_quiet(quiet=0.2, timeout=2)
    assert [d["name"] for d in daemon.documents()] == row["documents"]
    assert all(r.verdict.valid for r in daemon.received())
    if stats.documents_sent:
        assert stats.bytes_sent == sum(r.size for r in daemon.received())


def test_one_span_per_call_to_a_closed_port_counts_every_span_lost():
    exporter = XRaySpanExporter(endpoint=f"127.0.0.1:{free_udp_port()}")
    for index in range(20):
        exporter.export([make_span(name=f"s{index}")])
    exporter.force_flush()
    stats = exporter.stats()
    assert stats.spans_received == 20
    assert stats.spans_exported + stats.spans_dropped == 20
    assert stats.spans_dropped == stats.lost == sum(stats.send_failures.values()) == stats.send_failures["connection_refused"]
    assert stats.spans_dropped >= 19  # every datagram but possibly the last is refused before the flush collects it


@pytest.mark.parametrize(
    "make",
    [lambda spans: iter(spans), lambda spans: (span for span in spans), lambda spans: {i: s for i, s in enumerate(spans)}.values()],
    ids=["an iterator", "a generator", "dict values"],
)
@pytest.mark.parametrize("count", [1, 3])
def test_any_iterable_of_spans_is_exported_as_a_sequence_would_be(daemon, make, count):
    spans = [make_span(name=f"s{index}") for index in range(count)]
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    assert exporter.export(make(spans)) is SpanExportResult.SUCCESS
    stats = exporter.stats()
    assert (stats.spans_received, stats.spans_exported, stats.spans_dropped) == (count, count, 0)
    assert daemon.wait_for(count)
    assert sorted(d["name"] for d in daemon.documents()) == [f"s{index}" for index in range(count)]
