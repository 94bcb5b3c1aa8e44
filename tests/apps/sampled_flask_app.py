"""A Flask service run under ``opentelemetry-instrument`` by the sampling tests; it knows only the OpenTelemetry API.

It serves /health, /orders/<id> and /warmup on a free loopback port, waits until
the sampler has its rules (the first request starts the sampler's poller), then
requests /health and /orders/<id> 20 times each and prints one JSON line.
"""

import json
import threading
import time
import urllib.request

from flask import Flask
from opentelemetry import trace
from werkzeug.serving import make_server

app = Flask(__name__)


@app.route("/health")
def health():
    return "ok"


@app.route("/orders/<int:order_id>")
def order(order_id):
    return {"id": order_id}


@app.route("/warmup")
def warmup():
    return "warm"


server = make_server("127.0.0.1", 0, app, threaded=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{server.server_port}"


def get(path):
    with urllib.request.urlopen(base + path, timeout=10) as response:
        response.read()


provider = trace.get_tracer_provider()
sampler = provider.sampler
get("/warmup")  # decided by the fallback: the rules are being fetched
deadline = time.monotonic() + 10
while not getattr(sampler, "rules", None) and time.monotonic() < deadline:
    time.sleep(0.02)
for index in range(20):
    get("/health")
    get(f"/orders/{index}")
server.shutdown()
provider.shutdown()
print(json.dumps({"sampler": type(sampler).__name__, "rules": [r.rule_name for r in getattr(sampler, "rules", ())]}))
