"""The real AWS X-Ray daemon uses the local daemon as its X-Ray endpoint.

Our exporter -> the real daemon (UDP) -> PutTraceSegments to the local daemon
-> the trace comes back through BatchGetTraces. The daemon is built from the
sources in ../shared/real-daemon with Debian's Go (its build.sh installs the
packages it needs when run as root); the test skips, saying why, where that
kit is absent or cannot build.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest

boto3 = pytest.importorskip("boto3", reason="boto3 is a test dependency: pip install -e '.[test]'")

from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402

from otel_xray import XRayIdGenerator, XRaySpanExporter  # noqa: E402
from otel_xray.daemon.server import LocalDaemon  # noqa: E402
from otel_xray.daemon.store import TraceStore  # noqa: E402
from otel_xray.local_xray import store_routes  # noqa: E402


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def real_daemon_binary(request) -> str:
    from .conftest import SHARED

    kit = SHARED / "real-daemon" / "build.sh"
    if not kit.is_file():
        pytest.skip("../shared/real-daemon is not present in this checkout")
    out = request.config.cache.mkdir("xray-daemon")
    result = subprocess.run(["bash", str(kit), str(out)], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.skip(f"the real X-Ray daemon could not be built (build.sh exit {result.returncode}): "
                    f"{(result.stderr or result.stdout).strip()[-400:]}")
    return str(out / "xray")


def test_the_real_daemon_forwards_our_spans_to_the_local_x_ray_api(real_daemon_binary, tmp_path):
    store = TraceStore(":memory:")
    local = LocalDaemon("127.0.0.1", 0, http_routes=store_routes(store, console=False), store=store).start()
    api_port = local.address[1]
    udp_port, tcp_port = _free_port(socket.SOCK_DGRAM), _free_port(socket.SOCK_STREAM)
    config = tmp_path / "xray.yaml"
    config.write_text(
        "TotalBufferSizeMB: 16\nConcurrency: 8\nRegion: \"us-east-1\"\n"
        f"Endpoint: \"http://127.0.0.1:{api_port}\"\n"
        f"Socket:\n  UDPAddress: \"127.0.0.1:{udp_port}\"\n  TCPAddress: \"127.0.0.1:{tcp_port}\"\n"
        "Logging:\n  LogRotation: false\n  LogLevel: \"dev\"\nLocalMode: true\nVersion: 2\n"
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    log_path = tmp_path / "xray.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([real_daemon_binary, "-c", str(config), "-o", "-n", "us-east-1", "-l", "dev"],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(tmp_path))
    try:
        deadline = time.monotonic() + 15
        while "Starting proxy http server" not in log_path.read_text(errors="replace"):
            assert process.poll() is None, log_path.read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "the real daemon did not start"
            time.sleep(0.05)
        provider = TracerProvider(resource=Resource.create({"service.name": "real-daemon-check"}),
                                  id_generator=XRayIdGenerator())
        exporter = XRaySpanExporter(endpoint=f"127.0.0.1:{udp_port}")
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("GET /through-the-real-daemon", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", "GET")
            span.set_attribute("http.response.status_code", 200)
            with tracer.start_as_current_span("child"):
                pass
            trace_id = "1-{0:032x}".format(span.get_span_context().trace_id)
            trace_id = trace_id[:10] + "-" + trace_id[10:]
        provider.shutdown()

        client = boto3.client("xray", endpoint_url=local.http.url, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
        deadline = time.monotonic() + 20  # the daemon sends a partial batch after 1 s idle
        traces = []
        while time.monotonic() < deadline:
            traces = client.batch_get_traces(TraceIds=[trace_id])["Traces"]
            if traces and len(traces[0]["Segments"]) >= 1 and store.stats().stored >= 2:
                break
            time.sleep(0.2)
        assert traces, "the trace never reached the local daemon; daemon log:\n" + log_path.read_text(errors="replace")[-3000:]
        documents = [json.loads(s["Document"]) for s in traces[0]["Segments"]]
        names = {d["name"] for d in documents} | {s["name"] for d in documents for s in d.get("subsegments", [])}
        assert {"real-daemon-check", "child"} <= names
        # It came through the API (the real daemon's PutTraceSegments), not UDP: the local daemon's UDP port is unused.
        assert local.document_count == 0
        assert store.query("SELECT DISTINCT format FROM documents") == [{"format": "api"}]
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        local.stop()
        store.close()
