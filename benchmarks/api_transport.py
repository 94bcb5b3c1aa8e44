"""The X-Ray API transport: what handing a document over costs the application, and throughput into moto.

    python -m benchmarks.api_transport [--traces 500] [--repeats 7] [--quick]

1. Application-thread cost of ``send`` per document (and per span), the same
   encoded documents for every candidate, median of interleaved rounds:
   - UDP: ``UdpTransport.send`` to a loopback socket (the baseline);
   - API, endpoint stalled: ``XRayApiTransport.send`` while its worker is held
     inside a call (the hand-over alone);
   - API, draining into moto: while its worker sends to moto's X-Ray server
     (in its own process), competing with the application for the GIL (ten
     passes over the documents per round keep it busy during the round).
2. Throughput into moto's server on loopback: spans/s from the first ``send``
   until ``force_flush`` returns, ``PutTraceSegments`` calls per 1,000 spans,
   and the CPU time this process spent per span meanwhile (moto runs in its own).

Needs the ``api`` extra and ``moto[server]`` (both in the ``test`` extra).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any, Callable, Dict, List, Tuple

from otel_xray.assemble import nest
from otel_xray.translate import Translator
from otel_xray.wire.framing import encode_body
from otel_xray.wire.udp import UdpTransport

from .bench import describe_machine, make_spans, print_table, sink

# Plenty for every round of every candidate: the stalled transport keeps all it is given.
_QUEUE_DOCUMENTS = 10_000_000
_QUEUE_BYTES = 4 * 1024 ** 3


def pipeline_documents(spans: List[Any], batch: int = 512) -> List[Tuple[bytes, int]]:
    """``[(document body, spans in it)]``: translated, nested per export batch and encoded, as the exporter does."""
    translator = Translator()
    documents = []
    for start in range(0, len(spans), batch):
        for doc, count in nest([translator.translate(span) for span in spans[start : start + batch]]):
            documents.append((encode_body(doc), count))  # type: ignore[arg-type]
    return documents


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MotoServer:
    """moto's X-Ray server in its own process on a loopback port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto's server did not start within 60 s")

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset", method="POST"), timeout=60).close()

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(30)


