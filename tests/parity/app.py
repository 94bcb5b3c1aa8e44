"""One small Flask service, traced by aws-xray-sdk or by OpenTelemetry, with the same business code.

Run as ``python app.py shop|inventory`` (aws-xray-sdk: ``PARITY_TRACER=xray-sdk``)
or ``opentelemetry-instrument python app.py shop|inventory`` (``PARITY_TRACER=otel``).
It prints its port on the first line of stdout and serves until stdin closes,
then exits normally, so that whatever the tracer buffers is flushed at exit.

The tracing calls are the ones a user migrating from aws-xray-sdk would write:
``xray_recorder`` calls on one side; span attributes (annotations named in
``OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES`` or listed in ``aws.xray.annotations``,
metadata namespaces in ``aws.xray.metadata.<ns>``) and ``record_exception`` on
the other. Everything else (Flask, requests, sqlite3, boto3) is instrumented
by ``patch_all()`` + ``XRayMiddleware`` or by ``opentelemetry-instrument``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import threading
from typing import Any, Dict, Iterator

TRACER = os.environ.get("PARITY_TRACER", "")
ROLE = sys.argv[1] if len(sys.argv) > 1 else ""
if TRACER not in ("xray-sdk", "otel") or ROLE not in ("shop", "inventory"):
    sys.exit("usage: PARITY_TRACER=xray-sdk|otel python app.py shop|inventory")

if TRACER == "xray-sdk":
    from aws_xray_sdk.core import patch_all, xray_recorder
    from aws_xray_sdk.core.utils import stacktrace

    # Service name from AWS_XRAY_TRACING_NAME, daemon from AWS_XRAY_DAEMON_ADDRESS.
    # sampling=False records every request (the default rules keep 1/s + 5%).
    xray_recorder.configure(sampling=False, context_missing="LOG_ERROR")
    patch_all()

import boto3  # noqa: E402  (after patch_all, as the SDK's docs show)
import flask  # noqa: E402
import requests  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402


class XRaySDKTracing:
    """The aws-xray-sdk calls."""

    def annotate(self, key: str, value: Any) -> None:
        xray_recorder.put_annotation(key, value)

    annotate_listed = annotate

    def metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        xray_recorder.put_metadata(key, value, namespace)

    @contextlib.contextmanager
    def local(self, name: str) -> Iterator[None]:
        with xray_recorder.in_subsegment(name):
            yield

    def record_handled(self, exc: BaseException) -> None:
        xray_recorder.current_subsegment().add_exception(exc, stacktrace.get_stacktrace(limit=xray_recorder.max_trace_back))


class OTelTracing:
    """The same, with the OpenTelemetry API (what the migration guide maps them to)."""

    def __init__(self) -> None:
        from opentelemetry import trace

        self._trace = trace
        self._tracer = trace.get_tracer("parity-app")
        self._namespaces: Dict[int, Dict[str, Dict[str, Any]]] = {}

    def annotate(self, key: str, value: Any) -> None:
        # Indexed because OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES names the key.
        self._trace.get_current_span().set_attribute(key, value)

    def annotate_listed(self, key: str, value: Any) -> None:
        # Indexed because the span lists the key in aws.xray.annotations.
        span = self._trace.get_current_span()
        span.set_attribute(key, value)
        listed = list(getattr(span, "attributes", {}).get("aws.xray.annotations", ()))
        span.set_attribute("aws.xray.annotations", listed + [key])

    def metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        span = self._trace.get_current_span()
        if namespace == "default":
            span.set_attribute(key, value)
            return
        spaces = self._namespaces.setdefault(id(span), {})
        spaces.setdefault(namespace, {})[key] = value
        span.set_attribute("aws.xray.metadata." + namespace, json.dumps(spaces[namespace]))

    @contextlib.contextmanager
    def local(self, name: str) -> Iterator[None]:
        with self._tracer.start_as_current_span(name):
            yield

    def record_handled(self, exc: BaseException) -> None:
        self._trace.get_current_span().record_exception(exc)


tracing = XRaySDKTracing() if TRACER == "xray-sdk" else OTelTracing()
app = flask.Flask(ROLE)
if TRACER == "xray-sdk":
    from aws_xray_sdk.ext.flask.middleware import XRayMiddleware

    XRayMiddleware(app, xray_recorder)


@app.route("/orders/<order_id>")
def order(order_id: str) -> Any:
    tracing.annotate("order_id", order_id)
    tracing.annotate_listed("customer_tier", "gold")
    tracing.metadata("cart_items", 3)
    tracing.metadata("coupon", {"code": "SPRING24", "percent": 10}, namespace="shop")
    db = sqlite3.connect(os.environ["PARITY_SQLITE"])
    try:
        cursor = db.cursor()
        cursor.execute("SELECT id, total FROM orders WHERE id = ?", (int(order_id),))
        row = cursor.fetchone()
    finally:
        db.close()
    stock = requests.get(os.environ["PARITY_INVENTORY_URL"] + "/stock/17?warehouse=eu", timeout=10).json()
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=os.environ["PARITY_DYNAMODB_URL"])
    item = dynamodb.get_item(TableName="orders", Key={"id": {"S": order_id}})
    with tracing.local("apply-discount"):
        try:
            raise ValueError("coupon SPRING24 has expired")
        except ValueError as exc:
            tracing.record_handled(exc)
    return flask.jsonify(order=row[0], total=row[1], in_stock=stock["in_stock"], status=item["Item"]["status"]["S"])


@app.route("/fail")
def fail() -> Any:
    raise RuntimeError("payment backend unavailable")


@app.route("/hello/<form>")
def hello(form: str) -> Any:
    return flask.jsonify(hello=form)


@app.route("/stock/<sku>")
def stock(sku: str) -> Any:
    return flask.jsonify(sku=sku, in_stock=True)


def main() -> None:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sys.stdin.read()  # serve until the test closes stdin (or goes away)
    server.shutdown()
    thread.join(timeout=10)


if __name__ == "__main__":
    main()
