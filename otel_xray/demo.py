"""``otel-xray demo``: a small traced workload, sent over real UDP to an in-process local daemon.

Two services share one trace: ``checkout`` handles ``GET /orders/42`` (a
SERVER span) by querying SQLite, calling ``inventory`` over HTTP on loopback
(twice; the second call is throttled), calling DynamoDB (attributes only: no
AWS account is needed) and handling an exception. ``inventory`` records its
own SERVER spans, joined to the trace through the ``X-Amzn-Trace-Id`` header.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any, Dict, Optional

from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from .daemon.server import LocalDaemon
from .daemon.show import render_traces
from .exporter import XRaySpanExporter
from .ids import XRayIdGenerator

# segments and subsegments; the exporter nests subsegments into fewer documents
EXPECTED_SPANS = 8
_PROPAGATOR = AwsXRayPropagator()


def _provider(service: str, endpoint: str, extra: Dict[str, Any]) -> TracerProvider:
    resource = Resource.create({"service.name": service, "service.version": "1.4.2", **extra})
    provider = TracerProvider(resource=resource, id_generator=XRayIdGenerator())
    provider.add_span_processor(BatchSpanProcessor(XRaySpanExporter(endpoint=endpoint)))
    return provider


def _inventory_server(provider: TracerProvider) -> ThreadingHTTPServer:
    tracer = provider.get_tracer("demo.inventory")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            context = _PROPAGATOR.extract(dict(self.headers.items()))
            status = 429 if self.path.startswith("/stock/99") else 200
            with tracer.start_as_current_span(f"GET {self.path}", context=context, kind=SpanKind.SERVER) as span:
                span.set_attribute("http.request.method", "GET")
                span.set_attribute("url.scheme", "http")
                span.set_attribute("server.address", "inventory.local")
                span.set_attribute("url.path", self.path)
                span.set_attribute("client.address", self.client_address[0])
                span.set_attribute("http.response.status_code", status)
                body = json.dumps({"sku": self.path.rsplit("/", 1)[-1], "in_stock": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def _workload(provider: TracerProvider, inventory_url: str) -> None:
    tracer = provider.get_tracer("demo.checkout")
    with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER) as request:
        request.set_attribute("http.request.method", "GET")
        request.set_attribute("url.scheme", "https")
        request.set_attribute("server.address", "shop.example.com")
        request.set_attribute("url.path", "/orders/42")
        request.set_attribute("http.route", "/orders/{id}")
        request.set_attribute("user_agent.original", "curl/8.5.0")
        request.set_attribute("client.address", "203.0.113.7")
        request.set_attribute("enduser.id", "customer-42")
        request.set_attribute("order.id", "42")

        with tracer.start_as_current_span("SELECT shop.orders", kind=SpanKind.CLIENT) as query:
            statement = "SELECT id, total FROM orders WHERE id = ?"
            query.set_attribute("db.system", "sqlite")
            query.set_attribute("db.name", "shop")
            query.set_attribute("db.statement", statement)
            db = sqlite3.connect(":memory:")
            db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
            db.execute("INSERT INTO orders VALUES (42, 99.5)")
            db.execute(statement, (42,)).fetchall()
            db.close()

        for sku in ("17", "99"):
            url = f"{inventory_url}/stock/{sku}"
            with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT) as call:
                call.set_attribute("http.request.method", "GET")
                call.set_attribute("url.full", url)
                call.set_attribute("server.address", "inventory.local")
                headers: Dict[str, str] = {}
                _PROPAGATOR.inject(headers)
                try:
                    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
                        call.set_attribute("http.response.status_code", response.status)
                except urllib.error.HTTPError as exc:
                    call.set_attribute("http.response.status_code", exc.code)

        with tracer.start_as_current_span("DynamoDB.GetItem", kind=SpanKind.CLIENT) as aws:
            aws.set_attribute("rpc.system", "aws-api")
            aws.set_attribute("rpc.service", "DynamoDB")
            aws.set_attribute("rpc.method", "GetItem")
            aws.set_attribute("aws.region", "us-east-1")
            aws.set_attribute("aws.dynamodb.table_names", ["orders"])
            aws.set_attribute("aws.request_id", "Q3PVJ8GS6AB1NMTN0V1R4EBH5FVV4KQNSO5AEMVJF66Q9ASUAAJG")
            aws.set_attribute("http.response.status_code", 200)

        with tracer.start_as_current_span("apply-discount") as internal:
            try:
                raise ValueError("coupon SPRING24 has expired")
            except ValueError as exc:
                internal.record_exception(exc)  # handled: recorded, but the span succeeds
        request.set_attribute("http.response.status_code", 200)
        request.set_status(Status(StatusCode.OK))


def default_demo_db() -> str:
    """``demo.db`` beside the daemon's default trace database, in the user's cache directory."""
    import os

    from .daemon.store import default_db_path

    return os.path.join(os.path.dirname(default_db_path()), "demo.db")


def run_demo(
    out_path: Optional[str] = None,
    stream: IO[str] = sys.stdout,
    db_path: Optional[str] = None,
    console: bool = False,
    wait: Optional[Any] = None,
) -> int:
    """Run the demo; 0 when every expected document arrived and is valid.

    The traces also go into a trace database (``db_path``, default
    :func:`default_demo_db`); with ``console``, the console stays open on the
    daemon's address until Ctrl-C (or until ``wait()`` returns, for tests).
    """
    from .daemon.store import StoreError, TraceStore
    from .local_xray import console_url, store_routes

    try:
        store = TraceStore(db_path or default_demo_db())
    except StoreError as exc:
        print(f"otel-xray demo: {exc}", file=stream)
        return 2
    out = open(out_path, "w", encoding="utf-8") if out_path else None
    daemon = LocalDaemon("127.0.0.1", 0, out=out, http_routes=store_routes(store, console=True), store=store).start()
    endpoint = daemon.endpoint
    print(f"local X-Ray daemon listening on udp {endpoint}", file=stream)
    ecs = {
        "cloud.provider": "aws",
        "cloud.platform": "aws_ecs",
        "cloud.region": "us-east-1",
        "aws.ecs.launchtype": "fargate",
    }
    checkout = _provider("checkout", endpoint, ecs)
    inventory = _provider("inventory", endpoint, ecs)
    server = _inventory_server(inventory)
    threading.Thread(target=server.serve_forever, name="demo-inventory", daemon=True).start()
    try:
        _workload(checkout, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        checkout.shutdown()  # flushes the batch processor, then closes the exporter
        inventory.shutdown()
    arrived = daemon.wait_for(EXPECTED_SPANS, timeout=10, entities=True)
    store.flush()
    if not console:
        daemon.stop()
        store.close()
    if out is not None:
        out.close()

    received = daemon.received()
    print(
        f"\nthe daemon received {len(received)} document(s) holding {daemon.entity_count} segments and subsegments, "
        "as X-Ray would:\n",
        file=stream,
    )
    print(render_traces([(r.document, r.verdict) for r in received]), file=stream)
    invalid = [r for r in received if not r.verdict.valid]
    print(file=stream)
    status = 0
    if not arrived:
        print(f"FAILED: expected {EXPECTED_SPANS} segments and subsegments, got {daemon.entity_count}", file=stream)
        status = 1
    elif invalid or daemon.rejected:
        print(f"FAILED: {len(invalid)} invalid document(s), {sum(daemon.rejected.values())} malformed datagram(s)", file=stream)
        status = 1
    else:
        print(f"all {len(received)} documents ({daemon.entity_count} segments and subsegments) are valid", file=stream)
    if not console:
        print(
            f"\nthe traces are stored in {store.path}; see them in the console at http://127.0.0.1:2000/ "
            f"after: otel-xray console --db {store.path}   (or run: otel-xray demo --console)",
            file=stream,
        )
        return status
    print(f"\nconsole: {console_url(daemon.address)}  (Ctrl-C to stop)", file=stream, flush=True)
    try:
        if wait is not None:
            wait()
        else:
            import signal

            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        daemon.stop()
        store.close()
    return status
