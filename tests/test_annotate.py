"""otel_xray.annotate: indexed annotations on the segment from nested code, for plain OpenTelemetry code."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Tuple

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanKind

import otel_xray
from otel_xray.annotate import LocalRootSpanProcessor, annotate, install_local_root_tracking, local_root_span
from otel_xray.translate import Translator

from .spans import span_context


@pytest.fixture
def traced() -> Iterator[Tuple[Any, InMemorySpanExporter]]:
    provider = TracerProvider()
    provider.add_span_processor(LocalRootSpanProcessor())
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("tests"), exporter
    provider.shutdown()


def documents(exporter: InMemorySpanExporter) -> Dict[str, Dict[str, Any]]:
    translator = Translator()
    return {span.name: translator.translate(span) for span in exporter.get_finished_spans()}


def test_the_package_exports_annotate() -> None:
    assert otel_xray.annotate is annotate


def test_annotation_from_nested_code_lands_on_the_segment(traced: Any) -> None:
    tracer, exporter = traced
    with tracer.start_as_current_span("checkout", kind=SpanKind.SERVER):
        with tracer.start_as_current_span("load"):
            with tracer.start_as_current_span("query"):
                assert annotate("customer_tier", "gold")
                assert annotate("cart_items", 3)
    docs = documents(exporter)
    assert docs["checkout"]["annotations"] == {"customer_tier": "gold", "cart_items": 3}
    assert "annotations" not in docs["load"] and "annotations" not in docs["query"]
    assert "aws.xray.annotations" not in docs["checkout"].get("metadata", {}).get("default", {})


@pytest.mark.parametrize(
    "layout, expected_root",
    [
        ("internal root", "root"),  # no parent: a segment whatever its kind
        ("server under internal", "server"),  # a SERVER span starts a segment of its own
        ("under a remote parent", "root"),  # this service's part of a trace continued from a header
    ],
)
def test_the_root_is_the_span_that_starts_the_segment(traced: Any, layout: str, expected_root: str) -> None:
    tracer, exporter = traced
    context = None
    if layout == "under a remote parent":
        context = trace.set_span_in_context(NonRecordingSpan(span_context(remote=True)))
    with tracer.start_as_current_span("root", context=context):
        kind = SpanKind.SERVER if layout == "server under internal" else SpanKind.INTERNAL
        with tracer.start_as_current_span("server", kind=kind):
            with tracer.start_as_current_span("leaf"):
                assert local_root_span().name == expected_root
                annotate("mark", True)
    assert documents(exporter)[expected_root]["annotations"] == {"mark": True}


def test_keys_already_listed_are_kept(traced: Any) -> None:
    tracer, exporter = traced
    with tracer.start_as_current_span("root") as root:
        root.set_attribute("order_id", 42)
        root.set_attribute("aws.xray.annotations", ["order_id"])
        with tracer.start_as_current_span("child"):
            annotate("tenant", "acme")
    assert documents(exporter)["root"]["annotations"] == {"order_id": 42, "tenant": "acme"}


@pytest.mark.parametrize("key, value", [("", 1), (None, 1), ("k", None), ("k", [1, 2]), ("k", {"a": 1}), ("k", float("nan"))])
def test_bad_keys_and_values_are_refused_without_raising(traced: Any, caplog: Any, key: Any, value: Any) -> None:
    tracer, exporter = traced
    with tracer.start_as_current_span("root"):
        assert annotate(key, value) is False
    assert "annotations" not in documents(exporter)["root"]
    assert "ignoring annotation" in caplog.text


def test_nothing_to_annotate_without_a_recording_span() -> None:
    assert annotate("k", "v") is False


def test_an_untracked_span_is_its_own_root() -> None:
    provider = TracerProvider()  # no LocalRootSpanProcessor
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("child") as child:
            assert local_root_span() is child


def test_tracking_is_installed_once_per_provider() -> None:
    provider = TracerProvider()
    assert install_local_root_tracking(provider) and install_local_root_tracking(provider)
    processors = provider._active_span_processor._span_processors  # read only to count
    assert sum(isinstance(p, LocalRootSpanProcessor) for p in processors) == 1
    assert install_local_root_tracking(trace.NoOpTracerProvider()) is False


@pytest.mark.parametrize("tracking_processor", ["XRayBatchSpanProcessor", "InvocationSpanProcessor"])
def test_no_second_tracker_beside_a_processor_that_tracks(tracking_processor: str) -> None:
    from otel_xray import InvocationSpanProcessor, XRayBatchSpanProcessor, XRaySpanExporter

    make = {"XRayBatchSpanProcessor": XRayBatchSpanProcessor, "InvocationSpanProcessor": InvocationSpanProcessor}[tracking_processor]
    provider = TracerProvider()
    provider.add_span_processor(make(XRaySpanExporter(endpoint="127.0.0.1:9")))
    assert install_local_root_tracking(provider)
    processors = provider._active_span_processor._span_processors  # read only to count
    assert [type(p).__name__ for p in processors] == [tracking_processor]  # every span noted once, not twice
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER) as root:
        with tracer.start_as_current_span("child"):
            assert local_root_span() is root
    provider.shutdown()


def test_the_packages_own_processors_track_segments_without_another_processor(daemon: Any) -> None:
    from otel_xray import InvocationSpanProcessor, XRayBatchSpanProcessor, XRaySpanExporter

    from opentelemetry.sdk.resources import Resource

    for make in (XRayBatchSpanProcessor, InvocationSpanProcessor):
        provider = TracerProvider(resource=Resource.create({"service.name": f"root-{make.__name__}"}))
        provider.add_span_processor(make(XRaySpanExporter(endpoint=daemon.endpoint)))
        tracer = provider.get_tracer("tests")
        with tracer.start_as_current_span(f"root-{make.__name__}", kind=SpanKind.SERVER):
            with tracer.start_as_current_span("nested"):
                assert annotate("tier", make.__name__)
        provider.shutdown()
    assert daemon.wait_for(4, entities=True)
    roots = {d["name"]: d for d in daemon.entities() if d["name"].startswith("root-")}
    for name in ("XRayBatchSpanProcessor", "InvocationSpanProcessor"):
        assert roots[f"root-{name}"]["annotations"] == {"tier": name}
