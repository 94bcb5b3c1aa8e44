"""A small service written against aws-xray-sdk, used unchanged by tests/test_compat_same_documents.py.

The test runs it twice: as it is, with the real aws-xray-sdk, and with only the
import line below changed to ``from otel_xray.compat import xray_recorder, patch_all``.
Both runs send to a local daemon (``AWS_XRAY_DAEMON_ADDRESS``), and the
documents received are compared.

What it exercises: ``configure``, ``patch_all()`` with requests and sqlite3,
``in_segment`` and ``in_subsegment``, ``capture`` with and without a name,
annotations of each type on the segment (also from nested code) and on
subsegments, metadata in the default and two other namespaces, ``set_user``,
HTTP fields, an exception caught in a subsegment and one that escapes two
levels, a throttle flag, and outgoing HTTP calls to a second service (in the
same process, on loopback) that continues the trace from the X-Amzn-Trace-Id
header and answers one call with 429.
"""

import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aws_xray_sdk.core import xray_recorder, patch_all

xray_recorder.configure(service="checkout", sampling=False, context_missing="LOG_ERROR")
patch_all()

import requests  # noqa: E402  (imported after patch_all, as the SDK's docs show)


class Inventory(BaseHTTPRequestHandler):
    """The second service: its own segment, under the caller's subsegment."""

    def do_GET(self):
        header = self.headers.get("X-Amzn-Trace-Id", "")
        fields = dict(part.split("=", 1) for part in header.split(";") if "=" in part)
        sampled = fields.get("Sampled")
        with xray_recorder.in_segment(
            "inventory",
            traceid=fields.get("Root"),
            parent_id=fields.get("Parent"),
            sampling=int(sampled) if sampled in ("0", "1") else None,
        ) as segment:
            sku = self.path.rsplit("/", 1)[-1]
            status = 429 if sku == "99" else 200
            segment.put_http_meta("method", "GET")
            segment.put_http_meta("url", "http://inventory.local" + self.path)
            segment.put_annotation("sku", sku)
            segment.put_http_meta("status", status)
            body = b'{"in_stock": 3}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@xray_recorder.capture("load_order")
def load_order(order_id):
    subsegment = xray_recorder.current_subsegment()
    subsegment.put_annotation("order_id", order_id)
    subsegment.put_metadata("query", {"table": "orders", "id": order_id}, "db")
    connection = sqlite3.connect(":memory:")
    cursor = connection.cursor()
    cursor.execute("CREATE TABLE orders (id INTEGER, total INTEGER)")
    cursor.execute("INSERT INTO orders VALUES (?, ?)", (order_id, 1250))
    cursor.execute("SELECT total FROM orders WHERE id = ?", (order_id,))
    total = cursor.fetchone()[0]
    connection.close()
    # The segment, annotated from nested code.
    xray_recorder.current_segment().put_annotation("order_total", total)
    return total


@xray_recorder.capture()
def apply_coupon(code):
    raise ValueError(f"coupon {code} has expired")


@xray_recorder.capture("reserve")
def reserve(sku):
    raise RuntimeError(f"no stock for {sku}")


def checkout(port):
    with xray_recorder.in_segment("checkout") as segment:
        segment.put_http_meta("method", "POST")
        segment.put_http_meta("url", "https://shop.example.com/checkout")
        segment.set_user("alice")
        segment.put_annotation("customer_tier", "gold")
        segment.put_annotation("cart_items", 3)
        segment.put_annotation("express", False)
        segment.put_metadata("cart", {"items": ["book", "pen", "ink"]}, "checkout")
        segment.put_metadata("build", "2026.11")

        load_order(42)

        with xray_recorder.in_subsegment("pricing") as pricing:
            pricing.put_annotation("discount_rate", 0.15)
            pricing.put_metadata("rules", ["spring", "loyalty"], "pricing")
            try:
                apply_coupon("SPRING24")
            except ValueError:
                pricing.put_annotation("coupon_rejected", True)

        requests.get(f"http://127.0.0.1:{port}/stock/17", timeout=5)
        requests.get(f"http://127.0.0.1:{port}/stock/99", timeout=5)

        try:
            with xray_recorder.in_subsegment("reserve_stock"):
                reserve("ink")
        except RuntimeError:
            pass

        with xray_recorder.in_subsegment("payment") as payment:
            payment.put_annotation("provider", "acme-pay")
            payment.add_throttle_flag()

        segment.put_http_meta("status", 200)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Inventory)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        checkout(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    print("done", file=sys.stderr)


if __name__ == "__main__":
    main()
