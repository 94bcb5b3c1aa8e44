"""AWS Lambda, simulated: the function's spans join Lambda's segment and leave before the process freezes."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_xray import XRayIdGenerator, XRaySpanExporter, aws_lambda
from otel_xray.aws_lambda import InvocationSpanProcessor, lambda_handler, lambda_resource_attributes, parse_trace_header
from otel_xray.ids import xray_trace_id
from otel_xray.wire.otlp_udp import MAX_PROTOBUF_BYTES, encode_otlp_datagrams, load_encoder

from .conftest import ROOT
from .spans import make_span, span_context
from .xray_fixtures import entities_as_read

FUNCTION = "orders-fn"


def trace_header(sampled: bool = True):
    root = xray_trace_id(XRayIdGenerator().generate_trace_id())
    parent = "%016x" % random.getrandbits(64)
    return root, parent, f"Root={root};Parent={parent};Sampled={1 if sampled else 0};Lineage=a87bd80c:0"


def _stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] == "T"


def _run_frozen_runtime(daemon, command, env, plan, expected_entities, while_frozen=None):
    """Run a fake Lambda runtime. After each invocation, while the process is frozen, the spans
    of that invocation must already have arrived (then ``while_frozen(number)`` checks them).
    Returns the runtime's report for each invocation."""
    runtime = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reports = []
    try:
        for number, _ in enumerate(plan):
            line = runtime.stdout.readline()
            assert line, runtime.stderr.read()
            reports.append(json.loads(line))
            deadline = time.monotonic() + 10
            while not _stopped(runtime.pid):
                assert time.monotonic() < deadline, "the runtime did not freeze"
                time.sleep(0.01)
            # Frozen: whatever has not arrived now would only leave on the next invocation.
            assert daemon.wait_for(expected_entities * (number + 1), timeout=5, entities=True)
            if while_frozen is not None:
                while_frozen(number)
            os.kill(runtime.pid, signal.SIGCONT)
        runtime.wait(timeout=10)
    finally:
        if runtime.poll() is None:
            runtime.kill()
            runtime.wait()
    return reports


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to see the runtime frozen")
@pytest.mark.parametrize("protocol", ["json", "otlp"])
def test_simulated_lambda_runtime_every_invocation_arrives_before_the_freeze(daemon, protocol):
    invocations = [trace_header(), trace_header(), trace_header()]
    plan = [
        {"trace_header": invocations[0][2], "event": {}},
        {"trace_header": invocations[1][2], "event": {"fail": True}},
        {"trace_header": invocations[2][2], "event": {}},
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "_X_AMZN"))}
    env.update(
        AWS_LAMBDA_FUNCTION_NAME=FUNCTION,
        AWS_REGION="us-east-1",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_XRAY_DAEMON_ADDRESS=daemon.endpoint,
        OTEL_EXPORTER_XRAY_PROTOCOL=protocol,
    )
    command = [sys.executable, str(ROOT / "tests" / "lambda_runtime.py"), str(ROOT / "examples" / "lambda"), "handler", json.dumps(plan)]

    def check(number: int) -> None:
        root, parent, _ = invocations[number]
        entities = {e["id"]: e for e in entities_as_read(daemon.documents()) if e.get("trace_id") == root}
        function_span = next(e for e in entities.values() if e.get("parent_id") == parent)
        assert function_span["name"] == FUNCTION
        assert function_span["type"] == "subsegment"  # under the segment Lambda recorded
        assert function_span["trace_id"] == root
        call = next(e for e in entities.values() if e["name"] == "DynamoDB")
        assert call["parent_id"] == function_span["id"] and call["namespace"] == "aws"
        if number == 1:
            assert function_span["fault"] is True
            assert function_span["cause"]["exceptions"][0]["type"] == "RuntimeError"

    reports = _run_frozen_runtime(daemon, command, env, plan, expected_entities=2, while_frozen=check)
    assert [report["invocation"] for report in reports] == [0, 1, 2]
    assert reports[1]["error"] == "RuntimeError: order not found"
    received = daemon.received()
    assert {r.format for r in received} == {protocol}
    assert all(r.verdict.valid for r in received)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to see the runtime frozen")
