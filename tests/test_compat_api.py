"""otel_xray.compat through real SDK spans: each SDK call and the document field it becomes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, Iterator, List

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_xray.compat as compat
from otel_xray import config
from otel_xray.annotate import LocalRootSpanProcessor
from otel_xray.compat import AWSXRayRecorder, SegmentNameMissingException, SegmentNotFoundException, patch
from otel_xray.compat.patcher import INSTRUMENTATIONS, Instrumentation
from otel_xray.compat.provider import plugin_detectors, validate_plugins
from otel_xray.translate import Translator


class Traced:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(LocalRootSpanProcessor())
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.recorder = AWSXRayRecorder(tracer_provider=self.provider)
        self.recorder.configure(service="checkout", sampling=False)

    def docs(self, lambda_mode: bool = False) -> Dict[str, Dict[str, Any]]:
        translator = Translator(lambda_mode=lambda_mode)
        return {span.name: translator.translate(span) for span in self.exporter.get_finished_spans()}


@pytest.fixture
def traced() -> Iterator[Traced]:
    setup = Traced()
    yield setup
    setup.provider.shutdown()


# ------------------------------------------------------------- annotations
@pytest.mark.parametrize(
    "key, value, kept",
    [
        ("order_id", 42, True),
        ("ratio", 0.5, True),
        ("vip", True, True),
        ("tier", "gold", True),
        ("Mixed_Case_9", "x", True),
        ("has-dash", "x", False),  # the SDK drops keys outside [A-Za-z0-9_]
        ("has.dot", "x", False),
        (7, "x", False),
        ("none", None, False),  # and values that are not str, int, float or bool
        ("items", [1, 2], False),
        ("object", {"a": 1}, False),
    ],
)
def test_put_annotation_follows_the_sdks_rules(traced: Traced, key: Any, value: Any, kept: bool) -> None:
    with traced.recorder.in_segment("checkout"):
        with traced.recorder.in_subsegment("work") as subsegment:
            subsegment.put_annotation(key, value)
    annotations = traced.docs()["work"].get("annotations", {})
    assert annotations == ({key: value} if kept else {})
    if kept:
        assert type(annotations[key]) is type(value)


def test_segment_annotations_from_nested_code_and_the_recorder_level_forms(traced: Traced) -> None:
    recorder = traced.recorder

    @recorder.capture()
    def inner() -> None:
        recorder.put_annotation("on_subsegment", 1)  # the current entity: this subsegment
        recorder.current_segment().put_annotation("on_segment", 2)

    with recorder.in_segment("checkout"):
        recorder.put_annotation("direct", 0)
        inner()
    docs = traced.docs()
    assert docs["checkout"]["annotations"] == {"direct": 0, "on_segment": 2}
    assert docs["inner"]["annotations"] == {"on_subsegment": 1}


# ---------------------------------------------------------------- metadata
def test_put_metadata_keeps_namespaces(traced: Traced) -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque!"

    with traced.recorder.in_segment("checkout") as segment:
        segment.put_metadata("cart", {"items": ["a", "b"]}, "checkout")
        segment.put_metadata("build", "1.2")
        segment.put_metadata("thing", Opaque(), "checkout")
        segment.put_metadata("secret", 1, "AWS.reserved")  # dropped, as in the SDK
        segment.put_metadata("bad", 1, 5)  # a namespace must be a string
        assert segment.metadata["checkout"]["cart"] == {"items": ["a", "b"]}
    metadata = traced.docs()["checkout"]["metadata"]
    assert metadata["checkout"] == {"cart": {"items": ["a", "b"]}, "thing": "opaque!"}
    assert metadata["default"]["build"] == "1.2"
    assert "AWS.reserved" not in metadata and len(metadata) == 2


# ------------------------------------------------------- user, http, flags
def test_set_user_and_http_meta(traced: Traced) -> None:
    with traced.recorder.in_segment("checkout") as segment:
        segment.set_user("alice")
        segment.put_http_meta("method", "POST")
        segment.put_http_meta("url", "https://shop.example.com/checkout")
        segment.put_http_meta("user_agent", "curl/8")
        segment.put_http_meta("client_ip", "203.0.113.7")
        segment.put_http_meta("status", "429")
        segment.put_http_meta("content_length", 12)
        segment.put_http_meta("unknown", "x")  # warned about and ignored
        with traced.recorder.in_subsegment("work") as subsegment:
            assert not hasattr(subsegment, "set_user")  # segments only, as in the SDK
    doc = traced.docs()["checkout"]
    assert doc["user"] == "alice"
    assert doc["http"]["request"] == {"method": "POST", "url": "https://shop.example.com/checkout", "user_agent": "curl/8", "client_ip": "203.0.113.7"}
    assert doc["http"]["response"] == {"status": 429, "content_length": 12}
    assert doc["error"] and doc["throttle"] and not doc.get("fault", False)


def test_a_forwarded_client_ip_is_marked(traced: Traced) -> None:
    with traced.recorder.in_segment("checkout") as segment:
        segment.put_http_meta("method", "GET")
        segment.put_http_meta("client_ip", "198.51.100.1")
        segment.put_http_meta("x_forwarded_for", True)
    request = traced.docs()["checkout"]["http"]["request"]
    assert request == {"method": "GET", "client_ip": "198.51.100.1", "x_forwarded_for": True}


@pytest.mark.parametrize("status, flags", [(200, ()), (404, ("error",)), (503, ("fault",))])
def test_status_codes_set_the_sdks_flags(traced: Traced, status: int, flags: Any) -> None:
    with traced.recorder.in_segment("checkout") as segment:
        segment.put_http_meta("status", status)
    doc = traced.docs()["checkout"]
    assert {flag for flag in ("error", "fault", "throttle") if doc.get(flag, False)} == set(flags)


def test_fault_flag_and_exceptions(traced: Traced) -> None:
    with traced.recorder.in_segment("checkout"):
        with traced.recorder.in_subsegment("flagged") as subsegment:
            subsegment.add_fault_flag()
        try:
            with traced.recorder.in_subsegment("failing"):
                raise KeyError("sku-17")
        except KeyError:
            pass
    docs = traced.docs()
    assert docs["flagged"]["fault"] is True
    failing = docs["failing"]
    assert failing["fault"] is True
    (exception,) = failing["cause"]["exceptions"]
    assert exception["type"] == "KeyError" and exception["message"] == "'sku-17'"
    assert exception["stack"][0]["label"] == "test_fault_flag_and_exceptions"


@pytest.mark.parametrize("method, flags", [("add_error_flag", {"error"}), ("add_throttle_flag", {"error", "throttle"})])
def test_error_and_throttle_flags(traced: Traced, method: str, flags: Any) -> None:
    with traced.recorder.in_segment("checkout") as segment:
        getattr(segment, method)()
    doc = traced.docs()["checkout"]
    assert {flag for flag in ("error", "fault", "throttle") if doc.get(flag, False)} == flags
    assert "aws.xray.error" not in doc.get("metadata", {}).get("default", {})


# ------------------------------------------------- decorators and contexts
def test_capture_names_nests_and_records_exceptions(traced: Traced) -> None:
    recorder = traced.recorder

    @recorder.capture
    def bare() -> str:
        return "ok"

    @recorder.capture("named")
    @recorder.capture("inner")
    def twice() -> None:
        raise ValueError("boom")

    with recorder.in_segment("checkout"):
        assert bare() == "ok"
        with pytest.raises(ValueError):
            twice()
        assert recorder.current_subsegment() is None  # the segment itself is current
    docs = traced.docs()
    assert set(docs) == {"checkout", "bare", "inner"}  # a function captured twice is recorded once
    assert docs["bare"]["parent_id"] == docs["checkout"]["id"]
    assert docs["inner"]["cause"]["exceptions"][0]["message"] == "boom"


def test_async_capture_and_context_managers(traced: Traced) -> None:
    recorder = traced.recorder

    @recorder.capture_async("fetch")
    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        recorder.current_subsegment().put_annotation("n", n)
        return n

    async def main() -> List[int]:
        async with recorder.in_segment_async("checkout"):
            async with recorder.in_subsegment_async("batch"):
                return await asyncio.gather(fetch(1), fetch(2))

    assert asyncio.run(main()) == [1, 2]
    spans = traced.exporter.get_finished_spans()
    batch = next(span for span in spans if span.name == "batch")
    fetches = [span for span in spans if span.name == "fetch"]
    # Each task's subsegment sits under the subsegment open where the tasks were made.
    assert sorted(span.attributes["n"] for span in fetches) == [1, 2]
    assert all(span.parent.span_id == batch.context.span_id for span in fetches)


def test_record_subsegment_hands_the_outcome_to_meta_processor(traced: Traced) -> None:
    """The SDK patchers' API, sync and async: the call inside a subsegment, then ``meta_processor`` sees it."""
    recorder = traced.recorder
    seen: List[Dict[str, Any]] = []

    def meta_processor(**kwargs: Any) -> None:
        seen.append(kwargs)
        kwargs["subsegment"].put_annotation("outcome", "raised" if kwargs["exception"] else kwargs["return_value"])

    def add(a: int, b: int) -> int:
        return a + b

    async def fail() -> None:
        raise KeyError("gone")

    with recorder.in_segment("checkout"):
        assert recorder.record_subsegment(add, "instance", (1, 2), {}, "add", "local", meta_processor) == 3
        with pytest.raises(KeyError):
            asyncio.run(recorder.record_subsegment_async(fail, None, (), {}, "fail", "remote", meta_processor))
        with pytest.raises(KeyError):  # without a meta_processor, the exception is recorded on the subsegment
            asyncio.run(recorder.record_subsegment_async(fail, None, (), {}, "plain", "remote", None))
    assert [(call["wrapped"], call["instance"], call["args"], call["return_value"]) for call in seen] == [
        (add, "instance", (1, 2), 3),
        (fail, None, (), None),
    ]
    assert seen[0]["exception"] is None and isinstance(seen[1]["exception"], KeyError)
    docs = traced.docs()
    assert docs["add"]["annotations"] == {"outcome": 3} and docs["fail"]["annotations"] == {"outcome": "raised"}
    assert docs["fail"]["namespace"] == "remote" and "cause" not in docs["fail"]
    assert docs["plain"]["cause"]["exceptions"][0]["type"] == "KeyError"


