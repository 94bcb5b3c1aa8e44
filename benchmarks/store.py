"""The local X-Ray store: ingestion rate from UDP into SQLite, and query times over 100,000 traces.

1. Ingestion: the same datagrams (the exporter's documents for a workload,
   each copy with its own trace ID) sent over loopback UDP by a separate
   process to a local daemon, with the store (a WAL file in a temporary
   directory, written by the store's own process) and without it, in
   alternating rounds. The sender keeps a bounded window of datagrams in
   flight, so nothing is lost to the kernel and the rate measured is the
   daemon's. With the store, the clock stops when the last document is
   committed. 1a: the benchmark workload (a segment with 5 nested
   subsegments, about 2.6 kB); 1b: a segment with one (about 1.1 kB).
2. Queries: 100,000 traces of 30 services put straight into a store, then the
   console's and the API's queries timed (median and worst of several runs).

    python -m benchmarks.store [--quick] [--documents N] [--traces N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Callable, Dict, List, Tuple

from otel_xray.daemon.server import LocalDaemon
from otel_xray.daemon.store import TraceStore
from otel_xray.daemon.validate import Verdict

from .workload import ECS_RESOURCE, inventory_call_attributes, request_attributes, set_attributes

_SENDER = textwrap.dedent(
    """
    import socket, sys
    port = int(sys.argv[1]); data = open(sys.argv[2], 'rb').read().split(b'\\0\\0\\0')
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sock.connect(('127.0.0.1', port))
    sent = 0
    for line in sys.stdin:
        credit = int(line)
        if credit <= 0: break
        for datagram in data[sent:sent + credit]:
            sock.send(datagram)
        sent += credit
    """
)


# The second workload: a SERVER span with one CLIENT child (one level of nested subsegment) from a
# smaller resource, about 1.1 kB per document: the typical request document the translator produces
# once it no longer repeats the whole resource in every subsegment.
SMALL_KEYS = (
    "service.name", "service.version", "deployment.environment", "cloud.provider", "cloud.platform", "cloud.region",
    "cloud.account.id", "aws.ecs.launchtype", "aws.ecs.task.arn", "process.runtime.name",
)
SMALL_RESOURCE = {key: ECS_RESOURCE[key] for key in SMALL_KEYS}


def _small_request(tracer, index: int) -> None:
    """The benchmark's request with only its outgoing HTTP call under it."""
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER) as request:
        set_attributes(request, request_attributes(index))
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT) as call:
            set_attributes(call, inventory_call_attributes(index))
        request.set_attribute("http.response.status_code", 200)


WORKLOADS = {
    "request": "a SERVER segment with 5 nested subsegments (the benchmark workload)",
    "small": "a SERVER segment with 1 nested subsegment, smaller resource (the typical request document)",
}


