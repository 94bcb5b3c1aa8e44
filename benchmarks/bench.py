"""`make bench`: what exporting to X-Ray costs the application, as ratios against baselines in the same run.

Every figure is the median of several interleaved repetitions; the machine is
shared and noisy, so ratios between figures taken side by side are what count.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from typing import Callable, Dict, List, Sequence, Tuple

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_xray import XRayIdGenerator, XRaySpanExporter
from otel_xray.assemble import nest
from otel_xray.translate import Translator

HEADER = b'{"format":"json","version":1}\n'
ECS_RESOURCE = {
    "service.name": "checkout",
    "service.version": "2.3.1",
    "deployment.environment": "production",
    "cloud.provider": "aws",
    "cloud.platform": "aws_ecs",
    "cloud.region": "us-east-1",
    "cloud.account.id": "123456789012",
    "cloud.availability_zone": "us-east-1a",
    "aws.ecs.launchtype": "fargate",
    "aws.ecs.cluster.arn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
    "aws.ecs.task.arn": "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef",
    "aws.ecs.task.family": "checkout",
    "aws.ecs.task.revision": "42",
    "aws.ecs.container.arn": "arn:aws:ecs:us-east-1:123456789012:container/prod/0123/abcd",
    "aws.log.group.names": ("/ecs/checkout",),
    "container.name": "checkout",
    "container.id": "0123456789abcdef0123456789abcdef-1234567890",
    "process.runtime.name": "cpython",
    "process.runtime.version": "3.11.7",
}


class NoopExporter(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


# ------------------------------------------------------------------ workload
def record_trace(tracer, index: int) -> None:
    """One request: a SERVER span and five children, as instrumentations record them."""
    with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER) as request:
        request.set_attribute("http.request.method", "GET")
        request.set_attribute("url.scheme", "https")
        request.set_attribute("url.path", f"/orders/{index}")
        request.set_attribute("server.address", "shop.example.com")
        request.set_attribute("http.route", "/orders/{id}")
        request.set_attribute("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)")
        request.set_attribute("client.address", "203.0.113.7")
        request.set_attribute("network.protocol.version", "1.1")
        with tracer.start_as_current_span("SELECT shop.orders", kind=SpanKind.CLIENT) as query:
            query.set_attribute("db.system", "postgresql")
            query.set_attribute("db.name", "shop")
            query.set_attribute("db.statement", "SELECT id, total, status FROM orders WHERE id = %s")
            query.set_attribute("db.user", "app")
            query.set_attribute("net.peer.name", "db.internal")
            query.set_attribute("net.peer.port", 5432)
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT) as call:
            call.set_attribute("http.request.method", "GET")
            call.set_attribute("url.full", f"http://inventory.internal:8080/stock/{index}")
            call.set_attribute("server.address", "inventory.internal")
            call.set_attribute("server.port", 8080)
            call.set_attribute("http.response.status_code", 200)
        with tracer.start_as_current_span("DynamoDB.GetItem", kind=SpanKind.CLIENT) as aws:
            aws.set_attribute("rpc.system", "aws-api")
            aws.set_attribute("rpc.service", "DynamoDB")
            aws.set_attribute("rpc.method", "GetItem")
            aws.set_attribute("aws.region", "us-east-1")
            aws.set_attribute("aws.dynamodb.table_names", ("orders",))
            aws.set_attribute("aws.request_id", "Q3PVJ8GS6AB1NMTN0V1R4EBH5FVV4KQNSO5AEMVJF66Q9ASUAAJG")
            aws.set_attribute("http.response.status_code", 200)
        with tracer.start_as_current_span("apply-discount") as internal:
            try:
                raise ValueError("coupon has expired")
            except ValueError as exc:
                internal.record_exception(exc)
        with tracer.start_as_current_span("orders publish", kind=SpanKind.PRODUCER) as publish:
            publish.set_attribute("messaging.system", "aws_sqs")
            publish.set_attribute("messaging.destination.name", "order-events")
            publish.set_attribute("messaging.operation", "publish")
            publish.set_attribute("messaging.message.id", f"m-{index}")
        request.set_attribute("http.response.status_code", 200)
        request.set_status(Status(StatusCode.OK))


def make_spans(traces: int) -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(ECS_RESOURCE), id_generator=XRayIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for index in range(traces):
        record_trace(tracer, index)
    provider.shutdown()
    return list(memory.get_finished_spans())


# ------------------------------------------------------------------ timing
def sink() -> Tuple[socket.socket, Tuple[str, int]]:
    """A UDP port on loopback that receives and discards (never read: the kernel drops the excess)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()


