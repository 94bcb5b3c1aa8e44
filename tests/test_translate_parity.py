"""Native parity: what an aws-xray-sdk user sees in the console, from OpenTelemetry spans (docs/mapping.md).

Each row of issue 10's table that the translator owns is a table here,
through real SDK spans, and once more end to end: the real exporter, real UDP,
the local daemon, whose validator must accept the document.
"""

from __future__ import annotations

import pathlib
import platform
from typing import Any, Callable, Dict, List, Optional

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_xray import XRayIdGenerator, XRaySpanExporter
from otel_xray.translate import Translator

from .spans import make_span, span_context

ROOT = pathlib.Path(__file__).resolve().parent.parent
PARENT = span_context()
INTERPRETER = {"runtime": platform.python_implementation(), "runtime_version": platform.python_version()}


def translate(translator: Optional[Translator] = None, **kwargs: Any) -> Dict[str, Any]:
    return (translator or Translator()).translate(make_span(**kwargs))


def _failing_call() -> None:
    raise ValueError("coupon has expired")


def recorded_exception_span(resource: Optional[Dict[str, Any]] = None):
    """A span that recorded an exception the way instrumented code does: raised through start_as_current_span."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(resource or {"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with pytest.raises(ValueError):
        with provider.get_tracer("t").start_as_current_span("apply-discount"):
            _failing_call()
    provider.shutdown()
    (span,) = memory.get_finished_spans()
    return span


# --------------------------------------------------------------- exception stacks
def test_stacks_leave_out_opentelemetry_frames_and_are_relative_to_the_working_directory():
    span = recorded_exception_span()
    assert "opentelemetry/" in span.events[0].attributes["exception.stacktrace"]  # the SDK's frames are there
    cause = Translator(working_directory=str(ROOT)).translate(span)["cause"]
    (exception,) = cause["exceptions"]
    assert [frame["label"] for frame in exception["stack"]] == ["_failing_call", "recorded_exception_span"]
    assert {frame["path"] for frame in exception["stack"]} == {"tests/test_translate_parity.py"}
    assert cause["working_directory"] == str(ROOT)


def test_the_working_directory_defaults_to_the_current_one_taken_once(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    translator = Translator()
    monkeypatch.chdir(tmp_path)  # later changes do not matter: translation stays pure
    cause = translator.translate(recorded_exception_span())["cause"]
    assert cause["working_directory"] == str(ROOT)
    assert cause["exceptions"][0]["stack"][0]["path"] == "tests/test_translate_parity.py"


def test_without_a_working_directory_paths_stay_absolute():
    cause = Translator(working_directory=None).translate(recorded_exception_span())["cause"]
    assert "working_directory" not in cause
    assert cause["exceptions"][0]["stack"][0]["path"] == str(ROOT / "tests" / "test_translate_parity.py")


STACK = """Traceback (most recent call last):
  File "/srv/app/.venv/lib/python3.11/site-packages/flask/app.py", line 880, in full_dispatch_request
    rv = self.dispatch_request()
  File "/srv/app/.venv/lib/python3.11/site-packages/opentelemetry/instrumentation/flask/__init__.py", line 300, in _wrapped
    return wsgi_app(environ, start_response)
  File "/srv/app/shop/views.py", line 12, in checkout
    apply()
  File "/usr/lib/python3.11/decimal.py", line 3, in apply
    raise ValueError("x")
