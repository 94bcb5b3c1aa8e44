"""The same function with no tracing code, for opentelemetry-instrument and
opentelemetry-instrumentation-aws-lambda (which wraps the handler named by _HANDLER
and flushes at the end of each invocation):

    OTEL_PYTHON_DISTRO=otel_xray OTEL_PYTHON_CONFIGURATOR=otel_xray opentelemetry-instrument python -m awslambdaric instrumented.handler
"""

from opentelemetry import trace

tracer = trace.get_tracer("orders")


def handler(event, context):
    with tracer.start_as_current_span("DynamoDB.GetItem", kind=trace.SpanKind.CLIENT) as span:
        span.set_attribute("rpc.system", "aws-api")
        span.set_attribute("rpc.service", "DynamoDB")
        span.set_attribute("rpc.method", "GetItem")
    if event.get("fail"):
        raise RuntimeError("order not found")
    return {"statusCode": 200, "body": "ok"}
