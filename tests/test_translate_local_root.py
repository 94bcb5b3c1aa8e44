"""Local-root calls: a service segment around a CLIENT/PRODUCER span that starts the service's trace (docs/mapping.md, "Local-root calls").

Also the AWS distribution's ``aws.span.kind = LOCAL_ROOT`` mark (the Collector's R3/R7 split).
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from otel_xray import XRayIdGenerator, XRaySpanExporter
from otel_xray.daemon.validate import validate_document
from otel_xray.ids import derived_segment_id
from otel_xray.translate import Translator
from otel_xray.translate.local_root import is_service_segment

from .spans import make_span, span_context

LOCAL = span_context()
REMOTE = span_context(remote=True)
ECS = {
    "service.name": "billing-worker",
    "service.version": "4.2",
    "cloud.provider": "aws",
    "cloud.platform": "aws_ecs",
    "aws.ecs.launchtype": "fargate",
    "container.name": "worker",
    "deployment.environment": "prod",
}
HTTP_CALL = {"http.request.method": "POST", "url.full": "https://payments.example.com/charge?card=4111", "http.response.status_code": 503}


@pytest.mark.parametrize(
    "kind, parent, attributes, split",
    [
        (SpanKind.CLIENT, None, {}, True),
        (SpanKind.PRODUCER, None, {}, True),
        (SpanKind.CLIENT, REMOTE, {}, True),
        (SpanKind.PRODUCER, REMOTE, {}, True),
        (SpanKind.CLIENT, LOCAL, {}, False),
        (SpanKind.PRODUCER, LOCAL, {}, False),
        (SpanKind.SERVER, None, {}, False),
        (SpanKind.CONSUMER, None, {}, False),
        (SpanKind.INTERNAL, None, {}, False),
        # The AWS distribution's mark: CONSUMER local roots are split too, SERVER/INTERNAL ones are plain segments.
        (SpanKind.CONSUMER, REMOTE, {"aws.span.kind": "LOCAL_ROOT"}, True),
        (SpanKind.CLIENT, LOCAL, {"aws.span.kind": "LOCAL_ROOT"}, True),
        (SpanKind.INTERNAL, LOCAL, {"aws.span.kind": "LOCAL_ROOT"}, False),
        (SpanKind.CLIENT, LOCAL, {"aws.span.kind": "CLIENT"}, False),
    ],
)
def test_which_spans_get_a_service_segment(kind, parent, attributes, split):
    span = make_span(name="call", kind=kind, parent=parent, attributes=attributes, resource=ECS)
    doc = Translator().translate(span)
    assert validate_document(doc).valid
    own_id = "%016x" % span.context.span_id
    if split:
        (dependency,) = doc["subsegments"]
        assert doc["id"] == derived_segment_id(span.context.span_id) != own_id
        # Embedded: its place in the segment says its trace, parent and type (X-Ray needs them of independent subsegments only).
        assert dependency["id"] == own_id and "type" not in doc
        assert not {"trace_id", "parent_id", "type"} & set(dependency)
    else:
        assert doc["id"] == own_id and "subsegments" not in doc
    if attributes.get("aws.span.kind") == "LOCAL_ROOT":
        # Interpreted, so consumed.
        assert all("aws.span.kind" not in d.get("metadata", {}).get("default", {}) for d in [doc, *doc.get("subsegments", [])])
    elif attributes:
        target = doc["subsegments"][0] if split else doc
        assert target["metadata"]["default"]["aws.span.kind"] == attributes["aws.span.kind"]


def test_the_segment_is_the_service_and_the_call_is_its_remote_subsegment():
    span = make_span(
        name="POST",
        kind=SpanKind.CLIENT,
        parent=REMOTE,
        attributes={**HTTP_CALL, "enduser.id": "alice", "job.id": "j-7"},
        resource=ECS,
        status=(StatusCode.ERROR, "upstream unavailable"),
        links=[(span_context(span_id=0xABC), {})],
    )
    doc = Translator().translate(span)
    (call,) = doc.pop("subsegments")
    # The service: named after it, under the remote caller, with everything a segment takes from the resource.
    assert doc["name"] == "billing-worker" and doc["parent_id"] == "%016x" % REMOTE.span_id
    assert doc["origin"] == "AWS::ECS::Fargate" and doc["service"]["version"] == "4.2"
    assert doc["aws"]["ecs"] == {"container": "worker", "launch_type": "fargate"} and "xray" in doc["aws"]
    # service.name is the segment's name: not repeated in its metadata.
    assert doc["metadata"] == {"default": {"otel.resource.deployment.environment": "prod"}}
    assert doc["user"] == "alice"
    assert doc["fault"] is True and not {"error", "throttle"} & set(doc)
    assert (doc["start_time"], doc["end_time"]) == (call["start_time"], call["end_time"])
    assert not {"http", "cause", "namespace", "links", "type", "sql"} & set(doc)
    # The call: a remote subsegment with the span's own data and no resource data.
    assert call["name"] == "payments.example.com" and call["namespace"] == "remote"
    assert call["http"]["request"]["url"] == "https://payments.example.com/charge"
    assert call["cause"]["exceptions"][0]["message"] == "upstream unavailable"
    assert call["metadata"] == {"default": {"job.id": "j-7"}} and call["links"][0]["id"] == "0000000000000abc"
    assert not {"origin", "service", "aws", "user"} & set(call)


def test_an_aws_sdk_call_keeps_the_aws_namespace_and_its_call_fields():
    attributes = {"rpc.system": "aws-api", "rpc.service": "SQS", "rpc.method": "SendMessage", "cloud.region": "eu-west-1"}
    doc = Translator().translate(make_span(kind=SpanKind.PRODUCER, attributes=attributes, resource=ECS))
    (call,) = doc["subsegments"]
    assert call["name"] == "SQS" and call["namespace"] == "aws"
    assert call["aws"] == {"operation": "SendMessage", "region": "eu-west-1"}
    assert "operation" not in doc["aws"]


def test_aws_local_service_names_the_segment_and_the_remote_service_the_call():
    attributes = {"aws.span.kind": "LOCAL_ROOT", "aws.local.service": "cart", "aws.remote.service": "AWS::DynamoDB", "rpc.system": "aws-api"}
    doc = Translator().translate(make_span(kind=SpanKind.CLIENT, parent=LOCAL, attributes=attributes, resource=ECS))
    assert doc["name"] == "cart" and doc["subsegments"][0]["name"] == "DynamoDB"


def test_the_segment_id_is_the_same_on_every_export_and_differs_from_the_span():
    span = make_span(kind=SpanKind.CLIENT)
    first, second = Translator().translate(span), Translator().translate(span)
    assert first["id"] == second["id"] == derived_segment_id(span.context.span_id)
    assert first["subsegments"][0]["id"] == "%016x" % span.context.span_id


def test_a_service_segment_is_recognisable_for_counting_spans():
    # Two documents, one span: the step that counts spans per datagram must not count the segment.
    split = Translator().translate(make_span(kind=SpanKind.CLIENT))
    assert is_service_segment(split)
    server = Translator().translate(make_span(kind=SpanKind.SERVER))
    server["subsegments"] = [Translator().translate(make_span(kind=SpanKind.CLIENT, parent=LOCAL))]
    assert not is_service_segment(server)


def test_in_lambda_the_function_segment_is_lambdas_own():
    translator = Translator(lambda_mode=True)
    under_lambda = translator.translate(make_span(kind=SpanKind.CLIENT, parent=REMOTE, attributes={"aws.span.kind": "LOCAL_ROOT"}))
    assert under_lambda["type"] == "subsegment" and "subsegments" not in under_lambda
    without_parent = translator.translate(make_span(kind=SpanKind.CLIENT))
    assert "type" not in without_parent and without_parent["subsegments"][0]["namespace"] == "remote"


def test_indexed_resource_attributes_annotate_the_segment():
    doc = Translator(indexed_attributes=("otel.resource.deployment.environment", "job.id")).translate(
        make_span(kind=SpanKind.CLIENT, attributes={"job.id": "j-7"}, resource=ECS)
    )
    assert doc["annotations"] == {"otel.resource.deployment.environment": "prod"}
    assert doc["subsegments"][0]["annotations"] == {"job.id": "j-7"}


def test_end_to_end_a_script_calling_out_appears_as_its_service(daemon):
    # Through the real exporter and UDP: the daemon's validator must accept the nested document.
    exporter = XRaySpanExporter(endpoint=daemon.endpoint)
    provider = TracerProvider(resource=Resource.create(ECS), id_generator=XRayIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("POST", kind=SpanKind.CLIENT, attributes=HTTP_CALL):
        pass
    provider.shutdown()
    assert daemon.wait_for(1)
    (received,) = daemon.received()
    assert received.verdict.valid, received.verdict.errors
    segment = received.document
    assert segment["name"] == "billing-worker" and segment["subsegments"][0]["name"] == "payments.example.com"
    assert segment["subsegments"][0]["http"]["response"] == {"status": 503}