def test_opentelemetry_instrument_with_the_aws_lambda_instrumentation(daemon):
    pytest.importorskip("opentelemetry.instrumentation.aws_lambda")
    from .test_setup_paths import _tool

    invocations = [trace_header(), trace_header()]
    plan = [{"trace_header": header, "event": {}} for _, _, header in invocations]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "_X_AMZN"))}
    env.update(
        OTEL_PYTHON_DISTRO="otel_xray",
        OTEL_PYTHON_CONFIGURATOR="otel_xray",
        AWS_LAMBDA_FUNCTION_NAME=FUNCTION,
        AWS_REGION="us-east-1",
        AWS_XRAY_DAEMON_ADDRESS=daemon.endpoint,
        _HANDLER="instrumented.handler",
        PYTHONPATH=str(ROOT / "examples" / "lambda"),
    )
    command = [
        _tool("opentelemetry-instrument"), sys.executable, str(ROOT / "tests" / "lambda_runtime.py"),
        str(ROOT / "examples" / "lambda"), "instrumented", json.dumps(plan),
    ]
    _run_frozen_runtime(daemon, command, env, plan, expected_entities=2)
    for root, parent, _ in invocations:
        entities = [e for e in entities_as_read(daemon.documents()) if e.get("trace_id") == root]
        (function_span,) = [e for e in entities if e.get("parent_id") == parent]
        assert function_span["type"] == "subsegment" and function_span["name"] == FUNCTION
        assert "origin" not in function_span  # a subsegment: Lambda's own function segment carries the origin
        (call,) = [e for e in entities if e["name"] == "DynamoDB"]
        assert call["parent_id"] == function_span["id"]
    assert all(r.verdict.valid for r in daemon.received())


def test_unsampled_invocation_exports_nothing_and_says_why_once(daemon, monkeypatch, caplog):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    monkeypatch.setattr(aws_lambda, "_sampled_notice", False)
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    provider = TracerProvider(resource=Resource.create(lambda_resource_attributes()))
    provider.add_span_processor(InvocationSpanProcessor(exporter))

    @lambda_handler(tracer_provider=provider)
    def handler(event, context):
        return "ok"

    with caplog.at_level(logging.WARNING, logger="otel_xray.aws_lambda"):
        for _ in range(3):
            monkeypatch.setenv("_X_AMZN_TRACE_ID", trace_header(sampled=False)[2])
            assert handler({}, None) == "ok"
    notices = [r for r in caplog.records if "Sampled=0" in r.getMessage()]
    assert len(notices) == 1 and "active tracing is off" in notices[0].getMessage()
    assert exporter.stats().spans_received == 0
    daemon.wait_quiet(quiet=0.2, timeout=1)
    assert daemon.document_count == 0


def test_invocation_span_processor_starts_no_thread_and_holds_nothing_after_flush(daemon):
    before = threading.active_count()
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    processor = InvocationSpanProcessor(exporter, max_batch=4)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    for _ in range(6):
        with tracer.start_as_current_span("s"):
            pass
    assert threading.active_count() == before
    assert exporter.stats().spans_received == 4  # a full batch goes at once
    provider.force_flush()
    assert exporter.stats().spans_received == 6 and processor._spans == []
    provider.shutdown()


