"""Run the side-by-side app under aws-xray-sdk and under otel-xray, into local daemons on loopback.

Everything binds loopback: the local daemons, the two app processes of each
run (``shop`` calls ``inventory``), moto's DynamoDB server and a small
forwarding proxy that adds ``X-Forwarded-For`` as a load balancer does.
Used by ``tests/test_parity_xray_sdk.py`` and by ``benchmarks/bytes_per_request.py``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple

from otel_xray.daemon.server import LocalDaemon, Received

APP = pathlib.Path(__file__).with_name("app.py")
TRACERS = ("xray-sdk", "otel")
SERVICES = {"shop": "parity-shop", "inventory": "parity-inventory"}
CLIENT_IP = "203.0.113.9"  # what the client behind the proxy claims in X-Forwarded-For
_STARTUP_SECONDS = 90


def tool(name: str) -> str:
    beside = pathlib.Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed (it comes with the package's test extras)")
    return found


def new_trace_id() -> Tuple[str, str]:
    """A fresh trace ID as X-Ray writes it and as W3C traceparent writes it."""
    hex_id = "%08x%024x" % (int(time.time()), random.getrandbits(96))
    return f"1-{hex_id[:8]}-{hex_id[8:]}", hex_id


def new_span_id() -> str:
    return "%016x" % random.getrandbits(64)


class Request(NamedTuple):
    label: str
    path: str
    headers: Dict[str, str]
    via_proxy: bool = False
    # What the incoming headers carry, for judging trace joining.
    xray_root: Optional[str] = None
    xray_parent: Optional[str] = None
    w3c_trace: Optional[str] = None
    w3c_parent: Optional[str] = None
    raises_in: Optional[str] = None  # the app function whose exception the documents carry


def planned_requests() -> List[Request]:
    """The requests each run receives, with fresh trace IDs in their headers."""
    requests = [
        Request("orders", "/orders/42?coupon=SPRING24", {}, raises_in="order"),
        Request("unhandled-exception", "/fail", {}, raises_in="fail"),
        Request("behind-proxy", "/hello/proxied", {"X-Forwarded-For": CLIENT_IP}, via_proxy=True),
    ]
    root, _ = new_trace_id()
    parent = new_span_id()
    requests.append(
        Request("xray-header", "/hello/xray", {"X-Amzn-Trace-Id": f"Root={root};Parent={parent};Sampled=1"}, xray_root=root, xray_parent=parent)
    )
    root, _ = new_trace_id()
    requests.append(Request("xray-root-only", "/hello/alb", {"X-Amzn-Trace-Id": f"Root={root}"}, xray_root=root))
    _, w3c = new_trace_id()
    w3c_parent = new_span_id()
    requests.append(Request("traceparent", "/hello/w3c", {"traceparent": f"00-{w3c}-{w3c_parent}-01"}, w3c_trace=w3c, w3c_parent=w3c_parent))
    root, _ = new_trace_id()
    parent = new_span_id()
    _, w3c = new_trace_id()
    w3c_parent = new_span_id()
    requests.append(
        Request(
            "both-headers",
            "/hello/both",
            {"X-Amzn-Trace-Id": f"Root={root};Parent={parent};Sampled=1", "traceparent": f"00-{w3c}-{w3c_parent}-01"},
            xray_root=root,
            xray_parent=parent,
            w3c_trace=w3c,
            w3c_parent=w3c_parent,
        )
    )
    root, _ = new_trace_id()
    _, w3c = new_trace_id()
    w3c_parent = new_span_id()
    requests.append(
        Request(
            "both-headers-root-only",
            "/hello/both-alb",
            {"X-Amzn-Trace-Id": f"Root={root}", "traceparent": f"00-{w3c}-{w3c_parent}-01"},
            xray_root=root,
            w3c_trace=w3c,
            w3c_parent=w3c_parent,
        )
    )
    return requests


@dataclass
class Run:
    """What one tracer produced: every datagram the daemon received, and the requests sent."""

    tracer: str
    received: List[Received]
    requests: List[Request]
    responses: Dict[str, int] = field(default_factory=dict)
    stderr: Dict[str, str] = field(default_factory=dict)

    def documents(self) -> List[Dict[str, Any]]:
        return [item.document for item in self.received]


# ------------------------------------------------------------------ shared backends
@contextlib.contextmanager
def backends() -> Iterator[Dict[str, str]]:
    """moto's DynamoDB on loopback with an ``orders`` table, and a SQLite file: shared by both runs."""
    from moto.server import ThreadedMotoServer

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="otel-xray-parity-"))
    # moto's server logs every request through werkzeug's logger; not worth a line each here.
    werkzeug_log = logging.getLogger("werkzeug")
    previous_level = werkzeug_log.level
    werkzeug_log.setLevel(logging.WARNING)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        dynamodb_url = f"http://{host}:{port}"
        _seed_dynamodb(dynamodb_url)
        database = workdir / "shop.db"
        with contextlib.closing(sqlite3.connect(database)) as db:
            db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
            db.execute("INSERT INTO orders VALUES (42, 99.5)")
            db.commit()
        yield {"dynamodb_url": dynamodb_url, "workdir": str(workdir), "sqlite": database.name}
    finally:
        moto.stop()
        werkzeug_log.setLevel(previous_level)
        shutil.rmtree(workdir, ignore_errors=True)


