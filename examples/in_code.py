"""Setup in code: X-Ray IDs and the X-Ray exporter on a TracerProvider.

Run a daemon first (`otel-xray daemon` stands in for one), then:
    python examples/in_code.py
The exporter reads AWS_XRAY_DAEMON_ADDRESS, else sends to 127.0.0.1:2000.
"""

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_xray import XRayIdGenerator, XRaySpanExporter

provider = TracerProvider(
    resource=Resource.create({"service.name": "checkout"}),
    id_generator=XRayIdGenerator(),
)
provider.add_span_processor(BatchSpanProcessor(XRaySpanExporter(indexed_attributes=["order.id"])))
trace.set_tracer_provider(provider)

tracer = trace.get_tracer("example")
with tracer.start_as_current_span("GET /orders/{id}", kind=trace.SpanKind.SERVER) as span:
    span.set_attribute("http.request.method", "GET")
    span.set_attribute("order.id", "42")
    with tracer.start_as_current_span("load-order"):
        pass
    span.set_attribute("http.response.status_code", 200)

provider.shutdown()  # flushes what is queued