def workload_datagrams(count: int, workload: str = "request") -> List[bytes]:
    """The exporter's datagrams for a workload, repeated with fresh trace IDs."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from otel_xray import XRayIdGenerator, XRaySpanExporter

    from .bench import ECS_RESOURCE, record_trace

    resource, record = (ECS_RESOURCE, record_trace) if workload == "request" else (SMALL_RESOURCE, _small_request)
    with LocalDaemon("127.0.0.1", 0) as capture:
        provider = TracerProvider(resource=Resource.create(resource), id_generator=XRayIdGenerator())
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(XRaySpanExporter(endpoint=capture.endpoint)))
        tracer = provider.get_tracer("bench")
        for index in range(200):
            record(tracer, index)
        provider.shutdown()
        capture.wait_quiet(0.3)
        documents = capture.documents()
    header = b'{"format":"json","version":1}\n'
    templates = [json.dumps(d, separators=(",", ":")) for d in documents]
    out = []
    for index in range(count):
        text = templates[index % len(templates)]
        old = json.loads(text)["trace_id"]
        new = "1-%08x-%024x" % (int(time.time()), index + 1)
        out.append(header + text.replace(old, new).encode())
    return out


def ingest_round(datagrams: List[bytes], with_store: bool, data_file: str, window: int = 200) -> Tuple[float, Dict[str, int]]:
    directory = tempfile.mkdtemp(prefix="otel-xray-bench-")
    store = TraceStore(os.path.join(directory, "traces.db")) if with_store else None
    daemon = LocalDaemon("127.0.0.1", 0, keep=False, store=store).start()
    sender = subprocess.Popen([sys.executable, "-c", _SENDER, str(daemon.address[1]), data_file],
                              stdin=subprocess.PIPE, text=True)
    assert sender.stdin is not None
    total = len(datagrams)
    try:
        start = time.perf_counter()
        sent = min(window, total)
        sender.stdin.write(f"{sent}\n")
        sender.stdin.flush()
        while sent < total:
            if not daemon.wait_for(sent - window // 2, timeout=30):
                raise RuntimeError(f"the daemon stalled at {daemon.document_count} of {sent} sent")
            credit = min(window // 2, total - sent)
            sender.stdin.write(f"{credit}\n")
            sender.stdin.flush()
            sent += credit
        if not daemon.wait_for(total, timeout=60):
            raise RuntimeError(f"only {daemon.document_count} of {total} documents arrived")
        if store is not None and not store.flush(timeout=120):
            raise RuntimeError("the store did not catch up")
        elapsed = time.perf_counter() - start
        counts = {"received": daemon.document_count}
        if store is not None:
            stats = store.stats()
            counts.update(stored=stats.stored, dropped=stats.dropped, failed=stats.failed, traces=store.trace_count(),
                          batches=stats.batches)
        return total / elapsed, counts
    finally:
        sender.stdin.write("0\n")
        sender.stdin.close()
        sender.wait(10)
        daemon.stop()
        if store is not None:
            store.close()
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))
        os.rmdir(directory)


def load_average() -> str:
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def section_ingestion(documents: int, rounds: int, workload: str = "request", number: str = "1") -> None:
    datagrams = workload_datagrams(documents, workload)
    size = statistics.mean(len(d) for d in datagrams)
    with tempfile.NamedTemporaryFile(delete=False) as handle:
        handle.write(b"\0\0\0".join(datagrams))
        data_file = handle.name
    before = load_average()
    try:
        rates: Dict[bool, List[float]] = {False: [], True: []}
        counts = {}
        for _ in range(rounds):
            for with_store in (False, True):
                rate, counts[with_store] = ingest_round(datagrams, with_store, data_file)
                rates[with_store].append(rate)
    finally:
        os.remove(data_file)
    plain, stored = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"\n{number}. Ingestion from UDP ({documents} documents of {size:.0f} bytes, each {WORKLOADS[workload]}; "
          f"median of {rounds} alternating rounds; load average {before} before, {load_average()} after; {os.cpu_count()} CPUs)")
    print(f"  daemon without a store        {plain:10,.0f} documents/s   rounds: {', '.join(f'{r:,.0f}' for r in rates[False])}")
    print(f"  daemon + SQLite store (WAL)   {stored:10,.0f} documents/s   rounds: {', '.join(f'{r:,.0f}' for r in rates[True])}")
    cost = 1 - stored / plain
    print(f"  the store costs {cost:.0%} of the rate (target <= 25%: {'met' if cost <= 0.25 else 'NOT met'}); "
          f"{stored:,.0f} documents/s stored (target >= 20,000: {'met' if stored >= 20000 else 'NOT met'})")
    print(f"  last round with the store: {counts[True]}")


def fill(store: TraceStore, traces: int) -> None:
    rng = random.Random(7)
    services = [f"svc-{i:02d}" for i in range(30)]
    now = time.time()
    valid = Verdict()
    for index in range(traces):
        trace = "1-%08x-%024x" % (int(now), index + 1)
        start = now - 3600 + index * (3600 / traces)
        chain = rng.sample(services, 3)
        status = rng.choice([200] * 16 + [404, 429, 500, 503])
        root = {
            "name": chain[0], "id": "%016x" % (index * 4 + 1), "trace_id": trace, "start_time": start,
            "end_time": start + rng.uniform(0.005, 0.5), "origin": "AWS::ECS::Fargate",
            "http": {"request": {"method": "GET", "url": f"https://{chain[0]}.example.com/items/{index % 500}"},
                     "response": {"status": status}},
            "fault": status >= 500, "error": 400 <= status < 500, "throttle": status == 429,
            "annotations": {"customer": f"c{index % 1000}", "tier": index % 3},
            "subsegments": [
                {"name": chain[1], "id": "%016x" % (index * 4 + 2), "namespace": "remote", "start_time": start + 0.001,
                 "end_time": start + 0.004},
                {"name": "DynamoDB", "id": "%016x" % (index * 4 + 3), "namespace": "aws", "start_time": start + 0.002,
                 "end_time": start + 0.003},
            ],
        }
        callee = {"name": chain[1], "id": "%016x" % (index * 4 + 4), "trace_id": trace, "parent_id": "%016x" % (index * 4 + 2),
                  "start_time": start + 0.0015, "end_time": start + 0.0035, "origin": "AWS::EC2::Instance"}
        store.submit(root, valid, 1500, start)
        store.submit(callee, valid, 300, start)
    if not store.flush(timeout=600):
        raise RuntimeError("filling the store did not finish")


def timed(call: Callable[[], object], runs: int) -> Tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times)


def section_queries(traces: int, runs: int) -> None:
    from otel_xray.console import console_routes
    from otel_xray.daemon.xray_api import XRayApi

    directory = tempfile.mkdtemp(prefix="otel-xray-bench-")
    path = os.path.join(directory, "traces.db")
    store = TraceStore(path)
    started = time.perf_counter()
    fill(store, traces)
    print(f"\n2. Queries over {store.trace_count():,} stored traces (load average {load_average()}) ({store.document_count():,} documents, 30 services; "
          f"filled in {time.perf_counter() - started:.1f} s; median / worst of {runs} runs)")
    api = XRayApi(store)
    console = console_routes(store).post_json
    now = time.time()
    cases = [
        ("trace list, newest 50 (console)", lambda: console["/console/api/traces"]({"limit": 50})),
        ("trace list, filter service(\"svc-07\") AND fault", lambda: console["/console/api/traces"]({"limit": 50, "filter": 'service("svc-07") AND fault'})),
        ("trace list, filter annotation.customer = \"c17\"", lambda: console["/console/api/traces"]({"limit": 50, "filter": 'annotation.customer = "c17"'})),
        ("trace list, filter responsetime > 0.45 AND http.url CONTAINS \"/items/4\"", lambda: console["/console/api/traces"]({"limit": 50, "filter": 'responsetime > 0.45 AND http.url CONTAINS "/items/4"'})),
        ("trace list grouped by status (all traces)", lambda: console["/console/api/traces"]({"limit": 50, "group_by": "status"})),
        ("GetTraceSummaries, last hour, 100 per page", lambda: api.get_trace_summaries({"StartTime": now - 3700, "EndTime": now})),
        ("service map over all traces (GetServiceGraph)", lambda: api.get_service_graph({"StartTime": now - 3700, "EndTime": now})),
        ("service map, last 5 minutes", lambda: api.get_service_graph({"StartTime": now - 300, "EndTime": now})),
        ("one trace's documents (timeline)", lambda: console["/console/api/trace"]({"trace_id": "1-%08x-%024x" % (int(now), traces // 2)})),
        ("status (live polling)", lambda: console["/console/api/status"]({})),
        ("lint (latest 5,000 documents)", lambda: console["/console/api/lint"]({})),
    ]
    worst_all = 0.0
    for name, call in cases:
        median, worst = timed(call, runs)
        worst_all = max(worst_all, worst)
        print(f"  {name:70s} {median * 1000:8.1f} ms  (worst {worst * 1000:.1f} ms)")
    print(f"  slowest request: {worst_all * 1000:.0f} ms (target: none over 300 ms: {'met' if worst_all <= 0.3 else 'NOT met'})")
    store.close()
    for name in os.listdir(directory):
        os.remove(os.path.join(directory, name))
    os.rmdir(directory)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=30000)
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer documents and traces, for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.documents, args.traces, args.rounds = 5000, 10_000, 1
    print("otel-xray local X-Ray store benchmarks")
    section_ingestion(args.documents, args.rounds, "request", "1a")
    section_ingestion(args.documents, args.rounds, "small", "1b")
    section_queries(args.traces, 5 if not args.quick else 3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