def test_manual_begin_and_end(traced: Traced) -> None:
    recorder = traced.recorder
    segment = recorder.begin_segment("checkout", traceid="1-5759e988-bd862e3fe1be46a994272793", parent_id="53995c3f42cd8ad8", sampling=1)
    subsegment = recorder.begin_subsegment("call", "remote")
    assert recorder.current_subsegment() is subsegment and recorder.current_segment() is segment
    assert subsegment.parent_segment is segment
    recorder.end_subsegment()
    recorder.end_segment()
    docs = traced.docs()
    assert docs["checkout"]["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert docs["checkout"]["parent_id"] == "53995c3f42cd8ad8"
    assert docs["call"]["namespace"] == "remote" and docs["call"]["parent_id"] == docs["checkout"]["id"]


def test_end_segment_ends_subsegments_left_open(traced: Traced) -> None:
    recorder = traced.recorder
    recorder.begin_segment("checkout")
    recorder.begin_subsegment("forgotten")
    recorder.end_segment()
    assert set(traced.docs()) == {"checkout", "forgotten"}
    assert recorder.current_segment() is None


def test_unsampled_segment_records_nothing(traced: Traced) -> None:
    recorder = traced.recorder
    with recorder.in_segment("checkout", sampling=0) as segment:
        segment.put_annotation("k", "v")
        with recorder.in_subsegment("work") as subsegment:
            subsegment.put_annotation("k", "v")
        assert not recorder.is_sampled() and not segment.sampled
    assert traced.exporter.get_finished_spans() == ()


def test_a_segment_needs_a_name() -> None:
    recorder = AWSXRayRecorder(tracer_provider=TracerProvider())
    with pytest.raises(SegmentNameMissingException):
        recorder.begin_segment()


# ---------------------------------------------------------- context missing
def test_context_missing_log_error_logs_once(traced: Traced, caplog: Any) -> None:
    recorder = traced.recorder
    with caplog.at_level(logging.DEBUG, logger="otel_xray.compat"):
        assert recorder.begin_subsegment("orphan") is None
        assert recorder.begin_subsegment("orphan") is None
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1 and compat.recorder.MISSING_SEGMENT_MSG in errors[0].getMessage()
    assert traced.exporter.get_finished_spans() == ()


def test_context_missing_runtime_error_raises_and_the_variable_wins(traced: Traced, monkeypatch: Any) -> None:
    recorder = traced.recorder
    recorder.configure(context_missing="IGNORE_ERROR")
    assert recorder.begin_subsegment("orphan") is None
    monkeypatch.setenv("AWS_XRAY_CONTEXT_MISSING", "RUNTIME_ERROR")
    with pytest.raises(SegmentNotFoundException):
        recorder.begin_subsegment("orphan")


def test_disabled_sdk_records_nothing(traced: Traced, monkeypatch: Any) -> None:
    monkeypatch.setattr(compat.SDKConfig, "_enabled", None)
    compat.global_sdk_config.set_sdk_enabled(False)
    try:
        with traced.recorder.in_segment("checkout") as segment:
            segment.put_annotation("k", "v")
            traced.recorder.begin_subsegment("work").put_annotation("k", "v")
    finally:
        compat.global_sdk_config.set_sdk_enabled(True)
    assert traced.exporter.get_finished_spans() == ()


# ------------------------------------------------------------------- Lambda
def test_lambda_subsegments_hang_under_lambdas_segment(traced: Traced, monkeypatch: Any, caplog: Any) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    recorder = AWSXRayRecorder(tracer_provider=traced.provider)
    assert recorder.begin_segment("ignored").sampled is False  # Lambda records the function's segment
    facade = recorder.current_segment()
    assert facade.id == "53995c3f42cd8ad8" and facade.trace_id == "1-5759e988-bd862e3fe1be46a994272793"
    facade.put_annotation("ignored", 1)  # logged, not raised
    with recorder.in_subsegment("handler-work") as subsegment:
        subsegment.put_annotation("order_id", 7)
        assert recorder.current_segment().id == "53995c3f42cd8ad8"
    doc = traced.docs(lambda_mode=True)["handler-work"]
    assert doc["type"] == "subsegment" and doc["parent_id"] == "53995c3f42cd8ad8"
    assert doc["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793" and doc["annotations"] == {"order_id": 7}
    assert "Lambda records that segment itself" in caplog.text


# ------------------------------------------------------- patch and plugins
def test_patch_refuses_unknown_modules() -> None:
    with pytest.raises(Exception, match="not supported for patching"):
        patch(["no_such_library_anywhere"])


def test_patch_names_missing_instrumentations_in_one_line(traced: Traced, monkeypatch: Any, caplog: Any) -> None:
    monkeypatch.setattr(compat, "xray_recorder", traced.recorder)
    for module in ("requests", "httpx"):
        monkeypatch.setitem(
            INSTRUMENTATIONS, module, Instrumentation("json", "opentelemetry.instrumentation.absent_" + module, "X", f"opentelemetry-instrumentation-absent-{module}")
        )
    with caplog.at_level(logging.WARNING, logger="otel_xray.compat"):
        patch(["requests", "httpx"])
    (line,) = [record.getMessage() for record in caplog.records if "pip install" in record.getMessage()]
    assert "requests, httpx" in line or "httpx, requests" in line
    assert "pip install opentelemetry-instrumentation-absent-httpx opentelemetry-instrumentation-absent-requests" in line


def test_patch_raises_for_a_library_that_is_not_installed(traced: Traced, monkeypatch: Any) -> None:
    monkeypatch.setattr(compat, "xray_recorder", traced.recorder)
    monkeypatch.setitem(INSTRUMENTATIONS, "pg8000", Instrumentation("no_such_library_anywhere", None, None, None))
    with pytest.raises(ImportError, match="not installed"):
        patch(["pg8000"])
    patch(["pg8000"], raise_errors=False)  # patch_all's way: skipped


def test_plugins_map_to_aws_resource_detectors() -> None:
    pytest.importorskip("opentelemetry.sdk.extension.aws")
    # Only constructed, never run: the EC2 detector would call the instance metadata service.
    detectors, problem = plugin_detectors(("EC2Plugin", "ecsplugin", "ElasticBeanstalkPlugin", "ecs_plugin"))
    assert problem is None
    assert [type(d).__name__ for d in detectors] == ["AwsEc2ResourceDetector", "AwsEcsResourceDetector", "AwsBeanstalkResourceDetector"]
    with pytest.raises(ValueError, match="unknown X-Ray plugin"):
        validate_plugins(("EKSPlugin",))


def test_configure_logs_each_argument_it_cannot_honour_once(caplog: Any) -> None:
    recorder = AWSXRayRecorder(tracer_provider=TracerProvider())
    with caplog.at_level(logging.INFO, logger="otel_xray.compat"):
        recorder.configure(emitter=object(), streaming_threshold=5)
        recorder.configure(emitter=object())
    messages = [record.getMessage() for record in caplog.records]
    assert sum("emitter" in message for message in messages) == 1
    assert sum("streaming_threshold" in message for message in messages) == 1


# ---------------------------------------------------- the SDK's variables
@pytest.mark.parametrize(
    "function, code, environ, expected",
    [
        (config.xray_sdk_tracing_name, "code", {}, "code"),
        (config.xray_sdk_tracing_name, "code", {"AWS_XRAY_TRACING_NAME": "env"}, "env"),
        (config.xray_sdk_tracing_name, None, {}, None),
        (config.xray_sdk_context_missing, None, {}, "LOG_ERROR"),
        (config.xray_sdk_context_missing, "IGNORE_ERROR", {}, "IGNORE_ERROR"),
        (config.xray_sdk_context_missing, "IGNORE_ERROR", {"AWS_XRAY_CONTEXT_MISSING": "RUNTIME_ERROR"}, "RUNTIME_ERROR"),
        (config.xray_sdk_context_missing, "IGNORE_ERROR", {"AWS_XRAY_CONTEXT_MISSING": "bogus"}, "IGNORE_ERROR"),
        (config.xray_sdk_enabled, None, {}, True),
        (config.xray_sdk_enabled, False, {}, False),
        (config.xray_sdk_enabled, False, {"AWS_XRAY_SDK_ENABLED": "true"}, True),
        (config.xray_sdk_enabled, True, {"AWS_XRAY_SDK_ENABLED": "Off"}, False),
        (config.xray_sdk_enabled, False, {"AWS_XRAY_SDK_ENABLED": "maybe"}, True),
    ],
)
def test_sdk_variables_win_over_code(function: Any, code: Any, environ: Dict[str, str], expected: Any) -> None:
    assert function(code, environ).value == expected


def test_daemon_address_variable_wins_and_bad_values_raise() -> None:
    setting = config.xray_sdk_daemon_address("127.0.0.1:3000", {"AWS_XRAY_DAEMON_ADDRESS": "tcp:127.0.0.1:2001 udp:127.0.0.2:2002"})
    assert setting.value.udp == ("127.0.0.2", 2002) and setting.value.tcp_port == 2001
    assert config.xray_sdk_daemon_address("127.0.0.1:3000", {}).value.udp == ("127.0.0.1", 3000)
    with pytest.raises(ValueError, match="daemon_address"):
        config.xray_sdk_daemon_address("nonsense", {})