def test_lambda_mode_makes_server_spans_under_a_remote_parent_subsegments(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    from otel_xray.translate import Translator

    server = make_span(kind=SpanKind.SERVER, parent=span_context(remote=True), resource={"service.name": FUNCTION})
    doc = Translator(lambda_mode=True).translate(server)
    assert doc["type"] == "subsegment" and doc["parent_id"] == "53995c3f42cd8ad8" and doc["name"] == FUNCTION
    assert "type" not in Translator(lambda_mode=True).translate(make_span(kind=SpanKind.SERVER))


def test_lambda_resource_attributes_from_the_environment():
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_REGION": "eu-west-1",
        "AWS_LAMBDA_FUNCTION_VERSION": "7",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/23/[7]abc",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
    }
    assert lambda_resource_attributes(env) == {
        "cloud.provider": "aws",
        "cloud.platform": "aws_lambda",
        "service.name": "fn",
        "cloud.region": "eu-west-1",
        "faas.name": "fn",
        "faas.version": "7",
        "faas.instance": "2026/11/23/[7]abc",
        "faas.max_memory": 512 * 1024 * 1024,
        "aws.log.group.names": ("/aws/lambda/fn",),
    }
    assert "service.name" not in lambda_resource_attributes({**env, "OTEL_SERVICE_NAME": "mine"})


def test_parse_trace_header():
    assert parse_trace_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1") == {
        "Root": "1-5759e988-bd862e3fe1be46a994272793",
        "Parent": "53995c3f42cd8ad8",
        "Sampled": "1",
    }
    assert parse_trace_header(None) == {}


# --------------------------------------------------------------- OTLP over UDP
def test_otlp_datagrams_are_split_to_fit_and_framed_like_the_distro():
    encode = load_encoder()
    spans = [make_span(attributes={"blob": "x" * 3000, "i": i}, parent=span_context()) for i in range(60)]
    datagrams, too_large = encode_otlp_datagrams(encode, spans)
    assert not too_large and len(datagrams) > 1
    assert sum(count for _, count in datagrams) == 60
    for datagram, _ in datagrams:
        assert datagram.startswith(b'{"format":"json","version":1}\nT1S')
        assert len(datagram) <= 65_507
    assert MAX_PROTOBUF_BYTES == 49_104


def test_otlp_span_too_large_for_any_datagram_is_counted(daemon):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint, protocol="otlp")
    exporter.export([make_span(attributes={"blob": "x" * 60_000}), make_span()])
    stats = exporter.stats()
    assert stats.send_failures == {"too_large": 1} and stats.spans_exported == 1
    assert daemon.wait_for(1)


def test_unsampled_spans_go_with_the_t1u_prefix(daemon):
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext, TraceFlags

    unsampled = ReadableSpan(name="u", context=SpanContext(1, 2, False, TraceFlags(0)), resource=Resource.create({}), start_time=1, end_time=2)
    datagrams, _ = encode_otlp_datagrams(load_encoder(), [unsampled])
    assert datagrams[0][0].startswith(b'{"format":"json","version":1}\nT1U')


def test_bad_protocol_is_rejected_at_construction(monkeypatch):
    with pytest.raises(ValueError, match="protocol='xml'"):
        XRaySpanExporter(protocol="xml")
    monkeypatch.setenv("OTEL_EXPORTER_XRAY_PROTOCOL", "grpc")
    with pytest.raises(ValueError, match="OTEL_EXPORTER_XRAY_PROTOCOL='grpc'"):
        XRaySpanExporter()


def test_json_mode_never_imports_protobuf():
    code = (
        "import sys; from otel_xray import XRaySpanExporter; e = XRaySpanExporter(); "
        "from opentelemetry.sdk.trace import TracerProvider; "
        "print(sorted(m for m in sys.modules if m.startswith(('google.protobuf', 'opentelemetry.proto'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_daemon_decodes_the_distro_sample_datagram(shared):
    from otel_xray.daemon.server import LocalDaemon

    sample = (shared / "reference" / "samples" / "adot-otlp-udp-datagram.txt").read_bytes()
    daemon = LocalDaemon("127.0.0.1", 0)
    try:
        daemon.handle(sample)
        (received,) = daemon.received()
    finally:
        daemon.stop()
    assert received.format == "otlp" and received.verdict.valid
    assert received.document["http"] == {"request": {"method": "GET"}, "response": {"status": 200}}  # no length recorded: none invented
    assert received.document["metadata"]["default"]["otel.resource.service.name"] == "scout-svc"
