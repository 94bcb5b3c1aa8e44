"""`make bench`, sampling rows: what XRayRemoteSampler's decisions cost, against the SDK's ParentBased(TraceIdRatioBased).

Rules come from a local daemon over TCP, as in production they come through the
X-Ray daemon. Root decisions are measured where the request matches none of
the rules but the last (Default): every rule is tried, the worst case. Every
figure is the median of interleaved rounds; the ratios are what count.

    python -m benchmarks.sampling [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from typing import Callable, Dict, List, Sequence, Tuple

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from otel_xray.daemon.sampling_api import SamplingRulesService, sampling_routes
from otel_xray.daemon.server import LocalDaemon
from otel_xray.sampling import SamplingRule, XRayRemoteSampler, default_rule

RESOURCE = Resource({"service.name": "checkout", "cloud.platform": "aws_ecs"})
REQUEST = {
    "http.request.method": "GET",
    "url.scheme": "https",
    "url.path": "/orders/42",
    "server.address": "shop.example.com",
    "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64)",
    "client.address": "203.0.113.7",
}


def rule_set(count: int) -> List[SamplingRule]:
    """``count`` rules (Default included) of the shapes people write, none matching REQUEST but Default."""
    shapes = [
        dict(url_path="/health"),
        dict(url_path="/api/v{n}/*", http_method="POST"),
        dict(host="*.internal.example.com"),
        dict(url_path="*.png"),
        dict(service_name="billing-{n}"),
        dict(url_path="/admin*", host="admin.example.com"),
        dict(attributes=(("tenant", "acme-{n}"),)),
        dict(url_path="/v?/search*", http_method="GET"),
        dict(service_type="AWS::EC2::Instance"),
        dict(url_path="/orders/*", http_method="DELETE"),
    ]
    rules = []
    for index in range(count - 1):
        fields = {k: (v.format(n=index) if isinstance(v, str) else tuple((a, b.format(n=index)) for a, b in v))
                  for k, v in shapes[index % len(shapes)].items()}
        rules.append(SamplingRule(f"rule-{index}", priority=index + 1, fixed_rate=0.1, reservoir_size=1, **fields))
    rules.append(default_rule())
    return rules


def per_call_ns(call: Callable[[], object], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        call()
    return (time.perf_counter_ns() - start) / calls


def interleaved(candidates: Dict[str, Callable[[], object]], calls: int, repeats: int) -> Dict[str, float]:
    """Median ns per call of each candidate, measured in alternating rounds."""
    runs: Dict[str, List[float]] = {name: [] for name in candidates}
    for name, call in candidates.items():  # warm up
        per_call_ns(call, calls // 10 or 1)
    gc.disable()
    try:
        for _ in range(repeats):
            for name, call in candidates.items():
                runs[name].append(per_call_ns(call, calls))
    finally:
        gc.enable()
    return {name: statistics.median(values) for name, values in runs.items()}


def _decider(sampler: Sampler, parent_context: object = None) -> Callable[[], object]:
    trace_ids = [random.getrandbits(128) for _ in range(1024)]
    state = [0]

    def decide() -> object:
        state[0] = (state[0] + 1) & 1023
        return sampler.should_sample(parent_context, trace_ids[state[0]], "GET /orders/{id}", SpanKind.SERVER, REQUEST)  # type: ignore[arg-type]

    return decide


def section_decisions(daemon: LocalDaemon, service: SamplingRulesService, calls: int, repeats: int) -> List[Tuple[str, float, str]]:
    baseline = ParentBased(TraceIdRatioBased(0.05))
    samplers: Dict[int, XRayRemoteSampler] = {}
    for count in (1, 20, 100):
        service.set_rules(rule_set(count))
        sampler = XRayRemoteSampler(resource=RESOURCE, endpoint=daemon.endpoint, poll=False)
        if not sampler.fetch_rules() or len(sampler.rules) != count:
            raise RuntimeError(f"the sampler did not get the {count} rule(s)")
        samplers[count] = sampler
    parent = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(0x1234, 0x5678, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    )
    candidates: Dict[str, Callable[[], object]] = {"root: ParentBased(TraceIdRatioBased)": _decider(baseline)}
    for count, sampler in samplers.items():
        candidates[f"root: XRayRemoteSampler, {count} rule(s)"] = _decider(sampler)
    candidates["child: ParentBased(TraceIdRatioBased)"] = _decider(baseline, parent)
    candidates["child: XRayRemoteSampler"] = _decider(samplers[20], parent)
    got = interleaved(candidates, calls, repeats)
    root_base, child_base = got["root: ParentBased(TraceIdRatioBased)"], got["child: ParentBased(TraceIdRatioBased)"]
    rows = []
    for name, ns in got.items():
        base = child_base if name.startswith("child") else root_base
        note = f"{ns / base:.2f}x"
        if name == "root: XRayRemoteSampler, 20 rule(s)":
            note += "  (target <= 3x: " + ("met" if ns / base <= 3 else "MISSED") + ")"
        if name == "child: XRayRemoteSampler":
            note += "  (target within 10%: " + ("met" if ns / base <= 1.10 else "MISSED") + ")"
        rows.append((name, ns / 1000, note))
    for sampler in samplers.values():
        sampler.shutdown()
    return rows


def section_spans(daemon: LocalDaemon, service: SamplingRulesService, calls: int, repeats: int) -> List[Tuple[str, float, str]]:
    """The whole root span (start + end, no exporter), as the application pays it."""
    service.set_rules(rule_set(20))
    sampler = XRayRemoteSampler(resource=RESOURCE, endpoint=daemon.endpoint, poll=False)
    sampler.fetch_rules()

    def spans(provider: TracerProvider) -> Callable[[], object]:
        tracer = provider.get_tracer("bench")
        return lambda: tracer.start_span("GET /orders/{id}", kind=SpanKind.SERVER, attributes=REQUEST).end()

    got = interleaved(
        {
            "span: ParentBased(TraceIdRatioBased)": spans(TracerProvider(resource=RESOURCE, sampler=ParentBased(TraceIdRatioBased(0.05)))),
            "span: XRayRemoteSampler, 20 rule(s)": spans(TracerProvider(resource=RESOURCE, sampler=sampler)),
        },
        calls,
        repeats,
    )
    base = got["span: ParentBased(TraceIdRatioBased)"]
    sampler.shutdown()
    return [(name, ns / 1000, f"{ns / base:.2f}x") for name, ns in got.items()]


def section_memory(daemon: LocalDaemon, service: SamplingRulesService) -> List[Tuple[str, float, str]]:
    """Memory the sampler's code still holds after root decisions on ever more distinct URLs: none per URL."""
    service.set_rules(rule_set(20))
    sampler = XRayRemoteSampler(resource=RESOURCE, endpoint=daemon.endpoint, poll=False)
    sampler.fetch_rules()
    sampler_code = [tracemalloc.Filter(True, "*otel_xray/sampling/*")]
    seen = 0

    def decide_until(total: int) -> int:
        held = 0
        for index in range(seen, total):
            attributes = {**REQUEST, "url.path": f"/orders/{index}-{random.getrandbits(32)}"}
            sampler.should_sample(None, random.getrandbits(128), "GET", SpanKind.SERVER, attributes)
        gc.collect()
        for stat in tracemalloc.take_snapshot().filter_traces(sampler_code).statistics("filename"):
            held += stat.size
        return held

    rows = []
    tracemalloc.start()
    try:
        for total in (1_000, 10_000, 100_000):
            held = decide_until(total)
            seen = total
            rows.append((f"allocated by the sampler and still held after {total:,} URLs", held / 1024, ""))
    finally:
        tracemalloc.stop()
        sampler.shutdown()
    first, last = rows[0][1], rows[-1][1]
    rows[-1] = (rows[-1][0], last, "constant" if last <= first + 1 else f"GREW by {last - first:.1f} KiB")
    return rows


def print_table(title: str, rows: Sequence[Tuple[str, float, str]], unit: str) -> None:
    print(f"\n{title}")
    for name, value, note in rows:
        print(f"  {name:55s} {value:9.2f} {unit}  {note}")


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    args, _ = parser.parse_known_args(list(argv))
    calls = 2_000 if args.quick else 20_000
    repeats = 3 if args.quick else args.repeats
    random.seed(1)
    service = SamplingRulesService()
    with LocalDaemon("127.0.0.1", 0, http_routes=sampling_routes(service)) as daemon:
        print_table(
            "5. Sampling: XRayRemoteSampler decisions vs the SDK's ParentBased(TraceIdRatioBased), per call (rules from a local daemon)",
            section_decisions(daemon, service, calls, repeats),
            "us",
        )
        print_table("   the whole root span (start + end, no exporter)", section_spans(daemon, service, calls // 4, repeats), "us")
        print_table("   memory: constant with the number of distinct URLs (no per-URL state)", section_memory(daemon, service), "KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
