"""Any combination of the mapped attributes yields a document the local daemon's validator accepts."""

from __future__ import annotations

import json
import random

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_xray.daemon.validate import validate_document
from otel_xray.translate import Translator
from otel_xray.wire.framing import encode_document

from .spans import make_span, span_context

# Every attribute of the README's mapping table, with ordinary and awkward values.
POOL = {
    "http.method": ["GET", "", "X" * 300],
    "http.request.method": ["POST", "_OTHER"],
    "http.url": ["https://a.example.com/p?q=1", "not a url", "h" * 400],
    "url.full": ["https://api.example.com:8443/x", "://", ""],
    "http.scheme": ["https", ""],
    "url.scheme": ["http"],
    "http.host": ["h.example.com:81", ""],
    "http.server_name": ["srv"],
    "net.host.name": ["host.local"],
    "net.host.port": [8080, "8080", "x"],
    "host.name": ["box"],
    "server.address": ["api.example.com", "2001:db8::1"],
    "server.port": [443, 8443],
    "net.peer.name": ["peer", "bad,name"],
    "net.peer.ip": ["10.0.0.1", "not-ip"],
    "net.peer.port": [5432, "5432"],
    "network.peer.address": ["192.0.2.9", "hostname"],
    "network.peer.port": [1234],
    "http.target": ["/a?b=c", ""],
    "url.path": ["/p", ""],
    "url.query": ["a=1", "?b=2"],
    "http.client_ip": ["203.0.113.1", "garbage"],
    "client.address": ["198.51.100.7", "nope"],
    "http.user_agent": ["curl/8", "u" * 300],
    "user_agent.original": ["Mozilla/5.0"],
    "http.status_code": [200, 404, 429, 503, "500", "abc", 999],
    "http.response.status_code": [201, 418, 502],
    "http.status_text": ["Bad Gateway", ""],
    "http.response.body.size": [12, -1],
    "http.response_content_length": [99],
    "http.route": ["/r/{id}"],
    "db.system": ["mysql", "postgresql", "redis", "dynamodb", ""],
    "db.system.name": ["microsoft.sql_server"],
    "db.name": ["shop", "0", ""],
    "db.namespace": ["ns"],
    "db.statement": ["SELECT 1", "S" * 5000],
    "db.query.text": ["SELECT 2"],
    "db.user": ["me", "u" * 300],
    "db.connection_string": ["jdbc:mysql://db:3306", "not a url", "jdbc:"],
    "rpc.system": ["aws-api", "grpc"],
    "rpc.service": ["DynamoDB", "Greeter"],
    "rpc.method": ["GetItem"],
    "aws.service": ["S3", ""],
    "aws.operation": ["PutObject"],
    "aws.region": ["eu-west-1"],
    "aws.request_id": ["RID"],
    "aws.requestId": ["RID2"],
    "aws.account_id": ["123", 5],
    "aws.queue_url": ["https://sqs/q"],
    "aws.queue.url": ["https://sqs/q2"],
    "messaging.url": ["https://sqs/m"],
    "aws.table_name": ["t"],
    "aws.table.name": ["t2"],
    "aws.dynamodb.table_names": [("a",), ("a", "b"), "s", ()],
    "aws.s3.bucket": ["b"],
    "aws.s3.key": ["k"],
    "aws.remote.service": ["AWS::DynamoDB", "AWS.SDK.SQS", "x,y"],
    "aws.local.service": ["local(svc)"],
    "peer.service": ["payments", "<>"],
    "messaging.destination.name": ["orders", ""],
    "messaging.destination": ["legacy-topic"],
    "message.type": ["RECEIVED"],
    "messaging.message_payload_size_bytes": [10],
    "enduser.id": ["alice", "e" * 300, ""],
    "aws.xray.annotations": [("custom.key", "missing"), "custom.key"],
    "aws.xray.metadata.ns": ['{"k": 1}', "[1]", "{bad"],
    "aws.xray.metadata.default": ['{"merged": true}'],
    "aws.xray.inprogress": [True, False, "yes"],
    "custom.key": ["v", 1.5, float("nan"), float("inf"), 2**70, b"\x00", ("a", "b"), (1.0, float("-inf"))],
    "weird key!": ["x" * 2000],
    "": ["empty key"],
}
RESOURCES = [
    {"service.name": "svc"},
    {"service.name": "svc(1),x", "service.version": "1"},
    {"service.name": "svc", "cloud.provider": "aws", "cloud.platform": "aws_ecs", "aws.ecs.launchtype": "fargate", "container.name": "c", "host.id": "i-1"},
    {"service.name": "svc", "cloud.provider": "aws", "cloud.platform": "aws_elastic_beanstalk", "service.instance.id": "12", "service.namespace": "env"},
    {"service.name": "svc", "cloud.provider": "aws", "cloud.platform": "aws_eks", "k8s.cluster.name": "k", "aws.log.group.names": ("g1", "g2")},
    {"service.name": "svc", "cloud.provider": "gcp"},
    {"service.name": "", "telemetry.sdk.language": "java", "aws.log.group.arns": "arn:aws:logs:r:1:log-group:g:*"},
]
EXCEPTION_EVENTS = [
    ("exception", {"exception.type": "ValueError", "exception.message": "m", "exception.stacktrace": 'Traceback (most recent call last):\n  File "a.py", line 1, in f\n    x\nValueError: m\n'}),
    ("exception", {"exception.type": "java.lang.Error", "exception.stacktrace": "java.lang.Error: e\n\tat a.b(C.java:1)\nCaused by: x: y\n"}),
    ("HTTP request failure", {"http.response.status_code": 503, "aws.http.error_message": "busy"}),
    ("message", {"message.type": "RECEIVED", "messaging.message_payload_size_bytes": 5}),
]


@pytest.mark.parametrize("seed", range(40))
def test_random_combinations_are_valid_documents(seed):
    rng = random.Random(seed)
    for _ in range(10):
        keys = rng.sample(sorted(POOL), rng.randint(0, 25))
        attributes = {key: rng.choice(POOL[key]) for key in keys if key}
        span = make_span(
            name=rng.choice(["GET /x", "", "(bad) name, here", "é" * 300]),
            kind=rng.choice(list(SpanKind)),
            attributes=attributes,
            parent=rng.choice([None, span_context(), span_context(remote=True)]),
            resource=rng.choice(RESOURCES),
            status=rng.choice([None, (StatusCode.ERROR, None), (StatusCode.ERROR, "boom"), (StatusCode.OK, None)]),
            events=rng.sample(EXCEPTION_EVENTS, rng.randint(0, len(EXCEPTION_EVENTS))),
            links=[(span_context(span_id=rng.randint(1, 2**64 - 1)), {"k": rng.choice(POOL["custom.key"])})] * rng.randint(0, 3),
        )
        translator = Translator(indexed_attributes=rng.choice([(), ("custom.key", "http.method", "enduser.id")]), index_all_attributes=rng.random() < 0.3)
        doc = translator.translate(span)
        verdict = validate_document(doc)
        assert verdict.valid, (attributes, verdict.errors)
        # And what goes on the wire is the same document, strictly encoded.
        body = encode_document(doc).datagram.split(b"\n", 1)[1]
        assert json.loads(body) == json.loads(json.dumps(doc, allow_nan=False))
