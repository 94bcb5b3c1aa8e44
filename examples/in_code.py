"""Setup in code: X-Ray IDs, X-Ray sampling rules and the X-Ray exporter on a TracerProvider.

Run a daemon first (`otel-xray daemon` stands in for one and serves sampling rules), then:
    python examples/in_code.py
The exporter reads AWS_XRAY_DAEMON_ADDRESS, else sends to 127.0.0.1:2000; the sampler polls
the same address over TCP, and samples 1 request/s + 5% until rules arrive.
"""

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel_xray import XRayBatchSpanProcessor, XRayIdGenerator, XRayRemoteSampler, XRaySpanExporter, annotate

resource = Resource.create({"service.name": "checkout"})
provider = TracerProvider(
    resource=resource,
    id_generator=XRayIdGenerator(),
    sampler=XRayRemoteSampler(resource=resource),
)
provider.add_span_processor(XRayBatchSpanProcessor(XRaySpanExporter(indexed_attributes=["order.id"])))
trace.set_tracer_provider(provider)

tracer = trace.get_tracer("example")
with tracer.start_as_current_span("GET /orders/{id}", kind=trace.SpanKind.SERVER) as span:
    span.set_attribute("http.request.method", "GET")
    span.set_attribute("order.id", "42")
    with tracer.start_as_current_span("load-order"):
        annotate("customer_tier", "gold")  # indexed, on the segment, from nested code
    span.set_attribute("http.response.status_code", 200)

provider.shutdown()  # flushes what is queued