def per_item_us(function: Callable[[], int], repeats: int) -> List[float]:
    """Run ``function`` (which returns how many items it handled) ``repeats`` times; µs per item each time."""
    results = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        items = function()
        results.append((time.perf_counter() - start) / items * 1e6)
    return results


def interleaved(candidates: Dict[str, Callable[[], int]], repeats: int) -> Dict[str, float]:
    """Median µs per item for each candidate, measured round-robin so that noise hits all alike."""
    samples: Dict[str, List[float]] = {name: [] for name in candidates}
    for function in candidates.values():
        function()  # warm-up
    for _ in range(repeats):
        for name, function in candidates.items():
            samples[name].extend(per_item_us(function, 1))
    return {name: statistics.median(values) for name, values in samples.items()}


# ------------------------------------------------------------------ candidates
def export_cost_candidates(spans: list, batch: int) -> Dict[str, Callable[[], int]]:
    receiver, address = sink()
    exporter = XRaySpanExporter(endpoint="%s:%d" % address)
    # The floor sends the very documents the exporter sends: translated, then
    # nested per export batch exactly as the exporter nests them.
    translator = Translator()
    docs = []
    for start in range(0, len(spans), batch):
        docs.extend(doc for doc, _ in nest([translator.translate(span) for span in spans[start : start + batch]]))
    floor_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def export() -> int:
        for start in range(0, len(spans), batch):
            exporter.export(spans[start : start + batch])
        return len(spans)

    def floor() -> int:
        send = floor_socket.sendto
        dumps = json.dumps
        for doc in docs:
            send(HEADER + dumps(doc).encode(), address)
        return len(spans)

    candidates = {"otel-xray export (translate + encode + send)": export, "floor: json.dumps + sendto of built documents": floor}
    try:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        def otlp() -> int:
            for start in range(0, len(spans), batch):
                encode_spans(spans[start : start + batch]).SerializeToString()
            return len(spans)

        candidates["OTLP protobuf encoding (encode_spans + SerializeToString)"] = otlp
    except ImportError:
        pass
    export._receiver = receiver  # type: ignore[attr-defined]  # keeps the sink open
    return candidates


def xray_sdk_candidate(traces: int) -> Callable[[], int]:
    """The native aws-xray-sdk: record a segment with five subsegments and emit it over UDP."""
    from aws_xray_sdk.core import AWSXRayRecorder
    from aws_xray_sdk.core.sampling.local.sampler import LocalSampler

    receiver, address = sink()
    recorder = AWSXRayRecorder()
    recorder.configure(
        daemon_address="%s:%d" % address,
        sampling=False,
        context_missing="IGNORE_ERROR",
        service="checkout",
        plugins=(),
        sampler=LocalSampler(),
        streaming_threshold=30,
    )
    recorder.configure(sampling=False)

    def run() -> int:
        for index in range(traces):
            segment = recorder.begin_segment("checkout")
            segment.put_http_meta("method", "GET")
            segment.put_http_meta("url", f"https://shop.example.com/orders/{index}")
            segment.put_http_meta("user_agent", "Mozilla/5.0 (X11; Linux x86_64)")
            segment.put_http_meta("client_ip", "203.0.113.7")
            sub = recorder.begin_subsegment("shop@db.internal", "remote")
            sub.set_sql({"url": "postgresql://db.internal:5432/shop", "database_type": "postgresql", "sanitized_query": "SELECT id, total, status FROM orders WHERE id = %s", "user": "app"})
            recorder.end_subsegment()
            sub = recorder.begin_subsegment("inventory.internal", "remote")
            sub.put_http_meta("method", "GET")
            sub.put_http_meta("url", f"http://inventory.internal:8080/stock/{index}")
            sub.put_http_meta("status", 200)
            recorder.end_subsegment()
            sub = recorder.begin_subsegment("DynamoDB", "aws")
            sub.set_aws({"operation": "GetItem", "region": "us-east-1", "table_name": "orders", "request_id": "Q3PVJ8GS6AB1NMTN0V1R4EBH5FVV4KQNSO5AEMVJF66Q9ASUAAJG"})
            sub.put_http_meta("status", 200)
            recorder.end_subsegment()
            sub = recorder.begin_subsegment("apply-discount", "local")
            try:
                raise ValueError("coupon has expired")
            except ValueError as exc:
                import traceback

                sub.add_exception(exc, traceback.extract_stack())
            recorder.end_subsegment()
            sub = recorder.begin_subsegment("order-events", "remote")
            sub.put_metadata("messaging.message.id", f"m-{index}")
            recorder.end_subsegment()
            segment.put_http_meta("status", 200)
            recorder.end_segment()
        return traces * 6

    run._receiver = receiver  # type: ignore[attr-defined]
    return run


