"""A Lambda function traced to X-Ray with only the OpenTelemetry SDK and otel-xray.

Deploy with active tracing on. The exporter sends to the daemon Lambda runs beside the function
(AWS_XRAY_DAEMON_ADDRESS), places the function's spans under the segment Lambda records, and
@lambda_handler flushes them before the handler returns. Set OTEL_EXPORTER_XRAY_PROTOCOL=otlp to
send OTLP instead of segment documents.
"""

from opentelemetry import trace

from otel_xray.aws_lambda import configure, lambda_handler

configure()  # X-Ray IDs, the Lambda resource, a per-invocation processor, the exporter
tracer = trace.get_tracer("orders")


@lambda_handler
def handler(event, context):
    with tracer.start_as_current_span("DynamoDB.GetItem", kind=trace.SpanKind.CLIENT) as span:
        span.set_attribute("rpc.system", "aws-api")
        span.set_attribute("rpc.service", "DynamoDB")
        span.set_attribute("rpc.method", "GetItem")
        span.set_attribute("aws.dynamodb.table_names", ["orders"])
    if event.get("fail"):
        raise RuntimeError("order not found")
    return {"statusCode": 200, "body": "ok"}
