"""Bytes on the wire per request: the benchmark's six-span request through the real exporter, and aws-xray-sdk's.

``python -m benchmarks.request_bytes`` exports the workload of ``bench.py``
(a SERVER span with a SQL query, an HTTP call, a DynamoDB call, an internal
span with an exception and an SQS producer, ECS Fargate resource) in batches
of 512 into a UDP socket on loopback, reads every datagram back, and prints
the bytes per request; then the same request recorded by aws-xray-sdk, when
it is installed, with its ECS plugin (the resource is an ECS task's). Only
public APIs are used, so any version of the package can be measured the same
way.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Callable, List, Tuple

from otel_xray import XRaySpanExporter

from .bench import make_spans


def _receiver() -> Tuple[socket.socket, Tuple[str, int]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    return sock, sock.getsockname()


def _collect(send: Callable[[Tuple[str, int]], None]) -> List[bytes]:
    receiver, address = _receiver()
    try:
        send(address)
        datagrams = []
        receiver.settimeout(0.5)
        while True:
            try:
                datagrams.append(receiver.recv(70_000))
            except socket.timeout:
                return datagrams
    finally:
        receiver.close()


def otel_xray_bytes(traces: int) -> Tuple[float, float]:
    """(bytes per request, datagrams per request) through XRaySpanExporter."""
    spans = make_spans(traces)

    def send(address: Tuple[str, int]) -> None:
        exporter = XRaySpanExporter(endpoint="%s:%d" % address)
        for start in range(0, len(spans), 512):
            exporter.export(spans[start : start + 512])
        exporter.shutdown()

    datagrams = _collect(send)
    return sum(len(d) for d in datagrams) / traces, len(datagrams) / traces


def xray_sdk_bytes(traces: int) -> Tuple[float, float]:
    """(bytes per request, datagrams per request) of aws-xray-sdk recording the same request on ECS."""
    from .bench import xray_sdk_candidate

    run = xray_sdk_candidate(traces, plugins=("ECSPlugin",))
    sink = run._receiver  # type: ignore[attr-defined]  # the socket the recorder emits to
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    run()
    sink.settimeout(0.5)
    datagrams = []
    while True:
        try:
            datagrams.append(sink.recv(70_000))
        except socket.timeout:
            break
    sink.close()
    return sum(len(d) for d in datagrams) / traces, len(datagrams) / traces


def main(argv: List[str] = None) -> int:  # type: ignore[assignment]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=200)
    args = parser.parse_args(argv)
    ours, ours_datagrams = otel_xray_bytes(args.traces)
    print(f"otel-xray:   {ours:8.0f} bytes per request ({ours_datagrams:.2f} datagrams), {args.traces} requests of 6 spans")
    try:
        native, native_datagrams = xray_sdk_bytes(args.traces)
    except ImportError:
        print("aws-xray-sdk: not installed (pip install -e '.[bench]')")
        return 0
    print(f"aws-xray-sdk: {native:8.0f} bytes per request ({native_datagrams:.2f} datagrams): ours is {ours / native:.2f}x")
    return 0


def section(traces: int = 100) -> List[Tuple[str, float, str]]:
    """``make bench``'s rows (and target 3, for the benchmark's request)."""
    from . import targets

    ours, ours_datagrams = otel_xray_bytes(traces)
    rows = [(f"otel-xray: {ours:,.0f} bytes per request in {ours_datagrams:.2f} datagram(s)", float("nan"), "")]
    try:
        native, native_datagrams = xray_sdk_bytes(traces)
    except ImportError:
        rows.append(("aws-xray-sdk: not installed (pip install -e '.[bench]')", float("nan"), ""))
        targets.skip("3", "bytes per request, the benchmark's request (ECS)", "aws-xray-sdk is not installed", 1.0)
        return rows
    rows.append(
        (f"aws-xray-sdk (ECS plugin): {native:,.0f} bytes per request in {native_datagrams:.2f} datagram(s): ours is {ours / native:.2f}x", float("nan"), "")
    )
    targets.record_value("3", "bytes per request, the benchmark's request (ECS)", ours / native, 1.0)
    return rows


if __name__ == "__main__":
    sys.exit(main())
