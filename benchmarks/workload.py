"""The benchmarks' request: what an instrumented web service records, in OpenTelemetry only.

This module imports nothing but the OpenTelemetry API and SDK, so that the AWS
distro's benchmark process (``adot.py``), which runs in a virtualenv of its own
with the SDK that distro pins, records exactly the same spans as ours.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

SPANS_PER_TRACE = 6

ECS_RESOURCE = {
    "service.name": "checkout",
    "service.version": "2.3.1",
    "deployment.environment": "production",
    "cloud.provider": "aws",
    "cloud.platform": "aws_ecs",
    "cloud.region": "us-east-1",
    "cloud.account.id": "123456789012",
    "cloud.availability_zone": "us-east-1a",
    "aws.ecs.launchtype": "fargate",
    "aws.ecs.cluster.arn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
    "aws.ecs.task.arn": "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef",
    "aws.ecs.task.family": "checkout",
    "aws.ecs.task.revision": "42",
    "aws.ecs.container.arn": "arn:aws:ecs:us-east-1:123456789012:container/prod/0123/abcd",
    "aws.log.group.names": ("/ecs/checkout",),
    "container.name": "checkout",
    "container.id": "0123456789abcdef0123456789abcdef-1234567890",
    "process.runtime.name": "cpython",
    "process.runtime.version": "3.11.7",
}


class NoopExporter(SpanExporter):
    """Takes spans and does nothing: the baseline for what exporting adds."""

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def note_queue_drop(self) -> None:
        """What ``XRayBatchSpanProcessor`` calls when its queue is full (nothing to count here)."""


def request_attributes(index: int) -> Dict[str, Any]:
    """The incoming request's attributes (the SERVER span's), with a URL distinct per ``index``."""
    return {
        "http.request.method": "GET",
        "url.scheme": "https",
        "url.path": f"/orders/{index}",
        "server.address": "shop.example.com",
        "http.route": "/orders/{id}",
        "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64)",
        "client.address": "203.0.113.7",
        "network.protocol.version": "1.1",
    }


def inventory_call_attributes(index: int) -> Dict[str, Any]:
    """The outgoing HTTP call's attributes (a CLIENT span's)."""
    return {
        "http.request.method": "GET",
        "url.full": f"http://inventory.internal:8080/stock/{index}",
        "server.address": "inventory.internal",
        "server.port": 8080,
        "http.response.status_code": 200,
    }


def set_attributes(span: Any, attributes: Dict[str, Any]) -> None:
    """One ``set_attribute`` call per attribute, as instrumentations make them while a request runs."""
    for key, value in attributes.items():
        span.set_attribute(key, value)


def record_trace(tracer: Any, index: int) -> None:
    """One request: a SERVER span and five children, as instrumentations record them.

    ``index`` makes the URL, the message ID and the inventory call distinct per request.
    """
    with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER) as request:
        set_attributes(request, request_attributes(index))
        with tracer.start_as_current_span("SELECT shop.orders", kind=SpanKind.CLIENT) as query:
            query.set_attribute("db.system", "postgresql")
            query.set_attribute("db.name", "shop")
            query.set_attribute("db.statement", "SELECT id, total, status FROM orders WHERE id = %s")
            query.set_attribute("db.user", "app")
            query.set_attribute("net.peer.name", "db.internal")
            query.set_attribute("net.peer.port", 5432)
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT) as call:
            set_attributes(call, inventory_call_attributes(index))
        with tracer.start_as_current_span("DynamoDB.GetItem", kind=SpanKind.CLIENT) as aws:
            aws.set_attribute("rpc.system", "aws-api")
            aws.set_attribute("rpc.service", "DynamoDB")
            aws.set_attribute("rpc.method", "GetItem")
            aws.set_attribute("aws.region", "us-east-1")
            aws.set_attribute("aws.dynamodb.table_names", ("orders",))
            aws.set_attribute("aws.request_id", "Q3PVJ8GS6AB1NMTN0V1R4EBH5FVV4KQNSO5AEMVJF66Q9ASUAAJG")
            aws.set_attribute("http.response.status_code", 200)
        with tracer.start_as_current_span("apply-discount") as internal:
            try:
                raise ValueError("coupon has expired")
            except ValueError as exc:
                internal.record_exception(exc)
        with tracer.start_as_current_span("orders publish", kind=SpanKind.PRODUCER) as publish:
            publish.set_attribute("messaging.system", "aws_sqs")
            publish.set_attribute("messaging.destination.name", "order-events")
            publish.set_attribute("messaging.operation", "publish")
            publish.set_attribute("messaging.message.id", f"m-{index}")
        request.set_attribute("http.response.status_code", 200)
        request.set_status(Status(StatusCode.OK))


def finished_spans(id_generator: Any, traces: int) -> list:
    """The spans of ``traces`` requests on the ECS resource, finished, as an exporter receives them."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(ECS_RESOURCE), id_generator=id_generator)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for index in range(traces):
        record_trace(tracer, index)
    provider.shutdown()
    return list(memory.get_finished_spans())
