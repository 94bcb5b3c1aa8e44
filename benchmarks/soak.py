"""Target 6: no memory growth over a long run with distinct span names, URLs and trace IDs.

A fresh interpreter records requests through the whole of otel-xray (X-Ray
IDs, ``XRayRemoteSampler``, ``XRayBatchSpanProcessor``, ``XRaySpanExporter``
with an indexed attribute, so that the per-trace annotation budget is in play)
into a UDP sink on loopback. Every request has span names, a route, URLs, a
queue, an annotation value and a trace ID of its own, so that every cache the
exporter keeps (names, trace IDs, plans, the annotation budget of the last
10,000 traces) fills and then has to let go. After a warm-up long enough for
the largest of them to fill (12,000 requests), the process's resident memory
(``/proc/self/statm``, less what tracemalloc itself holds) and the memory
tracemalloc sees allocated are taken, then ten times more to the end: the
ratio end/warm-up is the figure. The warm-up is a fifth of a long soak (the
allocator's arenas settle after about 200,000 spans, the caches much sooner).

    python -m benchmarks.soak [--spans 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Dict, List, Sequence, Tuple

from . import targets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The annotation budget remembers the last 10,000 traces: by this many requests every cache is full.
WARM_UP_REQUESTS = 12_000

_CHILD = textwrap.dedent(
    """
    import gc, json, os, resource, sys, time, tracemalloc
    sys.path.insert(0, {root!r})
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from otel_xray import XRayBatchSpanProcessor, XRayIdGenerator, XRaySpanExporter
    from otel_xray.sampling import XRayRemoteSampler
    from benchmarks.bench import SAMPLE_EVERYTHING, sink
    from benchmarks.workload import ECS_RESOURCE, SPANS_PER_TRACE

    requests, warm_up = int(sys.argv[1]), int(sys.argv[2])
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * page

    def record(tracer, index):
        route = "/items/%d" % index
        with tracer.start_as_current_span("GET " + route, kind=SpanKind.SERVER) as request:
            request.set_attribute("http.request.method", "GET")
            request.set_attribute("url.full", "https://shop-%d.example.com/items/%d?page=%d" % (index % 9973, index, index))
            request.set_attribute("http.route", route)
            request.set_attribute("order.id", "order-%d" % index)
            request.set_attribute("client.address", "203.0.113.7")
            with tracer.start_as_current_span("SELECT items_%d" % index, kind=SpanKind.CLIENT) as query:
                query.set_attribute("db.system", "postgresql")
                query.set_attribute("db.name", "shop_%d" % index)
                query.set_attribute("db.statement", "SELECT * FROM items_%d WHERE id = %%s" % index)
                query.set_attribute("server.address", "db-%d.internal" % index)
            with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT) as call:
                call.set_attribute("http.request.method", "GET")
                call.set_attribute("url.full", "http://inventory-%d.internal:8080/stock/%d" % (index, index))
                call.set_attribute("http.response.status_code", 200)
            with tracer.start_as_current_span("step-%d" % index) as internal:
                try:
                    raise ValueError("item %d is out of stock" % index)
                except ValueError as exc:
                    internal.record_exception(exc)
            with tracer.start_as_current_span("publish %d" % index, kind=SpanKind.PRODUCER) as publish:
                publish.set_attribute("messaging.system", "aws_sqs")
                publish.set_attribute("messaging.destination.name", "queue-%d" % index)
                publish.set_attribute("messaging.message.id", "m-%d" % index)
            with tracer.start_as_current_span("render %d" % index):
                pass
            request.set_attribute("http.response.status_code", 200)
            request.set_status(Status(StatusCode.OK))

    receiver, address = sink()
    resource_ = Resource.create(ECS_RESOURCE)
    exporter = XRaySpanExporter(endpoint="%s:%d" % address, indexed_attributes=["order.id"])
    processor = XRayBatchSpanProcessor(exporter, max_queue_size=8192)
    provider = TracerProvider(
        resource=resource_,
        id_generator=XRayIdGenerator(),
        sampler=XRayRemoteSampler(resource=resource_, fallback_rules=SAMPLE_EVERYTHING, poll=False),
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("soak")
    tracemalloc.start()
    started = time.perf_counter()
    # The warm-up mark, then ten more to the end; tracemalloc's own bookkeeping is not the process's.
    step = max(1, (requests - warm_up) // 10)
    checkpoints = set(range(warm_up, requests, step)) | {{requests}}
    marks = []
    for index in range(requests):
        record(tracer, index)
        if index + 1 in checkpoints:
            processor.force_flush()
            gc.collect()
            marks.append(((index + 1) * SPANS_PER_TRACE, rss() - tracemalloc.get_tracemalloc_memory(), tracemalloc.get_traced_memory()[0]))
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    provider.shutdown()
    stats = exporter.stats()
    print(json.dumps({{
        "marks": marks, "tracemalloc_peak": peak, "seconds": elapsed,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "spans": requests * SPANS_PER_TRACE, "exported": stats.spans_exported, "dropped_by_queue": stats.spans_dropped_by_queue,
        "lost": stats.lost, "annotations_over_budget": stats.annotations_over_budget,
    }}))
    """
)


def run(spans: int) -> Dict[str, Any]:
    """Soak one fresh interpreter with ``spans`` spans (requests of six); its figures."""
    requests = max(spans // 6, 2)
    # Every cache is full after 12,000 requests; the allocator's arenas settle later (about 200,000
    # spans): the first fifth of a long soak is its warm-up too.
    warm_up = min(max(WARM_UP_REQUESTS, requests // 5), requests // 2)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD.format(root=ROOT), str(requests), str(warm_up)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the soak failed:\n{out.stderr}")
    result: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["warm_up_spans"] = warm_up * 6
    return result


def section(spans: int) -> List[Tuple[str, float, str]]:
    result = run(spans)
    marks = result["marks"]
    (warm_spans, warm_rss, warm_traced), (end_spans, end_rss, end_traced) = marks[0], marks[-1]
    rss_ratio, traced_ratio = end_rss / warm_rss, end_traced / warm_traced
    full = result["warm_up_spans"] >= WARM_UP_REQUESTS * 6
    what = f"memory after {end_spans:,} spans / after {warm_spans:,}"
    if full:
        targets.record_value("6", f"RSS, {what}", rss_ratio, 1.05)
        targets.record_value("6", f"tracemalloc, {what}", traced_ratio, 1.05)
    mb = 1024 * 1024
    rows = [
        (
            f"resident memory (without tracemalloc's own): {warm_rss / mb:.1f} MB after {warm_spans:,} spans, "
            f"{end_rss / mb:.1f} MB after {end_spans:,} ({rss_ratio:.3f}x); peak {result['peak_rss'] / mb:.1f} MB",
            float("nan"),
            "",
        ),
        (
            f"allocated (tracemalloc): {warm_traced / mb:.2f} MB after the warm-up, {end_traced / mb:.2f} MB at the end "
            f"({traced_ratio:.3f}x); peak {result['tracemalloc_peak'] / mb:.2f} MB",
            float("nan"),
            "",
        ),
        (
            "along the way (spans: RSS MB / allocated MB): "
            + ", ".join(f"{count // 1000:,}k: {rss / mb:.1f}/{traced / mb:.2f}" for count, rss, traced in marks),
            float("nan"),
            "",
        ),
        (
            f"{result['exported']:,} spans exported, {result['dropped_by_queue']:,} dropped by a full queue, "
            f"{result['lost']:,} lost in all; {result['annotations_over_budget']:,} annotations over a trace's budget; "
            f"{result['seconds']:.0f} s with tracemalloc on",
            float("nan"),
            "",
        ),
    ]
    if not full:
        rows.append(("(too short for the caches to fill: the target is judged on soaks of 144,000 spans or more)", float("nan"), ""))
    return rows


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    args = parser.parse_args(list(argv))
    from .bench import print_table

    print_table(f"Memory over a soak of {args.spans:,} spans", section(args.spans), unit="")
    targets.print_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