# ------------------------------------------------------------------ sections
def section_cost(spans: list, repeats: int) -> List[Tuple[str, float, str]]:
    candidates = export_cost_candidates(spans, batch=512)
    try:
        candidates["native aws-xray-sdk: record + emit (per span of the same trace)"] = xray_sdk_candidate(len(spans) // 6)
    except ImportError:
        pass
    result = interleaved(candidates, repeats)
    ours = result["otel-xray export (translate + encode + send)"]
    rows = []
    for name, value in result.items():
        rows.append((name, value, "1.00" if value == ours else f"{value / ours:.2f}x ours"))
    return rows


def section_batches(spans: list, repeats: int) -> List[Tuple[str, float, str]]:
    candidates = {}
    for batch in (1, 8, 64, 512):
        candidates[f"export, {batch} span(s) per call"] = export_cost_candidates(spans, batch)["otel-xray export (translate + encode + send)"]
    result = interleaved(candidates, repeats)
    base = result["export, 512 span(s) per call"]
    return [(name, value, f"{value / base:.2f}x the 512 batch") for name, value in result.items()]


def section_throughput(spans: list) -> List[Tuple[str, float, str]]:
    port_probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    port_probe.bind(("127.0.0.1", 0))
    port = port_probe.getsockname()[1]
    port_probe.close()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "otel_xray.cli", "daemon", "--listen", f"127.0.0.1:{port}", "--quiet", "--duration", "120"],
        stdout=subprocess.PIPE,
        text=True,
    )
    daemon.stdout.readline()
    exporter = XRaySpanExporter(endpoint=f"127.0.0.1:{port}")
    total = 0
    start = time.perf_counter()
    for _ in range(5):
        for offset in range(0, len(spans), 512):
            exporter.export(spans[offset : offset + 512])
            total += len(spans[offset : offset + 512])
    elapsed = time.perf_counter() - start
    time.sleep(1.0)
    daemon.terminate()
    out, _ = daemon.communicate(timeout=60)
    received = out.strip().splitlines()[-1] if out.strip() else "?"
    rate = total / elapsed
    return [(f"one exporter thread into `otel-xray daemon` ({total} spans; daemon: {received})", 1e6 / rate, f"{rate:,.0f} spans/s")]


def section_app_overhead(repeats: int) -> List[Tuple[str, float, str]]:
    def run_with(exporter_factory: Callable[[], SpanExporter]) -> Callable[[], int]:
        def run() -> int:
            provider = TracerProvider(resource=Resource.create(ECS_RESOURCE), id_generator=XRayIdGenerator())
            processor = BatchSpanProcessor(exporter_factory(), max_queue_size=4096)
            provider.add_span_processor(processor)
            tracer = provider.get_tracer("bench")
            for index in range(300):
                record_trace(tracer, index)
            provider.shutdown()
            return 300 * 6

        return run

    receiver, address = sink()
    result = interleaved(
        {
            "span creation + end, BatchSpanProcessor + otel-xray": run_with(lambda: XRaySpanExporter(endpoint="%s:%d" % address)),
            "span creation + end, BatchSpanProcessor + no-op exporter": run_with(NoopExporter),
        },
        repeats,
    )
    base = result["span creation + end, BatchSpanProcessor + no-op exporter"]
    receiver.close()
    return [(name, value, f"{value / base:.2f}x no-op") for name, value in result.items()]