ValueError: x
"""


@pytest.mark.parametrize(
    "working_directory, paths, sent_directory",
    [
        ("/srv/app", ["/usr/lib/python3.11/decimal.py", "shop/views.py", "flask/app.py"], "/srv/app"),
        ("/elsewhere", ["/usr/lib/python3.11/decimal.py", "/srv/app/shop/views.py", "flask/app.py"], None),
    ],
)
def test_stack_paths(working_directory, paths, sent_directory):
    events = [("exception", {"exception.type": "ValueError", "exception.message": "x", "exception.stacktrace": STACK})]
    cause = translate(Translator(working_directory=working_directory), events=events, resource={"service.name": "s", "telemetry.sdk.language": "python"})["cause"]
    assert [frame["path"] for frame in cause["exceptions"][0]["stack"]] == paths
    assert cause.get("working_directory") == sent_directory


# --------------------------------------------------------------- service block
@pytest.mark.parametrize(
    "resource, service",
    [
        ({"service.name": "s"}, INTERPRETER),
        ({"service.name": "s", "process.runtime.name": "cpython", "process.runtime.version": "3.12.1"}, {"runtime": "cpython", "runtime_version": "3.12.1"}),
        ({"service.name": "s", "service.version": "2.0", "process.runtime.name": "pypy"}, {"version": "2.0", "runtime": "pypy"}),
        # Spans another process recorded in another language (the daemon decodes OTLP): not this interpreter.
        ({"service.name": "s", "telemetry.sdk.language": "java"}, None),
    ],
)
def test_service_runtime_from_the_resource_else_the_interpreter(resource, service):
    assert translate(kind=SpanKind.SERVER, resource=resource).get("service") == service


# --------------------------------------------------------------- the service's name
@pytest.mark.parametrize(
    "resource, name",
    [
        ({"faas.name": "checkout-fn"}, "checkout-fn"),  # Resource.create adds unknown_service:python
        ({"service.name": "unknown_service", "faas.name": "checkout-fn"}, "checkout-fn"),
        ({"service.name": "orders", "faas.name": "checkout-fn"}, "orders"),
        # The SDK's own default, which differs between SDK versions.
        ({}, Resource.create({}).attributes["service.name"]),
    ],
)
def test_faas_name_names_the_service_when_service_name_is_the_default(resource, name):
    assert translate(kind=SpanKind.SERVER, resource=resource)["name"] == name


# --------------------------------------------------------------- resource metadata
FARGATE = {
    "service.name": "checkout",
    "service.version": "2.3.1",
    "deployment.environment": "production",
    "cloud.provider": "aws",
    "cloud.platform": "aws_ecs",
    "cloud.region": "us-east-1",
    "aws.ecs.launchtype": "fargate",
    "aws.ecs.task.arn": "arn:aws:ecs:us-east-1:1:task/prod/0123",
    "process.pid": 4242,
    "process.runtime.name": "cpython",
    "process.runtime.version": "3.11.7",
}


@pytest.mark.parametrize(
    "setting, kept",
    [
        # Default: what no other field shows (service.name is the segment's name), and nothing that
        # differs in every process.
        ((), {"deployment.environment", "cloud.region"}),
        (("service.instance.id", "telemetry.sdk.*"), {"deployment.environment", "cloud.region", "service.instance.id", "telemetry.sdk.language", "telemetry.sdk.name", "telemetry.sdk.version"}),
        (("all",), set(FARGATE) | {"service.instance.id", "telemetry.sdk.language", "telemetry.sdk.name", "telemetry.sdk.version"}),
        (("none",), set()),
    ],
)
def test_resource_metadata_once_per_document_without_volatile_keys(setting, kept):
    # Newer SDKs add a random service.instance.id themselves; the test does not depend on it.
    resource = Resource.create({**FARGATE, "service.instance.id": "0b5e6c1c-5a0f-4b43-9b0e-5f4b0c3f1e2a"})
    span = make_span(kind=SpanKind.SERVER, resource=dict(resource.attributes))
    doc = Translator(resource_metadata=setting).translate(span)
    metadata = doc.get("metadata", {}).get("default", {})
    assert {key[len("otel.resource.") :] for key in metadata} == kept


@pytest.mark.parametrize(
    "zone, kept",
    [
        ("us-east-1a", False),  # aws.ecs.availability_zone says the region
        ("us-east-1-bos-1a", False),  # a Local Zone's name starts with its region too
        ("eu-west-1b", True),  # another region's zone says nothing about this one
        (None, True),
    ],
)
def test_cloud_region_is_left_out_where_an_availability_zone_shows_it(zone, kept):
    resource = {**FARGATE, **({"cloud.availability_zone": zone} if zone else {})}
    doc = Translator().translate(make_span(kind=SpanKind.SERVER, resource=resource))
    assert ("otel.resource.cloud.region" in doc["metadata"]["default"]) is kept
    assert doc["aws"]["ecs"].get("availability_zone") == zone


def test_resource_metadata_and_the_xray_block_are_not_repeated_in_subsegments():
    resource = Resource.create(FARGATE)
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("GET /", kind=SpanKind.SERVER):
        with tracer.start_as_current_span("work"):
            pass
    provider.shutdown()
    child, parent = (Translator().translate(span) for span in memory.get_finished_spans())
    assert "xray" in parent["aws"] and "otel.resource.deployment.environment" in parent["metadata"]["default"]
    assert not {"aws", "metadata", "origin", "service"} & set(child)


# --------------------------------------------------------------- flags from attributes
@pytest.mark.parametrize(
    "attributes, status, flags",
    [
        ({"aws.xray.error": True}, None, (True, False, False)),
        ({"aws.xray.fault": True}, None, (False, True, False)),
        ({"aws.xray.throttle": True}, None, (True, False, True)),  # throttle implies error
        ({"aws.xray.error": False, "aws.xray.fault": False}, StatusCode.ERROR, (False, True, False)),  # false adds nothing
        ({"aws.xray.error": True, "http.response.status_code": 503}, None, (True, True, False)),
        ({"aws.xray.fault": True, "http.response.status_code": 429}, None, (True, True, True)),
    ],
)
def test_aws_xray_flag_attributes_set_flags_and_are_consumed(attributes, status, flags):
    doc = translate(attributes=attributes, parent=PARENT, status=(status, None) if status else None)
    assert (doc.get("error", False), doc.get("fault", False), doc.get("throttle", False)) == flags
    assert not any(key.startswith("aws.xray.") for key in doc.get("metadata", {}).get("default", {}))


def test_aws_xray_flag_attributes_that_are_not_booleans_stay_in_metadata():
    doc = translate(attributes={"aws.xray.fault": "true"}, parent=PARENT)
    assert "fault" not in doc and doc["metadata"]["default"]["aws.xray.fault"] == "true"


# --------------------------------------------------------------- end to end, one case per row
Check = Callable[[List[Dict[str, Any]]], None]


def _only(documents: List[Dict[str, Any]]) -> Dict[str, Any]:
    (doc,) = documents
    return doc


E2E: List[Any] = [
    pytest.param(
        dict(name="SELECT", kind=SpanKind.CLIENT, parent=PARENT, attributes={"db.system": "postgresql", "db.name": "shop", "server.address": "db.internal", "server.port": 5432, "db.statement": "SELECT 1"}),
        {},
        lambda docs: _only(docs)["name"] == "shop@db.internal" and _only(docs)["sql"]["url"] == "postgresql://db.internal:5432/shop",
        id="database name and sql url",
    ),
    pytest.param(
        dict(name="DynamoDB.GetItem", kind=SpanKind.CLIENT, parent=PARENT, attributes={"rpc.system": "aws-api", "rpc.service": "DynamoDB", "rpc.method": "GetItem", "cloud.region": "eu-west-1", "aws.dynamodb.table_names": ("orders",)}),
        {},
        lambda docs: _only(docs)["aws"] == {"operation": "GetItem", "region": "eu-west-1", "table_name": "orders"},
        id="aws region from cloud.region",
    ),
    pytest.param(
        dict(name="GET", kind=SpanKind.CLIENT, parent=PARENT, attributes={"http.request.method": "GET", "url.full": "https://a.example.com/x", "http.response.status_code": 200}),
        {},
        lambda docs: _only(docs)["http"]["response"] == {"status": 200},
        id="no invented content_length",
    ),
    pytest.param(
        dict(name="GET", kind=SpanKind.CLIENT, parent=PARENT, attributes={"http.request.method": "GET", "http.response.header.content_length": ("512",)}),
        {},
        lambda docs: _only(docs)["http"]["response"] == {"content_length": 512},
        id="content_length from a captured header",
    ),
    pytest.param(
        dict(name="GET /", kind=SpanKind.SERVER, attributes={"http.method": "GET", "net.peer.ip": "10.0.0.2", "http.request.header.x_forwarded_for": ("203.0.113.9, 10.0.0.1",)}),
        {},
        lambda docs: _only(docs)["http"]["request"] == {"method": "GET", "client_ip": "203.0.113.9", "x_forwarded_for": True},
        id="client ip behind a proxy",
    ),
    pytest.param(
        dict(name="GET", kind=SpanKind.CLIENT, parent=PARENT, attributes={"http.request.method": "GET", "url.full": "https://a.example.com/x?token=s3cret"}),
        {},
        lambda docs: _only(docs)["http"]["request"]["url"] == "https://a.example.com/x",
        id="query string dropped by default",
    ),
    pytest.param(
        dict(name="GET", kind=SpanKind.CLIENT, parent=PARENT, attributes={"http.request.method": "GET", "url.full": "https://a.example.com/x?page=2"}),
        {"url_query": "keep"},
        lambda docs: _only(docs)["http"]["request"]["url"] == "https://a.example.com/x?page=2",
        id="query string kept with url_query=keep",
    ),
    pytest.param(
        dict(name="op", kind=SpanKind.INTERNAL, resource={"service.name": "s", "telemetry.sdk.language": "python"}, events=[("exception", {"exception.type": "ValueError", "exception.message": "x", "exception.stacktrace": STACK})]),
        {},
        lambda docs: all("opentelemetry" not in frame["path"] for frame in _only(docs)["cause"]["exceptions"][0]["stack"]),
        id="stack without opentelemetry frames",
    ),
    pytest.param(
        dict(name="GET /", kind=SpanKind.SERVER, resource={"service.name": "s", "process.runtime.name": "cpython", "process.runtime.version": "3.12.1"}),
        {},
        lambda docs: _only(docs)["service"] == {"runtime": "cpython", "runtime_version": "3.12.1"},
        id="service runtime",
    ),
    pytest.param(
        dict(name="GET /", kind=SpanKind.SERVER, resource={"service.name": "s", "team": "payments"}),
        {},
        lambda docs: not any(key.startswith(("otel.resource.service.instance", "otel.resource.telemetry")) for key in _only(docs)["metadata"]["default"])
        and "otel.resource.team" in _only(docs)["metadata"]["default"],
        id="resource metadata without volatile keys",
    ),
    pytest.param(
        dict(name="handler", kind=SpanKind.SERVER, resource={"faas.name": "checkout-fn"}),
        {},
        lambda docs: _only(docs)["name"] == "checkout-fn",
        id="faas.name names the function",
    ),
    pytest.param(
        dict(name="op", kind=SpanKind.INTERNAL, attributes={"aws.xray.throttle": True}),
        {},
        lambda docs: (_only(docs)["error"], _only(docs)["throttle"]) == (True, True),
        id="flags from aws.xray attributes",
    ),
    pytest.param(
        dict(name="op", kind=SpanKind.INTERNAL, start=0),
        {},
        lambda docs: _only(docs)["start_time"] == _only(docs)["end_time"] > 0,
        id="a start time of zero is repaired",
    ),
]


@pytest.mark.parametrize("span_kwargs, exporter_kwargs, check", E2E)
def test_end_to_end_through_the_exporter_into_the_local_daemon(daemon, span_kwargs, exporter_kwargs, check):
    exporter = XRaySpanExporter(endpoint=daemon.endpoint, **exporter_kwargs)
    exporter.export([make_span(**span_kwargs)])
    assert daemon.wait_for(1)
    (received,) = daemon.received()
    assert received.verdict.valid, received.verdict.errors
    assert check([received.document]), received.document


def test_url_query_setting_from_the_environment_reaches_the_translator(daemon, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_XRAY_URL_QUERY", "keep")
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    exporter.export([make_span(kind=SpanKind.CLIENT, parent=PARENT, attributes={"http.request.method": "GET", "url.full": "https://a.example.com/x?page=2"})])
    assert daemon.wait_for(1)
    (doc,) = daemon.documents()
    assert doc["http"]["request"]["url"] == "https://a.example.com/x?page=2"


def test_a_request_with_nested_subsegments_repeats_nothing_per_subsegment(daemon):
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(FARGATE), id_generator=XRayIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("GET /", kind=SpanKind.SERVER):
        with tracer.start_as_current_span("a"):
            pass
        with tracer.start_as_current_span("b", kind=SpanKind.CLIENT):
            pass
    provider.shutdown()
    XRaySpanExporter(endpoint=daemon.endpoint).export(list(memory.get_finished_spans()))  # one batch: one document
    assert daemon.wait_for(1)
    (received,) = daemon.received()
    assert received.verdict.valid, received.verdict.errors
    segment = received.document
    assert "xray" in segment["aws"] and segment["origin"] == "AWS::ECS::Fargate"
    assert len(segment["subsegments"]) == 2
    assert all(not {"aws", "metadata", "origin", "service"} & set(sub) for sub in segment["subsegments"])
