"""The X-Ray API transport: moto's X-Ray server, a scripted loopback stand-in, botocore's real signing and retries."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from otel_xray import XRaySpanExporter
from otel_xray.config import transport_settings
from otel_xray.wire.xray_api import MAX_DOCUMENTS_PER_CALL, ApiFailure, XRayApiTransport

from .spans import make_span, span_context
from .transport_contract import body, call_guarded, pipeline_documents, spans_in
from .xray_standin import (  # noqa: F401 - fixtures
    XRayStandIn,
    client_error,
    fake_aws,
    held,
    isolated_aws,
    ok,
    server_error,
    standin,
    throttled,
)

from opentelemetry.trace import SpanKind


class Recorder:
    """Stands in for the backoff's wait and clock: records each delay and moves time by it."""

    def __init__(self) -> None:
        self.delays: List[float] = []
        self.now = 1000.0

    def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += delay

    def clock(self) -> float:
        return self.now


def transport_for(standin: XRayStandIn, **options: Any) -> XRayApiTransport:
    options.setdefault("linger_seconds", 0.0)
    options.setdefault("read_timeout_seconds", 60.0)
    return XRayApiTransport(standin.url, "us-east-1", **options)


def flushed(transport: XRayApiTransport) -> bool:
    return bool(call_guarded(lambda: transport.force_flush(20.0)))


# ------------------------------------------------------------------ moto's X-Ray server
@pytest.fixture
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def xray_client(url: str) -> Any:
    import botocore.session

    return botocore.session.get_session().create_client("xray", region_name="us-east-1", endpoint_url=url)


def stored_documents(url: str, trace_ids: List[str]) -> List[bytes]:
    """Every segment document X-Ray (moto) holds for these traces, as the strings BatchGetTraces returns."""
    response = xray_client(url).batch_get_traces(TraceIds=trace_ids)
    assert not response.get("UnprocessedTraceIds")
    return [segment["Document"].encode("utf-8") for trace in response["Traces"] for segment in trace["Segments"]]