_MEMORY_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time, tracemalloc
    sys.path.insert(0, {root!r})
    from benchmarks.bench import ECS_RESOURCE, NoopExporter, record_trace, sink
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from otel_xray import XRayBatchSpanProcessor, XRaySpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    mode = sys.argv[1]
    receiver, address = sink()
    provider = TracerProvider(resource=Resource.create(ECS_RESOURCE))
    if mode == "xray":
        exporter = XRaySpanExporter(endpoint="%s:%d" % address)
        provider.add_span_processor(XRayBatchSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
    tracer = provider.get_tracer("bench")
    tracemalloc.start()
    for index in range(100_000 // 6 + 1):
        record_trace(tracer, index)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    provider.shutdown()
    stats = exporter.stats() if mode == "xray" else None
    print(json.dumps({{"peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "tracemalloc_peak": peak,
                      "dropped": stats.spans_dropped_by_queue if stats else None, "exported": stats.spans_exported if stats else None}}))
    """
)


def section_memory() -> List[Tuple[str, float, str]]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows = []
    for mode, label in (("xray", "XRayBatchSpanProcessor + otel-xray"), ("noop", "BatchSpanProcessor + no-op exporter")):
        out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD.format(root=root), mode], capture_output=True, text=True, timeout=600)
        data = json.loads(out.stdout.strip().splitlines()[-1])
        extra = f", exported {data['exported']}, dropped by queue {data['dropped']}" if data["exported"] is not None else ""
        rows.append(
            (
                f"100,000-span burst, {label}: peak RSS {data['peak_rss_kb'] / 1024:.0f} MB, tracemalloc peak {data['tracemalloc_peak'] / 1e6:.1f} MB{extra}",
                float("nan"),
                "",
            )
        )
    return rows


# ------------------------------------------------------------------ report
def print_table(title: str, rows: Sequence[Tuple[str, float, str]]) -> None:
    print(f"\n{title}")
    width = max(len(name) for name, _, _ in rows)
    for name, value, ratio in rows:
        value_text = "" if value != value else f"{value:8.2f} us/span"
        print(f"  {name.ljust(width)}  {value_text:>15}  {ratio}")


def describe_machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.python_implementation()} {platform.python_version()} on {platform.system()} {platform.machine()}, {os.cpu_count()} CPU(s) ({cpu})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=500, help="traces of six spans each (default 500)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer traces and repeats, for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.traces, args.repeats = 50, 3
    spans = make_spans(args.traces)
    print(f"otel-xray benchmarks: {describe_machine()}")
    print(f"{len(spans)} spans ({args.traces} traces: SERVER + SQL, HTTP, DynamoDB, internal with exception, SQS producer; ECS resource); median of {args.repeats} interleaved runs")
    print_table("1-2. Export cost per span, and baselines on the same spans", section_cost(spans, args.repeats))
    print_table("Batch size (per-span cost by spans per export call)", section_batches(spans, args.repeats))
    print_table("3. Throughput", section_throughput(spans))
    print_table("3. Application thread: span creation and end()", section_app_overhead(args.repeats))
    print_table("4. Memory", section_memory())
    print("\nCold start in AWS Lambda: import + setup in a fresh interpreter (python -m benchmarks.coldstart)")
    from .coldstart import measure

    rows = measure(runs=5 if args.quick else 15)
    base = rows[0][1]
    for name, ms, loaded in rows:
        print(f"  {name:75s} {ms:7.1f} ms  {ms / base:.2f}x plain SDK{'  (protobuf loaded)' if loaded else ''}")
    try:
        from . import compat
    except ImportError:
        pass
    else:
        try:
            result = compat.measure(repeats=3, rounds=5) if args.quick else compat.measure()
        except ImportError as missing:  # aws-xray-sdk is in the bench extra
            print(f"\notel_xray.compat vs aws-xray-sdk: skipped ({missing})")
        else:
            print_table("otel_xray.compat vs aws-xray-sdk: per decorated call (python -m benchmarks.compat)", compat.rows(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