def _aws_environment() -> Dict[str, str]:
    # moto accepts any credentials; these keep boto3 from looking for real ones
    # (and from asking the EC2 metadata service for them).
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _seed_dynamodb(url: str) -> None:
    import boto3

    env = _aws_environment()
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    client.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName="orders", Item={"id": {"S": "42"}, "status": {"S": "shipped"}})


# ------------------------------------------------------------------ the app processes
def _environment(tracer: str, role: str, daemon: str, shared: Mapping[str, str], inventory_url: str) -> Dict[str, str]:
    # Nothing from the machine: no AWS platform (no resource detection on either side), no settings.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "AWS_", "_X_AMZN", "ECS_CONTAINER_METADATA", "KUBERNETES_"))
    }
    env.update(_aws_environment())
    env.update(
        PARITY_TRACER=tracer,
        PARITY_SQLITE=shared["sqlite"],
        PARITY_DYNAMODB_URL=shared["dynamodb_url"],
        PARITY_INVENTORY_URL=inventory_url,
        AWS_XRAY_DAEMON_ADDRESS=daemon,
        PYTHONUNBUFFERED="1",
    )
    if tracer == "xray-sdk":
        env["AWS_XRAY_TRACING_NAME"] = SERVICES[role]
    else:
        env.update(
            OTEL_PYTHON_DISTRO="otel_xray",
            OTEL_PYTHON_CONFIGURATOR="otel_xray",
            OTEL_SERVICE_NAME=SERVICES[role],
            OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES="order_id",
            # Every request traced, as sampling=False does on the aws-xray-sdk side (the distro's
            # default, X-Ray sampling rules, would trace 1/s + 5% here: no daemon serves rules).
            OTEL_TRACES_SAMPLER="parentbased_always_on",
        )
    return env


class _App:
    def __init__(self, tracer: str, role: str, env: Dict[str, str], cwd: str) -> None:
        command = [sys.executable, str(APP), role]
        if tracer == "otel":
            command = [tool("opentelemetry-instrument")] + command
        self.role = role
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._stderr: List[str] = []
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()
        line = _readline(self.process, _STARTUP_SECONDS)
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"{role} ({tracer}) did not start: {line!r}\n{self.stderr}")
        self.url = f"http://127.0.0.1:{int(line)}"

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def stop(self) -> None:
        """Close stdin: the app shuts its server down and exits normally (flushing its tracer)."""
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)
        self._drain.join(timeout=5)


def _readline(process: subprocess.Popen, timeout: float) -> str:
    found: List[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return found[0] if found else ""


# ------------------------------------------------------------------ the proxy
class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str) -> None:
        self.target = target
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _Proxy

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "x-forwarded-for")}
        forwarded = self.headers.get("X-Forwarded-For")
        # As a load balancer does: append the address the request came from.
        headers["X-Forwarded-For"] = f"{forwarded}, {self.client_address[0]}" if forwarded else self.client_address[0]
        status, body = _get(self.server.target + self.path, headers)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _get(url: str, headers: Mapping[str, str]) -> Tuple[int, bytes]:
    request = urllib.request.Request(url, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# ------------------------------------------------------------------ one run
def run(tracer: str, shared: Mapping[str, str], requests: Optional[List[Request]] = None) -> Run:
    """Start inventory and shop under ``tracer``, send the requests, stop them; what the daemon received."""
    if tracer not in TRACERS:
        raise ValueError(f"tracer must be one of {TRACERS}, not {tracer!r}")
    planned = planned_requests() if requests is None else requests
    responses: Dict[str, int] = {}
    stderr: Dict[str, str] = {}
    with LocalDaemon("127.0.0.1", 0) as daemon:
        apps: List[_App] = []
        try:
            inventory = _App(tracer, "inventory", _environment(tracer, "inventory", daemon.endpoint, shared, ""), shared["workdir"])
            apps.append(inventory)
            shop = _App(tracer, "shop", _environment(tracer, "shop", daemon.endpoint, shared, inventory.url), shared["workdir"])
            apps.append(shop)
            proxy = _Proxy(shop.url)
            threading.Thread(target=proxy.serve_forever, daemon=True).start()
            try:
                for request in planned:
                    base = f"http://127.0.0.1:{proxy.server_address[1]}" if request.via_proxy else shop.url
                    responses[request.label], _ = _get(base + request.path, request.headers)
            finally:
                proxy.shutdown()
                proxy.server_close()
        finally:
            for app in reversed(apps):
                app.stop()
                stderr[app.role] = app.stderr
        # The apps have exited, so nothing more is coming once the daemon has been quiet a moment.
        daemon.wait_quiet(quiet=0.5)
        received = list(daemon.received())
    return Run(tracer, received, planned, responses, stderr)


if __name__ == "__main__":  # a quick look: python -m tests.parity.harness
    with backends() as shared_backends:
        for name in sys.argv[1:] or TRACERS:
            result = run(name, shared_backends)
            print(json.dumps({"tracer": name, "responses": result.responses, "documents": result.documents()}, indent=1))
            for role, text in result.stderr.items():
                print(f"--- {name} {role} stderr ---\n{text}", file=sys.stderr)
