"""Conformance: cases taken from the Collector translator's own tests, run end to end.

Each case is an OpenTelemetry SDK span (with its resource) that goes through
``XRaySpanExporter`` and real UDP into the local daemon; the checks read the
document the daemon received, as X-Ray would store it. Where a case is named
after a Go test, the expectations are that test's, updated for the gates that
are on by default today (dots kept in annotation keys, no trace-ID epoch check),
and where this package deliberately differs (each change is listed in
docs/mapping.md, "Where this differs from the Collector", and marked
``# differs:`` below; throughout, ``error``, ``fault`` and ``throttle`` are
written only when true, so the Collector's ``false`` reads as absent here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import SpanKind, StatusCode

from otel_xray import XRaySpanExporter
from otel_xray.daemon.server import LocalDaemon

from .spans import make_span, span_context

ABSENT = object()
# What the SDK names a service nobody named (it differs between SDK versions).
DEFAULT_SERVICE_NAME = Resource.create({}).attributes["service.name"]

# constructDefaultResource in segment_test.go
DEFAULT_RESOURCE = {
    "service.name": "signup_aggregator",
    "service.version": "semver:1.1.4",
    "container.name": "signup_aggregator",
    "container.image.name": "otel/signupaggregator",
    "container.image.tag": "v1",
    "cloud.provider": "aws",
    "cloud.account.id": "999999998",
    "cloud.region": "us-west-2",
    "cloud.availability_zone": "us-west-1b",
    "string.key": "string",
    "int.key": 10,
    "double.key": 5.0,
    "bool.key": True,
    "array.key": ("foo", "bar"),
}


@dataclass
class Case:
    name: str
    kind: SpanKind = SpanKind.SERVER
    span_name: str = "/api/locations"
    attributes: Dict[str, Any] = field(default_factory=dict)
    parent: str = "local"  # "local", "remote" or "none"
    status: Optional[Tuple[StatusCode, Optional[str]]] = None
    events: Sequence[Tuple[str, Dict[str, Any]]] = ()
    resource: Dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_RESOURCE))
    indexed: Tuple[str, ...] = ()
    index_all: bool = False
    expect: Dict[str, Any] = field(default_factory=dict)
    # For a span sent inside a segment made for it (a local-root call): that segment's fields.
    expect_segment: Dict[str, Any] = field(default_factory=dict)


AWS_SDK_HTTP = {"http.method": "POST", "http.scheme": "https", "http.host": "dynamodb.us-east-1.amazonaws.com", "http.target": "/"}
SERVER_500 = {
    "http.method": "POST",
    "http.url": "https://api.example.org/api/locations",
    "http.target": "/api/locations",
    "http.status_code": 500,
    "http.status_text": "java.lang.NullPointerException",
    "http.user_agent": "PostmanRuntime/7.21.0",
    "enduser.id": "go.tester@example.com",
}

CASES = [
    Case(
        "TestClientSpanWithRpcAwsSdkClientAttributes",
        kind=SpanKind.CLIENT,
        span_name="AmazonDynamoDB.getItem",
        attributes={**AWS_SDK_HTTP, "rpc.service": "DynamoDB", "rpc.method": "GetItem", "rpc.system": "aws-api", "aws.request_id": "18BO1FEPJSSAOGNJEDPTPCMIU7VV4KQNSO5AEMVJF66Q9ASUAAJG", "aws.table_name": "otel-dev-Testing"},
        expect={"name": "DynamoDB", "namespace": "aws", "aws.operation": "GetItem", "type": "subsegment", "aws.table_name": "otel-dev-Testing", "aws.request_id": "18BO1FEPJSSAOGNJEDPTPCMIU7VV4KQNSO5AEMVJF66Q9ASUAAJG", "user": ABSENT},
    ),
    Case(
        "TestClientSpanWithLegacyAwsSdkClientAttributes",
        kind=SpanKind.CLIENT,
        span_name="AmazonDynamoDB.getItem",
        attributes={**AWS_SDK_HTTP, "aws.service": "DynamoDB", "rpc.method": "IncorrectAWSSDKOperation", "aws.operation": "GetItem", "aws.table_name": "otel-dev-Testing"},
        expect={"name": "DynamoDB", "namespace": "aws", "aws.operation": "GetItem", "type": "subsegment"},
    ),
    Case(
        "TestClientSpanWithPeerService",
        kind=SpanKind.CLIENT,
        attributes={**AWS_SDK_HTTP, "peer.service": "cats-table", "aws.service": "DynamoDB", "aws.operation": "GetItem"},
        expect={"name": "cats-table"},
    ),
    Case(
        "TestServerSpanWithInternalServerError",
        attributes=SERVER_500,
        status=(StatusCode.ERROR, "java.lang.NullPointerException"),
        events=[("message", {"message.type": "SENT", "messaging.message_payload_size_bytes": 7480})],
        expect={"name": "signup_aggregator", "fault": True, "error": ABSENT, "cause.exceptions.0.message": "java.lang.NullPointerException", "http.response.status": 500, "http.request.url": "https://api.example.org/api/locations", "user": "go.tester@example.com",
                # differs: no invented content_length (the Collector writes 0 when unknown)
                "http.response.content_length": ABSENT},
    ),
    Case(
        "TestServerSpanWithThrottle",
        attributes={**SERVER_500, "http.status_code": 429},
        status=(StatusCode.ERROR, "java.lang.NullPointerException"),
        expect={"name": "signup_aggregator", "fault": ABSENT, "error": True, "throttle": True, "cause.exceptions.0.message": "java.lang.NullPointerException"},
    ),
    Case("TestServerSpanNoParentId", parent="none", expect={"parent_id": ABSENT, "type": ABSENT}),
    # differs: a root PRODUCER span is a subsegment of a segment named after the service, as the X-Ray SDKs send it.
    Case(
        "TestSpanNoParentId",
        kind=SpanKind.PRODUCER,
        span_name="my-topic send",
        parent="none",
        resource={},
        expect={"type": "subsegment", "name": "my-topic send", "namespace": "remote"},
        expect_segment={"parent_id": ABSENT, "type": ABSENT, "name": DEFAULT_SERVICE_NAME, "namespace": ABSENT},
    ),
    Case(
        "TestClientSpanWithDbComponent",
        kind=SpanKind.CLIENT,
        span_name="call update_user_preference( ?, ?, ? )",
        attributes={"db.system": "mysql", "db.name": "customers", "db.statement": "call update_user_preference( ?, ?, ? )", "db.user": "userprefsvc", "db.connection_string": "mysql://db.dev.example.com:3306", "net.peer.name": "db.dev.example.com", "net.peer.port": "3306", "enterprise.app.id": "25F2E73B-4769-4C79-9DF3-7EBE85D571EA"},
        status=(StatusCode.UNSET, None),
        expect={"name": "customers@db.dev.example.com", "namespace": "remote", "fault": ABSENT, "error": ABSENT, "http": ABSENT, "cause": ABSENT, "annotations": ABSENT, "metadata.default.enterprise.app.id": "25F2E73B-4769-4C79-9DF3-7EBE85D571EA",
                # differs: sql.url is the database's URL, not the span name (the statement)
                "sql.url": "mysql://db.dev.example.com:3306/customers",
                "sql.connection_string": "mysql://db.dev.example.com:3306/customers", "sql.database_type": "mysql", "sql.user": "userprefsvc", "sql.sanitized_query": "call update_user_preference( ?, ?, ? )",
                # differs: resource blocks and service on segments only
                "service": ABSENT, "aws": ABSENT},
    ),
    Case("TestClientSpanWithHttpHost", kind=SpanKind.CLIENT, span_name="GET /", attributes={"http.method": "GET", "http.scheme": "https", "net.peer.ip": "2607:f8b0:4000:80c::2004", "net.peer.port": "9443", "http.target": "/", "http.host": "foo.com", "net.peer.name": "bar.com"}, expect={"name": "foo.com", "http.request.url": "https://foo.com/"}),
    Case("TestClientSpanWithoutHttpHost", kind=SpanKind.CLIENT, span_name="GET /", attributes={"http.method": "GET", "http.scheme": "https", "net.peer.ip": "2607:f8b0:4000:80c::2004", "net.peer.port": "9443", "http.target": "/", "net.peer.name": "bar.com"}, expect={"name": "bar.com", "http.request.url": "https://bar.com:9443/"}),
    Case("TestClientSpanWithRpcHost", kind=SpanKind.CLIENT, attributes={"http.method": "GET", "http.scheme": "https", "net.peer.ip": "2607:f8b0:4000:80c::2004", "net.peer.port": "9443", "http.target": "/com.foo.AnimalService/GetCats", "rpc.service": "com.foo.AnimalService", "net.peer.name": "bar.com"}, expect={"name": "com.foo.AnimalService"}),
    # differs: a CLIENT span under a remote parent is a subsegment of a segment made for the service.
    Case("TestSpanWithInvalidTraceId (epoch check off by default)", kind=SpanKind.CLIENT, parent="none", attributes={"http.method": "GET", "http.scheme": "ipv6", "net.peer.ip": "2607:f8b0:4000:80c::2004", "net.peer.port": "9443", "http.target": "x"}, expect={"trace_id": "1-11000000-000000000000000000000001", "type": "subsegment"}, expect_segment={"trace_id": "1-11000000-000000000000000000000001", "name": "signup_aggregator"}),
    Case("TestServerSpanWithNilAttributes", attributes={}, status=(StatusCode.ERROR, "OK"), expect={"name": "signup_aggregator", "fault": True, "cause.exceptions.0.message": "OK"}),
    Case(
        "TestSpanWithAttributesDefaultNotIndexed",
        attributes={"attr1@1": "val1", "attr2@2": "val2"},
        status=(StatusCode.ERROR, "OK"),
        expect={"annotations": ABSENT, "metadata.default.attr1@1": "val1", "metadata.default.attr2@2": "val2", "metadata.default.otel.resource.string.key": "string", "metadata.default.otel.resource.int.key": 10, "metadata.default.otel.resource.double.key": 5.0, "metadata.default.otel.resource.bool.key": True, "metadata.default.otel.resource.array.key": ["foo", "bar"]},
    ),
    Case("TestSpanWithResourceNotStoredIfSubsegment", kind=SpanKind.CLIENT, attributes={"attr1@1": "val1", "attr2@2": "val2"}, status=(StatusCode.ERROR, "ERROR"), expect={"annotations": ABSENT, "metadata.default.attr1@1": "val1", "metadata.default.otel.resource.string.key": ABSENT}),
    Case("TestSpanWithAttributesPartlyIndexed", attributes={"attr1@1": "val1", "attr2@2": "val2"}, indexed=("attr1@1", "not_exist"), expect={"annotations": {"attr1_1": "val1"}, "metadata.default.attr2@2": "val2"}),
    Case("TestSpanWithAttributesAllIndexed", attributes={"attr1@1": "val1", "attr2@2": "val2"}, indexed=("attr1@1", "not_exist"), index_all=True, expect={"annotations.attr1_1": "val1", "annotations.attr2_2": "val2"}),
    Case(
        "TestResourceAttributesCanBeIndexed (dots kept)",
        indexed=("otel.resource.string.key", "otel.resource.int.key", "otel.resource.double.key", "otel.resource.bool.key", "otel.resource.array.key"),
        expect={"annotations": {"otel.resource.string.key": "string", "otel.resource.int.key": 10, "otel.resource.double.key": 5.0, "otel.resource.bool.key": True}, "metadata.default.otel.resource.array.key": ["foo", "bar"]},
    ),
    Case("TestResourceAttributesNotIndexedIfSubsegment", kind=SpanKind.CLIENT, indexed=("otel.resource.string.key",), expect={"annotations": ABSENT, "metadata": ABSENT}),
    Case("TestOriginNotAws", resource={"cloud.provider": "gcp", "host.id": "instance-123"}, expect={"origin": ABSENT, "aws": ABSENT}),
    Case("TestOriginEc2", resource={"cloud.provider": "aws", "cloud.platform": "aws_ec2", "host.id": "instance-123"}, expect={"origin": "AWS::EC2::Instance", "aws.ec2.instance_id": "instance-123"}),
    Case("TestOriginEcs", resource={"cloud.provider": "aws", "cloud.platform": "aws_ecs", "host.id": "instance-123", "container.name": "container-123"}, expect={"origin": "AWS::ECS::Container", "aws.ecs.container": "container-123"}),
    Case("TestOriginEcsEc2", resource={"cloud.provider": "aws", "cloud.platform": "aws_ecs", "aws.ecs.launchtype": "ec2", "host.id": "instance-123"}, expect={"origin": "AWS::ECS::EC2"}),
    Case("TestOriginEcsFargate", resource={"cloud.provider": "aws", "cloud.platform": "aws_ecs", "aws.ecs.launchtype": "fargate", "host.id": "instance-123"}, expect={"origin": "AWS::ECS::Fargate"}),
    Case("TestOriginEb", resource={"cloud.provider": "aws", "cloud.platform": "aws_elastic_beanstalk", "host.id": "instance-123", "service.instance.id": "service-123"}, expect={"origin": "AWS::ElasticBeanstalk::Environment", "aws.elastic_beanstalk.deployment_id": 0}),
    Case(
        "TestOriginEks",
        resource={"cloud.provider": "aws", "cloud.platform": "aws_eks", "cloud.account.id": "123456789", "cloud.availability_zone": "us-east-1c", "container.image.tag": "v1", "k8s.cluster.name": "production", "k8s.pod.name": "my-deployment-65dcf7d447-ddjnl", "container.name": "signup_aggregator-x82ufje83", "container.id": "0123456789A", "host.id": "i-00f7c0bcb26da2a99", "host.type": "m5.xlarge"},
        expect={"origin": "AWS::EKS::Container", "aws.eks": {"cluster_name": "production", "pod": "my-deployment-65dcf7d447-ddjnl", "container_id": "0123456789A"}, "aws.ec2.instance_id": "i-00f7c0bcb26da2a99", "aws.account_id": "123456789", "service.version": "v1"},
    ),
    Case("TestOriginAppRunner", resource={"cloud.provider": "aws", "cloud.platform": "aws_app_runner"}, expect={"origin": "AWS::AppRunner::Service"}),
    Case("TestOriginBlank", resource={"cloud.provider": "aws"}, expect={"origin": ABSENT}),
    Case("TestOriginPrefersInfraService", resource={"cloud.provider": "aws", "cloud.platform": "aws_ec2", "k8s.cluster.name": "cluster-123", "host.id": "instance-123", "service.instance.id": "service-123"}, expect={"origin": "AWS::EC2::Instance"}),
    Case(
        "TestFilteredAttributesMetadata",
        attributes={"string_value": "value", "int_value": 123, "float_value": 456.78, "bool_value": False, "array_value": (12, 34, 56)},
        resource={},
        expect={"metadata.default.string_value": "value", "metadata.default.int_value": 123, "metadata.default.float_value": 456.78, "metadata.default.bool_value": False, "metadata.default.array_value": [12, 34, 56]},
    ),
    Case("TestCauseExceptionWithoutError", kind=SpanKind.CLIENT, events=[("exception", {"exception.type": "java.lang.IllegalStateException", "exception.message": "bad state"})], expect={"fault": ABSENT, "error": ABSENT, "cause.exceptions.0.type": "java.lang.IllegalStateException", "cause.exceptions.0.remote": True}),
    Case("R36 5xx faults whatever the status", kind=SpanKind.CLIENT, attributes={"http.response.status_code": 503}, status=(StatusCode.OK, None), expect={"fault": True, "error": ABSENT, "cause": ABSENT}),
    # differs: the query string is left out of the URL (OTEL_EXPORTER_XRAY_URL_QUERY=keep keeps it)
    Case("R54 client URL from stable attributes", kind=SpanKind.CLIENT, span_name="GET", attributes={"http.request.method": "GET", "url.full": "https://api.example.com/users/junit?v=1", "server.address": "api.example.com", "http.response.status_code": 200}, expect={"http.request.url": "https://api.example.com/users/junit", "http.request.method": "GET", "http.response.status": 200, "namespace": "remote"}),
    Case("R53 server URL from stable attributes", span_name="GET /users/{id}", attributes={"http.request.method": "GET", "url.scheme": "https", "server.address": "api.example.com", "url.path": "/users/junit", "client.address": "192.0.2.1"}, expect={"http.request.url": "https://api.example.com/users/junit", "http.request.client_ip": "192.0.2.1", "http.request.x_forwarded_for": True}),
    Case("R72 xray block", resource={"service.name": "s", "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.language": "python", "telemetry.sdk.version": "1.2.3", "telemetry.auto.version": "0.42b0"}, expect={"aws.xray": {"sdk": "opentelemetry for python", "sdk_version": "1.2.3", "auto_instrumentation": True}}),
    Case("R92 aws.xray.annotations", kind=SpanKind.CLIENT, attributes={"k.a": "v", "k.b": 2, "aws.xray.annotations": ("k.a",)}, expect={"annotations": {"k.a": "v"}, "metadata.default": {"k.b": 2}}),
    Case("R95 aws.xray.metadata namespace", kind=SpanKind.CLIENT, attributes={"aws.xray.metadata.ns": '{"a": [1, 2]}'}, expect={"metadata.ns": {"a": [1, 2]}}),
]


def _find(documents: Sequence[Dict[str, Any]], span_id: str) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
    """The document with ``span_id``, and the top-level document holding it if it is nested.

    A nested one is returned as X-Ray reads it: embedded, it leaves out its ``trace_id``,
    ``parent_id`` and ``type``, which its place in the top-level document says.
    """
    for top in documents:
        if top.get("id") == span_id:
            return top, None
        for sub in top.get("subsegments", ()):
            if sub.get("id") == span_id:
                assert not {"trace_id", "parent_id", "type"} & set(sub), "an embedded subsegment repeats what its place says"
                return {**sub, "trace_id": top["trace_id"], "parent_id": top["id"], "type": "subsegment"}, top
    raise AssertionError(f"no document with id {span_id}")


def _check(doc: Dict[str, Any], expect: Dict[str, Any]) -> None:
    for path, expected in expect.items():
        actual = _lookup(doc, path)
        assert actual == expected if expected is not ABSENT else actual is ABSENT, (path, actual, expected)


def _lookup(doc: Dict[str, Any], path: str) -> Any:
    """Follow a dotted path; keys containing dots (metadata keys) are matched greedily."""
    current: Any = doc
    parts = path.split(".")
    index = 0
    while index < len(parts):
        if isinstance(current, list):
            current = current[int(parts[index])]
            index += 1
            continue
        if not isinstance(current, dict):
            return ABSENT
        for end in range(len(parts), index, -1):
            key = ".".join(parts[index:end])
            if key in current:
                current = current[key]
                index = end
                break
        else:
            return ABSENT
    return current


@pytest.fixture(scope="module")
def daemon():
    with LocalDaemon("127.0.0.1", 0) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_conformance(daemon, case):
    parent = {"local": span_context(), "remote": span_context(remote=True), "none": None}[case.parent]
    if case.name.startswith("TestSpanWithInvalidTraceId"):
        parent = span_context(trace_id=0x11000000_000000000000000000000001, remote=True)
    span = make_span(name=case.span_name, kind=case.kind, attributes=case.attributes, parent=parent, resource=case.resource, status=case.status, events=case.events)
    exporter = XRaySpanExporter(endpoint=daemon.endpoint, indexed_attributes=case.indexed, index_all_attributes=case.index_all)
    expected_count = daemon.document_count + 1
    exporter.export([span])
    span_id = "%016x" % span.context.span_id
    assert daemon.wait_for(expected_count)
    received = daemon.received()[-1]
    assert received.verdict.valid, received.verdict.errors
    doc, segment = _find([received.document], span_id)
    _check(doc, case.expect)
    if case.expect_segment:
        assert segment is not None and doc["parent_id"] == segment["id"] != span_id
        _check(segment, case.expect_segment)
    else:
        assert segment is None