def interleaved_after(
    candidates: Dict[str, Callable[[], int]], prepare: Callable[[], None], repeats: int
) -> Dict[str, float]:
    """As ``bench.interleaved`` (median µs per item, round-robin), with ``prepare`` run untimed before each run."""
    samples: Dict[str, List[float]] = {name: [] for name in candidates}
    for function in candidates.values():
        prepare()
        function()  # warm-up
    for _ in range(repeats):
        for name, function in candidates.items():
            prepare()
            gc.collect()
            start = time.perf_counter()
            items = function()
            samples[name].append((time.perf_counter() - start) / items * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def _transport(url: str, **options: Any) -> Any:
    from otel_xray.wire.xray_api import XRayApiTransport

    return XRayApiTransport(url, "us-east-1", queue_documents=_QUEUE_DOCUMENTS, queue_bytes=_QUEUE_BYTES, **options)


def _wait_until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("benchmark set-up did not settle")
        time.sleep(0.01)


def section_hand_over(
    documents: List[Tuple[bytes, int]], moto: MotoServer, repeats: int, passes: int = 10
) -> List[Tuple[str, float, str]]:
    # Several passes over the documents per round, so that the draining worker is
    # busy (signing, sending, parsing) while the application thread hands over.
    documents = documents * passes
    spans = sum(count for _, count in documents)
    receiver, address = sink()
    udp = UdpTransport(*address)

    # An endpoint that takes the connection but never answers: the worker's
    # first call waits there (without the GIL) for the rest of the run.
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(64)
    stalled = _transport("http://127.0.0.1:%d" % black_hole.getsockname()[1], read_timeout_seconds=3600.0)
    stalled.send(*documents[0])
    stalled.force_flush(0.0)
    _wait_until(lambda: stalled.stats().in_flight_documents > 0)
    time.sleep(0.5)  # into the call

    draining = _transport(moto.url, linger_seconds=0.0)

    def udp_round() -> int:
        send = udp.send
        for body, count in documents:
            send(body, count)
        return spans

    def stalled_round() -> int:
        send = stalled.send
        for datagram, count in documents:
            send(datagram, count)
        return spans

    def draining_round() -> int:
        send = draining.send
        for datagram, count in documents:
            send(datagram, count)
        return spans

    def quiet() -> None:
        # Untimed, before every round: the draining worker's backlog from its last
        # round is sent, so that it competes only during its own rounds.
        draining.force_flush(600.0)

    result = interleaved_after(
        {
            "udp: UdpTransport.send to a loopback socket (baseline)": udp_round,
            "api: XRayApiTransport.send, endpoint stalled (hand-over only)": stalled_round,
            "api: XRayApiTransport.send, worker draining into moto": draining_round,
        },
        quiet,
        repeats,
    )
    quiet()
    lost = draining.stats().spans_lost + stalled.stats().losses.get("queue_full", 0)
    stalled.shutdown(0.0)
    draining.shutdown(10.0)
    black_hole.close()
    receiver.close()
    udp.close()
    base = result["udp: UdpTransport.send to a loopback socket (baseline)"]
    per_document = spans / len(documents)
    rows = []
    for name, us_per_span in result.items():
        rows.append((f"{name}, {us_per_span * per_document:.2f} us/document", us_per_span, f"{us_per_span / base:.2f}x udp"))
    if lost:
        rows.append((f"(spans lost during this section: {lost})", float("nan"), ""))
    return rows


def section_throughput(documents: List[Tuple[bytes, int]], moto: MotoServer, rounds: int = 3) -> List[Tuple[str, float, str]]:
    spans = sum(count for _, count in documents)
    rows = []
    for linger in (1.0, 0.0):
        rates, calls, cpu = [], [], []
        for _ in range(rounds):
            moto.reset()  # a store grown by earlier rounds makes moto slower
            transport = _transport(moto.url, linger_seconds=linger)
            transport.send(*documents[0])
            transport.force_flush(60.0)  # the client is made and warm
            before = transport.stats()
            cpu_start = time.process_time()
            start = time.perf_counter()
            for datagram, count in documents:
                transport.send(datagram, count)
            flushed = transport.force_flush(600.0)
            elapsed = time.perf_counter() - start
            cpu.append((time.process_time() - cpu_start) / spans * 1e6)
            after = transport.stats()
            transport.shutdown(10.0)
            if not flushed or after.spans_lost:
                raise RuntimeError(f"throughput run lost spans: {after}")
            rates.append(spans / elapsed)
            calls.append((after.api_calls - before.api_calls) / spans * 1000)
        rate = sorted(rates)[len(rates) // 2]
        rows.append(
            (
                f"linger {linger:g} s: {spans} spans in {len(documents)} documents, "
                f"{sorted(calls)[len(calls) // 2]:.1f} PutTraceSegments calls per 1,000 spans, "
                f"this process's CPU (send + the worker's JSON, signing, HTTP) {sorted(cpu)[len(cpu) // 2]:.1f} us/span",
                1e6 / rate,
                f"{rate:,.0f} spans/s",
            )
        )
    return rows


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=500, help="traces of six spans each (default 500)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer traces and repeats, for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.traces, args.repeats = 50, 3
    try:
        import botocore  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        print(f"\nX-Ray API transport: skipped ({exc}; pip install -e '.[test]')")
        return 0
    # moto needs credentials of some kind; these never leave loopback.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "benchmark")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "benchmark")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    documents = pipeline_documents(make_spans(args.traces))
    spans = sum(count for _, count in documents)
    print(f"\nX-Ray API transport: {describe_machine()}")
    print(f"{spans} spans in {len(documents)} documents (the exporter's pipeline: translate, nest per 512-span batch, encode)")
    moto = MotoServer()
    try:
        throughput = section_throughput(documents, moto)
        moto.reset()
        print_table("A. Application thread: handing the same documents over (per span)", section_hand_over(documents, moto, args.repeats))
        print_table("B. Throughput into moto's X-Ray server on loopback (one transport)", throughput)
    finally:
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
