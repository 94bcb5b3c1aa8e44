"""Spans from the real instrumentations, translated: sqlite3 (dbapi) and botocore against a loopback moto server.

What these instrumentations record (opentelemetry-instrumentation-* 0.66b1) is
what the parity rules were written against: sqlite3 spans carry only
``db.system`` and the statement, named by verb; botocore spans carry
``cloud.region``, ``rpc.*``, ``aws.request_id`` and per-service keys.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any, Dict, Iterator, List

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_xray import XRaySpanExporter
from otel_xray.daemon.validate import validate_document
from otel_xray.translate import Translator


@pytest.fixture
def recorded() -> Iterator[Any]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield provider, memory
    provider.shutdown()


def _children(provider: TracerProvider, memory: InMemorySpanExporter, work: Any) -> List[Any]:
    """Run ``work`` under a SERVER span, so its spans have a local parent as in a real request."""
    with provider.get_tracer("t").start_as_current_span("GET /checkout", kind=SpanKind.SERVER):
        work()
    return [span for span in memory.get_finished_spans() if span.kind is not SpanKind.SERVER]


def test_sqlite3_statements_are_one_database_node(recorded, tmp_path):
    instrumentation = pytest.importorskip("opentelemetry.instrumentation.sqlite3", reason="opentelemetry-instrumentation-sqlite3 is not installed")
    provider, memory = recorded
    instrumentor = instrumentation.SQLite3Instrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:

        def work() -> None:
            connection = sqlite3.connect(str(tmp_path / "shop.db"))
            cursor = connection.cursor()
            cursor.execute("CREATE TABLE orders (id INTEGER, total REAL)")
            cursor.execute("INSERT INTO orders VALUES (?, ?)", (1, 9.5))
            cursor.execute("SELECT total FROM orders WHERE id = ?", (1,))
            connection.close()

        spans = _children(provider, memory, work)
    finally:
        instrumentor.uninstrument()
    assert sorted(span.name for span in spans) == ["CREATE", "INSERT", "SELECT"]  # one span name per verb
    docs = [Translator().translate(span) for span in spans]
    assert {doc["name"] for doc in docs} == {"sqlite"}  # one node in the service map
    assert all(doc["namespace"] == "remote" and doc["sql"]["database_type"] == "sqlite" for doc in docs)
    assert docs[-1]["sql"]["sanitized_query"] == "SELECT total FROM orders WHERE id = ?"
    assert all(validate_document(doc).valid for doc in docs)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server_module = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _aws_calls(provider: TracerProvider, memory: InMemorySpanExporter, endpoint: str) -> Dict[str, Dict[str, Any]]:
    boto3 = pytest.importorskip("boto3", reason="boto3 is not installed")
    instrumentation = pytest.importorskip("opentelemetry.instrumentation.botocore", reason="opentelemetry-instrumentation-botocore is not installed")
    instrumentor = instrumentation.BotocoreInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        options = dict(endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        dynamodb = boto3.client("dynamodb", **options)
        sqs = boto3.client("sqs", **options)

        table, queue_name = f"orders-{uuid.uuid4().hex[:8]}", f"order-events-{uuid.uuid4().hex[:8]}"

        def work() -> None:
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            dynamodb.get_item(TableName=table, Key={"id": {"S": "1"}})
            queue = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
            sqs.send_message(QueueUrl=queue, MessageBody="placed")

        spans = _children(provider, memory, work)
    finally:
        instrumentor.uninstrument()
    return {span.name: (span, Translator().translate(span)) for span in spans}


def test_botocore_calls_have_region_and_their_aws_fields(recorded, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never look for credentials on the network
    provider, memory = recorded
    calls = _aws_calls(provider, memory, moto_endpoint)
    span, get_item = calls["DynamoDB.GetItem"]
    # Newer botocore instrumentations record the Region as cloud.region, older ones as aws.region.
    assert span.attributes.get("cloud.region", span.attributes.get("aws.region")) == "eu-west-1"
    assert get_item["name"] == "DynamoDB" and get_item["namespace"] == "aws"
    assert get_item["aws"]["region"] == "eu-west-1" and get_item["aws"]["operation"] == "GetItem"
    assert get_item["aws"]["table_name"].startswith("orders-") and get_item["aws"]["request_id"]
    _, send = calls["SQS.SendMessage"]
    assert send["name"] == "SQS" and "/order-events-" in send["aws"]["queue_url"]
    assert send["aws"]["region"] == "eu-west-1"
    for _, doc in calls.values():
        default = doc.get("metadata", {}).get("default", {})
        assert not {"cloud.region", "aws.region", "aws.request_id", "aws.queue_url", "messaging.url", "aws.dynamodb.table_names"} & set(default)
        assert validate_document(doc).valid


def test_botocore_calls_end_to_end(recorded, moto_endpoint, daemon, monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    provider, memory = recorded
    calls = _aws_calls(provider, memory, moto_endpoint)
    span, _ = calls["DynamoDB.GetItem"]
    XRaySpanExporter(endpoint=daemon.endpoint).export([span])
    assert daemon.wait_for(1)
    (received,) = daemon.received()
    assert received.verdict.valid, received.verdict.errors
    assert received.document["aws"]["region"] == "eu-west-1"
