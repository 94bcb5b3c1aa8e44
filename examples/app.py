"""An application that knows only the OpenTelemetry API: configured entirely from outside.

    OTEL_PYTHON_DISTRO=otel_xray OTEL_PYTHON_CONFIGURATOR=otel_xray \
    OTEL_SERVICE_NAME=example-app AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000 \
    opentelemetry-instrument python examples/app.py

It prints one JSON line describing the tracing set-up it was given.
"""

import json

from opentelemetry import propagate, trace

tracer = trace.get_tracer("example-app")

with tracer.start_as_current_span("GET /items/{id}", kind=trace.SpanKind.SERVER) as span:
    span.set_attribute("http.request.method", "GET")
    span.set_attribute("url.path", "/items/7")
    span.set_attribute("http.response.status_code", 200)
    span.set_attribute("item.id", "7")
    with tracer.start_as_current_span("compute-price") as child:
        child.set_attribute("price.cents", 1250)
    trace_id = span.get_span_context().trace_id

provider = trace.get_tracer_provider()
print(
    json.dumps(
        {
            "provider": type(provider).__name__,
            "id_generator": type(getattr(provider, "id_generator", None)).__name__,
            "propagator_fields": sorted(propagate.get_global_textmap().fields),
            "trace_id": "%032x" % trace_id,
        }
    )
)