def udp_datagrams(spans: List[Any]) -> List[bytes]:
    """What today's exporter sends over UDP for ``spans``, caught on a loopback socket."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    exporter = XRaySpanExporter(endpoint="%s:%d" % receiver.getsockname())
    exporter.export(spans)
    exporter.shutdown()
    sent = exporter.stats().documents_sent
    datagrams = [receiver.recv(70_000) for _ in range(sent)]
    receiver.close()
    return datagrams


def traced_spans(traces: int) -> List[Any]:
    spans = []
    for number in range(traces):
        trace_id = 0x6A1B2C3D4E5F60718293A4B500000000 + number
        server = make_span(
            "GET /orders/{id}",
            SpanKind.SERVER,
            {"http.request.method": "GET", "url.path": f"/orders/{number}", "http.response.status_code": 200,
             "user_agent.original": "curl/8 (é ü 東京)"},
            parent=span_context(trace_id, 0x7000 + number, remote=True),
        )
        child_parent = span_context(trace_id, server.context.span_id)
        spans.append(server)
        spans.append(make_span("SELECT", SpanKind.CLIENT, {"db.system": "postgresql", "db.statement": "SELECT 1"},
                               parent=child_parent))
        try:
            raise ValueError("coupon has expired")
        except ValueError as exc:
            spans.append(make_span("apply-discount", parent=child_parent, exception=exc))
        # A span whose parent is in another process: sent as its own document.
        spans.append(make_span("orders publish", SpanKind.PRODUCER, {"messaging.system": "aws_sqs"},
                               parent=span_context(trace_id, 0x8000 + number)))
    return spans


def test_round_trip_through_moto_gives_back_exactly_what_udp_would_have_sent(fake_aws: None, moto_url: str) -> None:
    spans = traced_spans(traces=60)  # 120 documents: more than two full calls
    datagrams = udp_datagrams(spans)
    assert len(datagrams) == 120
    transport = XRayApiTransport(moto_url, "us-east-1", linger_seconds=5.0)
    for datagram in datagrams:
        assert transport.send(datagram, spans_in(datagram)) is None
    assert flushed(transport)
    stats = transport.stats()
    assert stats.documents_delivered == 120 and stats.spans_delivered == len(spans) and stats.spans_lost == 0
    assert stats.api_calls == 3  # 50 + 50 + 20
    assert transport.take_losses() == {}
    trace_ids = sorted({json.loads(body(d))["trace_id"] for d in datagrams})
    stored = stored_documents(moto_url, trace_ids)
    assert sorted(stored) == sorted(body(d) for d in datagrams)  # byte for byte
    transport.shutdown(5.0)


def test_moto_reports_a_bad_document_as_unprocessed_and_it_is_counted(fake_aws: None, moto_url: str) -> None:
    good = pipeline_documents(traces=2)
    bad = b'{"format":"json","version":1}\n{"id":"00000000000000aa","name":"no trace id"}'
    transport = XRayApiTransport(moto_url, "us-east-1", linger_seconds=0.0, batch_documents=50)
    for datagram, spans in good:
        transport.send(datagram, spans)
    transport.send(bad, 7)
    assert flushed(transport)
    assert transport.take_losses() == {"unprocessed:MissingParam": 7}
    assert "MissingParam" in (transport.last_error or "")
    assert transport.stats().spans_delivered == sum(spans for _, spans in good)
    transport.shutdown(5.0)


# ------------------------------------------------------------------ batching and signing
def test_batches_hold_at_most_fifty_documents_in_the_order_handed_over(fake_aws: None, standin: XRayStandIn) -> None:
    documents = pipeline_documents(traces=65)  # 130 documents
    transport = transport_for(standin, linger_seconds=5.0)
    for datagram, spans in documents:
        transport.send(datagram, spans)
    assert flushed(transport)
    sizes = [len(request.documents) for request in standin.requests]
    assert max(sizes) == MAX_DOCUMENTS_PER_CALL and sum(sizes) == 130 and len(sizes) == 3
    assert [d.encode() for d in standin.documents()] == [body(d) for d, _ in documents]
    request = standin.requests[0]
    assert request.path == "/TraceSegments"
    # Signed by botocore with the environment's credentials, for the xray service in the Region.
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/xray/aws4_request" in request.headers["Authorization"]
    assert "otel-xray/" in request.headers["User-Agent"]
    transport.shutdown(5.0)


def test_a_lingering_batch_leaves_at_once_on_force_flush(fake_aws: None, standin: XRayStandIn) -> None:
    transport = transport_for(standin, linger_seconds=3600.0)
    datagram, spans = pipeline_documents(traces=1)[0]
    transport.send(datagram, spans)
    assert flushed(transport)
    assert len(standin.requests) == 1
    transport.shutdown(5.0)


# ------------------------------------------------------------------ retries and backoff
@pytest.mark.parametrize(
    "script, jitter, expected_delays",
    [
        # Throttling: rand * min(1 s * 2**i, 20 s).
        ([throttled(), throttled()], [1.0, 1.0], [1.0, 2.0]),
        ([throttled(), throttled(), throttled()], [0.5, 0.25, 1.0], [0.5, 0.5, 4.0]),
        # 5xx: rand * min(50 ms * 2**i, 20 s).
        ([server_error(500), server_error(503)], [1.0, 0.5], [0.05, 0.05]),
        ([server_error(502)], [0.0], [0.0]),
        # x-amz-retry-after raises the wait to what the service asks (at most 5 s over the jittered one).
        ([throttled(retry_after_ms=3000)], [0.1], [3.0]),
    ],
)
def test_retries_with_botocores_jittered_backoff_then_delivers(
    fake_aws: None, standin: XRayStandIn, script: list, jitter: List[float], expected_delays: List[float]
) -> None:
    standin.script.extend(script)
    randoms = iter(jitter)
    recorder = Recorder()
    transport = transport_for(standin, sleep=recorder.sleep, clock=recorder.clock, random=lambda: next(randoms))
    documents = pipeline_documents(traces=3)
    for datagram, spans in documents:
        assert transport.send(datagram, spans) is None
    assert flushed(transport)
    assert recorder.delays == pytest.approx(expected_delays)
    stats = transport.stats()
    assert stats.retries == len(script) and stats.api_calls == len(script) + 1
    assert stats.spans_delivered == sum(spans for _, spans in documents) and stats.spans_lost == 0
    assert transport.take_losses() == {}
    # Each attempt carried the same batch.
    assert len({tuple(request.documents) for request in standin.requests}) == 1
    transport.shutdown(5.0)


@pytest.mark.parametrize(
    "reply, cause, words",
    [
        (throttled(), "throttled", ["ThrottledException", "HTTP 429", "Rate exceeded"]),
        (server_error(503), "server_error", ["ServiceUnavailable", "HTTP 503"]),
    ],
)
def test_gives_up_after_the_last_attempt_and_counts_the_spans(
    fake_aws: None, standin: XRayStandIn, reply: Any, cause: str, words: List[str]
) -> None:
    standin.script.extend([reply] * 3)
    recorder = Recorder()
    transport = transport_for(standin, max_attempts=3, sleep=recorder.sleep, clock=recorder.clock, random=lambda: 1.0)
    documents = pipeline_documents(traces=2)
    for datagram, spans in documents:
        transport.send(datagram, spans)
    assert flushed(transport)
    assert len(standin.requests) == 3 and len(recorder.delays) == 2
    assert transport.take_losses() == {cause: sum(spans for _, spans in documents)}
    assert transport.take_losses() == {}  # handed out once
    assert transport.stats().losses == {cause: sum(spans for _, spans in documents)}
    for word in words:
        assert word in (transport.last_error or "")
    assert standin.url in (transport.last_error or "")
    transport.shutdown(5.0)


def test_the_retry_budget_bounds_how_long_a_batch_is_retried(fake_aws: None, standin: XRayStandIn) -> None:
    standin.script.extend([throttled()] * 10)
    recorder = Recorder()
    transport = transport_for(
        standin, max_attempts=10, retry_budget_seconds=2.5, sleep=recorder.sleep, clock=recorder.clock, random=lambda: 1.0
    )
    datagram, spans = pipeline_documents(traces=1)[0]
    transport.send(datagram, spans)
    assert flushed(transport)
    # 1 s fits the 2.5 s budget; the next wait (2 s) would end after it, so the batch is given up.
    assert recorder.delays == [1.0]
    assert len(standin.requests) == 2
    assert transport.take_losses() == {"throttled": spans}
    transport.shutdown(5.0)


@pytest.mark.parametrize(
    "status, error_type",
    [(400, "InvalidRequestException"), (403, "AccessDeniedException"), (403, "UnrecognizedClientException")],
)
def test_a_refused_call_is_not_retried(fake_aws: None, standin: XRayStandIn, status: int, error_type: str) -> None:
    standin.script.append(client_error(status, error_type, "nope"))
    recorder = Recorder()
    transport = transport_for(standin, sleep=recorder.sleep, clock=recorder.clock)
    datagram, spans = pipeline_documents(traces=1)[0]
    transport.send(datagram, spans)
    assert flushed(transport)
    assert len(standin.requests) == 1 and recorder.delays == []
    assert transport.take_losses() == {f"rejected:{error_type}": spans}
    assert error_type in (transport.last_error or "") and "nope" in (transport.last_error or "")
    transport.shutdown(5.0)


def test_a_connection_refused_endpoint_is_retried_then_counted(fake_aws: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    transport = XRayApiTransport(f"http://127.0.0.1:{port}", "us-east-1", linger_seconds=0.0, max_attempts=3,
                                 sleep=recorder.sleep, clock=recorder.clock, random=lambda: 1.0)
    datagram, spans = pipeline_documents(traces=1)[0]
    transport.send(datagram, spans)
    assert flushed(transport)
    assert recorder.delays == pytest.approx([0.05, 0.1])
    assert transport.take_losses() == {"connection_error": spans}
    transport.shutdown(5.0)


def test_a_read_timeout_is_retried_then_counted(fake_aws: None, standin: XRayStandIn) -> None:
    releases = [threading.Event() for _ in range(2)]
    standin.script.extend(held(release) for release in releases)
    recorder = Recorder()
    transport = transport_for(standin, max_attempts=2, read_timeout_seconds=0.2, sleep=recorder.sleep,
                              clock=recorder.clock, random=lambda: 1.0)
    datagram, spans = pipeline_documents(traces=1)[0]
    transport.send(datagram, spans)
    try:
        assert flushed(transport)
    finally:
        for release in releases:
            release.set()
    assert len(standin.requests) == 2 and recorder.delays == [0.05]
    assert transport.take_losses() == {"timeout": spans}
    assert "timed out" in (transport.last_error or "").lower()
    transport.shutdown(5.0)


# ------------------------------------------------------------------ UnprocessedTraceSegments
def test_unprocessed_segments_are_counted_by_error_code(fake_aws: None, standin: XRayStandIn) -> None:
    documents = pipeline_documents(traces=3)  # per trace: a nested document (3 spans) and a lone one (1)
    ids = [json.loads(body(d))["id"] for d, _ in documents]

    def refuse(sent: List[str]) -> List[Dict[str, str]]:
        return [
            {"Id": ids[0], "ErrorCode": "InvalidTraceId", "Message": "Invalid trace id"},
            {"Id": ids[3], "ErrorCode": "InvalidSegment", "Message": "Segment too large"},
            {"Id": ids[5], "ErrorCode": "InvalidTraceId", "Message": "Invalid trace id"},
        ]

    standin.script.append(ok(unprocessed=refuse))
    transport = transport_for(standin)
    for datagram, spans in documents:
        transport.send(datagram, spans)
    assert flushed(transport)
    spans_of = [spans for _, spans in documents]
    assert transport.take_losses() == {
        "unprocessed:InvalidTraceId": spans_of[0] + spans_of[5],
        "unprocessed:InvalidSegment": spans_of[3],
    }
    stats = transport.stats()
    assert stats.spans_delivered == sum(spans_of) - spans_of[0] - spans_of[3] - spans_of[5]
    assert stats.documents_delivered == 3 and stats.documents_lost == 3 and stats.retries == 0
    error = transport.last_error or ""
    assert "3 of 6 document(s) unprocessed" in error
    assert "InvalidTraceId: Invalid trace id" in error and "InvalidSegment: Segment too large" in error
    transport.shutdown(5.0)


def test_an_unprocessed_id_that_matches_nothing_is_still_counted(fake_aws: None, standin: XRayStandIn) -> None:
    standin.script.append(ok(unprocessed=lambda sent: [{"Id": "ffffffffffffffff", "ErrorCode": "InternalFailure"}]))
    transport = transport_for(standin)
    datagram, spans = pipeline_documents(traces=1)[0]
    transport.send(datagram, spans)
    assert flushed(transport)
    assert transport.take_losses() == {"unprocessed:unknown_id": 1}
    transport.shutdown(5.0)


# ------------------------------------------------------------------ never waiting
def test_send_returns_at_once_while_the_endpoint_holds_a_request(fake_aws: None, standin: XRayStandIn) -> None:
    release = threading.Event()
    standin.script.append(held(release))
    transport = transport_for(standin, batch_documents=2, queue_documents=20, linger_seconds=3600.0)
    documents = pipeline_documents(traces=20)  # 40 documents
    try:
        for datagram, spans in documents[:2]:
            assert transport.send(datagram, spans) is None
        assert standin.arrived.wait(20), "the first batch never reached the stand-in"
        # The worker is now inside PutTraceSegments, held by the stand-in (only the finally
        # below releases it). The application thread goes on handing over documents: each
        # send returns, and the queue grows until it is full.
        results = call_guarded(lambda: [transport.send(datagram, spans) for datagram, spans in documents[2:]])
        assert not release.is_set()
        stats = transport.stats()
        assert results[:20] == [None] * 20 and set(results[20:]) == {"queue_full"}
        assert stats.queued_documents == 20 and stats.in_flight_documents == 2
        assert len(standin.requests) == 1
    finally:
        release.set()
    assert flushed(transport)
    assert transport.stats().documents_delivered == 22
    transport.shutdown(5.0)


def test_flush_and_shutdown_end_within_their_timeouts_while_the_endpoint_stalls(
    fake_aws: None, standin: XRayStandIn
) -> None:
    release = threading.Event()
    standin.script.append(held(release))
    transport = transport_for(standin, batch_documents=2, linger_seconds=3600.0)
    documents = pipeline_documents(traces=5)
    total = sum(spans for _, spans in documents)
    try:
        for datagram, spans in documents:
            transport.send(datagram, spans)
        assert standin.arrived.wait(20)
        assert call_guarded(lambda: transport.force_flush(0.2)) is False
        call_guarded(lambda: transport.shutdown(0.2))
        assert not release.is_set()  # both returned while the request was still held
        # What never left the queue is counted at shutdown; the batch in flight is not yet.
        queued_spans = sum(spans for _, spans in documents[2:])
        assert transport.take_losses() == {"shutdown": queued_spans}
        assert transport.send(*documents[0]) == "closed"
    finally:
        release.set()
    # Once the stand-in answers, the batch in flight is delivered, not retried: all accounted for.
    call_guarded(lambda: transport._thread.join(30) if transport._thread else None)
    stats = transport.stats()
    assert stats.spans_delivered + stats.spans_lost == total
    assert stats.spans_delivered == sum(spans for _, spans in documents[:2])


def test_the_queue_is_bounded_in_bytes_too_and_what_is_left_at_shutdown_is_counted(
    fake_aws: None, standin: XRayStandIn
) -> None:
    documents = pipeline_documents(traces=10)
    sizes = [len(body(datagram)) for datagram, _ in documents]
    transport = transport_for(standin, queue_bytes=sum(sizes[:3]), linger_seconds=3600.0)
    results = [transport.send(datagram, spans) for datagram, spans in documents]
    assert results[:3] == [None] * 3 and set(results[3:]) == {"queue_full"}
    call_guarded(lambda: transport.shutdown(0.0))
    assert transport.take_losses() == {"shutdown": sum(spans for _, spans in documents[:3])}
    assert standin.requests == []


# ------------------------------------------------------------------ missing credentials or Region
def _send_and_settle(transport: XRayApiTransport, documents: List[Tuple[bytes, int]]) -> Dict[str, int]:
    refused: Dict[str, int] = {}
    for datagram, spans in documents:
        cause = transport.send(datagram, spans)
        if cause is not None:
            refused[cause] = refused.get(cause, 0) + spans
    assert flushed(transport)
    for cause, spans in transport.take_losses().items():
        refused[cause] = refused.get(cause, 0) + spans
    for datagram, spans in documents:  # and later sends are refused at once
        assert transport.send(datagram, spans) is not None
    return refused


def _errors(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("otel_xray")]


def test_missing_credentials_one_clear_error_and_every_span_counted(
    isolated_aws: None, standin: XRayStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    documents = pipeline_documents(traces=3)
    transport = transport_for(standin)
    refused = _send_and_settle(transport, documents)
    assert refused == {"no_credentials": sum(spans for _, spans in documents)}
    (error,) = _errors(caplog)
    for words in ("no AWS credentials", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "role", "xray:PutTraceSegments"):
        assert words in error
    assert "no AWS Region" not in error
    assert standin.requests == []
    transport.shutdown(5.0)


def test_missing_region_one_clear_error_and_every_span_counted(
    isolated_aws: None, monkeypatch: pytest.MonkeyPatch, standin: XRayStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    documents = pipeline_documents(traces=2)
    transport = XRayApiTransport(standin.url, None, linger_seconds=0.0)
    refused = _send_and_settle(transport, documents)
    assert refused == {"no_region": sum(spans for _, spans in documents)}
    (error,) = _errors(caplog)
    assert "no AWS Region" in error and "AWS_REGION" in error and "credentials" not in error
    assert standin.requests == []
    transport.shutdown(5.0)


def test_missing_both_names_both_in_one_error(isolated_aws: None, standin: XRayStandIn, caplog: pytest.LogCaptureFixture) -> None:
    transport = XRayApiTransport(standin.url, None, linger_seconds=0.0)
    refused = _send_and_settle(transport, pipeline_documents(traces=1))
    assert list(refused) == ["no_region"]
    (error,) = _errors(caplog)
    assert "no AWS Region" in error and "no AWS credentials" in error
    transport.shutdown(5.0)


def test_a_profile_that_does_not_exist_is_reported_not_raised(
    isolated_aws: None, monkeypatch: pytest.MonkeyPatch, standin: XRayStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    transport = XRayApiTransport(standin.url, "us-east-1", linger_seconds=0.0)
    refused = _send_and_settle(transport, pipeline_documents(traces=1))
    assert len(refused) == 1
    (error,) = _errors(caplog)
    assert "no-such-profile" in error
    transport.shutdown(5.0)


# ------------------------------------------------------------------ settings and endpoint override
@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_XRAY_ENDPOINT", "AWS_ENDPOINT_URL_XRAY"])
def test_the_endpoint_variables_point_the_transport_at_a_stand_in(
    fake_aws: None, monkeypatch: pytest.MonkeyPatch, standin: XRayStandIn, variable: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_XRAY_TRANSPORT", "api")
    monkeypatch.setenv(variable, standin.url)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    settings = transport_settings()
    assert settings.transport == "api" and settings.api_endpoint == standin.url and settings.region == "eu-west-3"
    transport = XRayApiTransport.from_settings(settings, linger_seconds=0.0)
    datagram, spans = pipeline_documents(traces=1)[0]
    transport.send(datagram, spans)
    assert flushed(transport)
    assert "/eu-west-3/xray/aws4_request" in standin.requests[0].headers["Authorization"]
    assert transport.describe() == f"api {standin.url}"
    transport.shutdown(5.0)


def test_without_an_override_botocore_picks_the_regional_endpoint(fake_aws: None) -> None:
    # Nothing is sent (nothing is handed over): only the client is made, which uses no network.
    from otel_xray.wire.xray_api import _create_client

    made = threading.Event()

    def factory(*args: Any) -> Any:
        client = _create_client(*args)
        made.set()
        return client

    transport = XRayApiTransport(None, "ap-southeast-2", client_factory=factory)
    assert made.wait(20)
    call_guarded(lambda: transport.shutdown(5.0))
    assert transport.describe() == "api https://xray.ap-southeast-2.amazonaws.com"


# ------------------------------------------------------------------ its own calls are not traced
def test_its_own_calls_make_no_spans_when_botocore_is_instrumented(fake_aws: None, standin: XRayStandIn) -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor = BotocoreInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        transport = transport_for(standin)
        datagram, spans = pipeline_documents(traces=1)[0]
        transport.send(datagram, spans)
        assert flushed(transport)
        assert len(standin.requests) == 1
        assert memory.get_finished_spans() == ()
        # The instrumentation was live: the same call made by the application is traced.
        xray_client(standin.url).put_trace_segments(TraceSegmentDocuments=[body(datagram).decode()])
        (traced,) = memory.get_finished_spans()
        assert "PutTraceSegments" in traced.name
        transport.shutdown(5.0)
    finally:
        instrumentor.uninstrument()


# ------------------------------------------------------------------ fork
def test_a_forked_child_sends_its_own_spans_on_its_own_thread_and_client(fake_aws: None, moto_url: str) -> None:
    parent_docs = pipeline_documents(traces=2, first_trace=100)
    queued_at_fork = pipeline_documents(traces=2, first_trace=200)
    child_docs = pipeline_documents(traces=2, first_trace=300)
    transport = XRayApiTransport(moto_url, "us-east-1", linger_seconds=3600.0)
    for datagram, spans in parent_docs:
        transport.send(datagram, spans)
    assert flushed(transport)
    parent_thread, parent_client = transport._thread, transport._client
    for datagram, spans in queued_at_fork:  # still queued (lingering) when the process forks
        transport.send(datagram, spans)

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's clean-up
        try:
            os.close(read_end)
            report: Dict[str, Any] = {"queued_after_fork": transport.stats().queued_documents}
            for datagram, spans in child_docs:
                report.setdefault("sent", []).append(transport.send(datagram, spans))
            report["flushed"] = transport.force_flush(20.0)
            report["new_thread"] = transport._thread is not parent_thread and transport._thread.is_alive()
            report["new_client"] = transport._client is not None and transport._client is not parent_client
            report["stats"] = transport.stats()._asdict()
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = json.loads(call_guarded(pipe.read) or b"{}")
    assert os.waitpid(pid, 0)[1] == 0
    assert report["queued_after_fork"] == 0  # the parent's queue stays the parent's
    assert report["sent"] == [None] * len(child_docs) and report["flushed"] is True
    assert report["new_thread"] and report["new_client"]
    assert report["stats"]["documents_delivered"] == len(child_docs)
    # The parent's thread and client are untouched and send what was queued at the fork.
    assert flushed(transport)
    assert transport._thread is parent_thread and transport._client is parent_client
    assert transport.stats().documents_delivered == len(parent_docs) + len(queued_at_fork)
    everything = parent_docs + queued_at_fork + child_docs
    trace_ids = sorted({json.loads(body(d))["trace_id"] for d, _ in everything})
    assert sorted(stored_documents(moto_url, trace_ids)) == sorted(body(d) for d, _ in everything)  # each once
    transport.shutdown(5.0)


# ------------------------------------------------------------------ construction
@pytest.mark.parametrize(
    "options, words",
    [
        ({"batch_documents": 51}, "batch_documents must be 1-50"),
        ({"batch_documents": 0}, "batch_documents must be 1-50"),
        ({"queue_documents": 0}, "must be positive"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"read_timeout_seconds": -1}, "read_timeout_seconds"),
    ],
)
def test_bad_options_fail_at_construction(options: Dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        XRayApiTransport("http://127.0.0.1:9", "us-east-1", **options)


def test_a_document_over_64_kb_is_refused_before_it_is_queued(fake_aws: None, standin: XRayStandIn) -> None:
    transport = transport_for(standin)
    header = b'{"format":"json","version":1}\n'
    assert transport.send(header + b"{" + b" " * 63_998 + b"}", 1) is None  # exactly 64,000 bytes of body
    assert transport.send(header + b"{" + b" " * 63_999 + b"}", 1) == ApiFailure.TOO_LARGE
    assert transport.send(b"{" + b" " * 63_999 + b"}", 1) == ApiFailure.TOO_LARGE  # without the header too
    transport.shutdown(5.0)
