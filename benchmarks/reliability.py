"""Loss runs on loopback: span.end() -> XRayBatchSpanProcessor -> exporter -> UDP -> `otel-xray daemon`.

    python -m benchmarks.reliability [--spans 200000] [--rate 10000]

Run 1 pushes --spans spans at --rate spans/s (0 = as fast as the loop goes)
into a daemon in its own process and compares what the daemon received with
what the exporter counted. Run 2 stops the daemon half-way and checks that the
application carries on, with every loss counted.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_xray import XRayBatchSpanProcessor, XRayIdGenerator, XRaySpanExporter


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_daemon(port: int, duration: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_xray.cli", "daemon", "--listen", f"127.0.0.1:{port}", "--quiet", "--duration", str(duration)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.readline()  # "listening on ..."
    return process


def _daemon_count(process: subprocess.Popen) -> tuple:
    stdout, _ = process.communicate(timeout=600)
    match = re.search(r"received \d+ document\(s\) holding (\d+) segment\(s\) and subsegment\(s\): (\d+) valid, (\d+) invalid; (\d+) malformed", stdout)
    return tuple(int(x) for x in match.groups()) if match else (-1, -1, -1, -1)


def _produce(tracer, spans: int, rate: float, on_index=None) -> float:
    started = time.perf_counter()
    for index in range(spans):
        if on_index is not None:
            on_index(index)
        with tracer.start_as_current_span("GET /item", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", "GET")
            span.set_attribute("http.response.status_code", 200)
            span.set_attribute("item.id", index)
        if rate and index % 100 == 99:
            ahead = (index + 1) / rate - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)
    return time.perf_counter() - started


def _provider(port: int):
    exporter = XRaySpanExporter(endpoint=f"127.0.0.1:{port}")
    provider = TracerProvider(resource=Resource.create({"service.name": "loss-run"}), id_generator=XRayIdGenerator())
    provider.add_span_processor(XRayBatchSpanProcessor(exporter, schedule_delay_millis=100))
    return provider, exporter


def run_keeps_up(spans: int, rate: float) -> None:
    port = _free_port()
    daemon = _start_daemon(port, duration=max(30.0, spans / max(rate, 1) * 3 if rate else 120.0))
    provider, exporter = _provider(port)
    elapsed = _produce(provider.get_tracer("run"), spans, rate)
    provider.shutdown()
    daemon.terminate()  # SIGTERM: the daemon prints its summary and exits
    received, valid, invalid, malformed = _daemon_count(daemon)
    stats = exporter.stats()
    print(f"run 1: {spans} spans offered at {'max' if not rate else f'{rate:.0f}/s'} in {elapsed:.1f} s ({spans / elapsed:,.0f} spans/s)")
    print(f"  exporter: received {stats.spans_received}, sent {stats.documents_sent}, queue drops {stats.spans_dropped_by_queue}, send failures {stats.send_failures or 0}")
    print(f"  daemon:   received {received} segments and subsegments ({valid} valid documents, {invalid} invalid, {malformed} malformed)")
    print(f"  lost: {spans - received} (counted by the exporter: {stats.lost})")


def run_daemon_stops(spans: int, rate: float) -> None:
    port = _free_port()
    daemon = _start_daemon(port, duration=600)
    provider, exporter = _provider(port)

    def stop_half_way(index: int) -> None:
        if index == spans // 2:
            provider.force_flush()
            time.sleep(0.5)
            daemon.terminate()

    elapsed = _produce(provider.get_tracer("run"), spans, rate, stop_half_way)
    provider.shutdown()
    received, valid, _, _ = _daemon_count(daemon)
    stats = exporter.stats()
    print(f"run 2: {spans} spans, daemon stopped after span {spans // 2}; the application finished in {elapsed:.1f} s, no exception")
    print(f"  daemon received {received} segments and subsegments ({valid} valid documents) before it stopped")
    print(f"  exporter: received {stats.spans_received}, refused {stats.send_failures.get('connection_refused', 0)}, queue drops {stats.spans_dropped_by_queue}, counted lost {stats.lost}")
    print(f"  not delivered: {spans - received}; counted: {stats.lost}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=10_000, help="offered spans per second; 0 for as fast as possible")
    args = parser.parse_args()
    run_keeps_up(args.spans, args.rate)
    run_daemon_stops(args.spans // 4, args.rate)


if __name__ == "__main__":
    main()
