"""The exporter with the 'api' transport: spans reach the local daemon through PutTraceSegments.

The same spans through the UDP transport and through the X-Ray API arrive as
the same documents; a loss through the API is named in the exporter's WARNING.
"""

from __future__ import annotations

import logging

import pytest
from opentelemetry.trace import SpanKind

from otel_xray import XRaySpanExporter
from otel_xray.daemon.server import LocalDaemon
from otel_xray.daemon.store import TraceStore
from otel_xray.local_xray import store_routes

from .spans import make_span, span_context
from .xray_standin import fake_aws, isolated_aws  # noqa: F401 - fixtures

pytest.importorskip("botocore", reason="the 'api' transport needs botocore (pip install 'otel-xray[api]')")

TRACE = 0x5759E988BD862E3FE1BE46A994272793


def _request_spans():
    server = make_span("GET /orders", SpanKind.SERVER, {"http.request.method": "GET", "http.response.status_code": 200})
    parent = span_context(TRACE, server.context.span_id)
    query = make_span("SELECT", SpanKind.CLIENT, {"db.system": "postgresql", "db.name": "shop"}, parent=parent)
    return [server, query]


@pytest.fixture
def store(tmp_path):
    opened = TraceStore(str(tmp_path / "traces.db"))
    yield opened
    opened.close()


@pytest.fixture
def api_daemon(store):
    daemon = LocalDaemon("127.0.0.1", 0, http_routes=store_routes(store, console=False), store=store).start()
    yield daemon
    daemon.stop()


def test_spans_reach_the_local_daemon_through_put_trace_segments(fake_aws, store, api_daemon, daemon):
    spans = _request_spans()
    api = XRaySpanExporter(transport="api", api_endpoint=api_daemon.http.url, region="us-east-1")
    udp = XRaySpanExporter(endpoint=daemon.endpoint)
    try:
        assert api.export(spans).name == "SUCCESS"
        assert udp.export(spans).name == "SUCCESS"
        assert api.force_flush(10_000)  # PutTraceSegments has been answered
        assert store.flush()
        assert daemon.wait_for(2)

        def by_id(documents):
            return sorted(documents, key=lambda document: document["id"])

        assert by_id(stored.document for stored in store.all_documents()) == by_id(daemon.documents())
        assert api.stats().spans_exported == 2 and api.stats().lost == 0
        assert api.transport.name == "api"
    finally:
        api.shutdown()
        udp.shutdown()


def test_a_loss_through_the_api_is_named_in_the_warning(isolated_aws, caplog):
    # No credentials and no Region: the transport cannot send, says so once, and every span is counted.
    exporter = XRaySpanExporter(transport="api", api_endpoint="http://127.0.0.1:9")
    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        exporter.export(_request_spans())
        exporter.force_flush(5_000)
        exporter.shutdown()
    stats = exporter.stats()
    assert stats.spans_received == 2 and stats.lost == 2 and stats.spans_exported == 0
    text = " ".join(record.getMessage() for record in caplog.records)
    assert "Region" in text or "region" in text
    assert "api " in text  # the WARNING says where documents were going


def test_otlp_cannot_go_through_the_api():
    with pytest.raises(ValueError, match="api"):
        XRaySpanExporter(transport="api", protocol="otlp", region="us-east-1")
