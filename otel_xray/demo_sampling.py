"""``otel-xray demo --sampling``: X-Ray sampling rules deciding which of a few hundred requests are traced.

A local daemon serves three rules on its TCP address (``/health``: at most
1 request/s and nothing more; ``/orders/*``: every request; Default: 1/s + 5%)
and receives segments on UDP. A service traced with
:class:`~otel_xray.sampling.XRayRemoteSampler` fetches the rules, handles 300
requests over about three seconds, and reports its statistics; the demo
prints, per rule, what the daemon was told and what it received.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import sys
import time
from typing import IO, Dict, List

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

from .daemon.sampling_api import ClientStatistics, SamplingRulesService, format_statistics, sampling_routes
from .daemon.server import LocalDaemon, flatten
from .exporter import XRaySpanExporter
from .ids import XRayIdGenerator
from .sampling import SamplingRule, XRayRemoteSampler, default_rule

DEMO_RULES = (
    SamplingRule("health", priority=1, fixed_rate=0.0, reservoir_size=1, url_path="/health"),
    SamplingRule("orders", priority=2, fixed_rate=1.0, reservoir_size=0, http_method="GET", url_path="/orders/*"),
    default_rule(),
)
# path -> how many requests of it, per second of the workload
_TRAFFIC = (("/health", 33), ("/orders/{n}", 40), ("/products/{n}", 27))
_SECONDS = 3


def _rule_for(path: str) -> str:
    if path == "/health":
        return "health"
    return "orders" if path.startswith("/orders/") else "Default"


def run_sampling_demo(stream: IO[str] = sys.stdout, seconds: int = _SECONDS) -> int:
    """Run the demo; 0 when every decision and every segment is as the rules say."""
    reports: List[ClientStatistics] = []

    def on_statistics(client_id: str, documents: List[ClientStatistics]) -> None:
        reports.extend(documents)
        print(format_statistics(client_id, documents), file=stream)

    service = SamplingRulesService(DEMO_RULES, on_statistics=on_statistics)
    daemon = LocalDaemon("127.0.0.1", 0, http_routes=sampling_routes(service)).start()
    print(f"local X-Ray daemon on {daemon.endpoint}: segments on UDP, the sampling API on TCP, serving:", file=stream)
    for rule in service.rules:
        where = rule.url_path if rule.url_path != "*" else "anything else"
        print(f"  priority {rule.priority:>5}  {rule.rule_name:8s} {where:14s} {rule.describe()}", file=stream)

    resource = Resource.create({"service.name": "checkout"})
    sampler = XRayRemoteSampler(resource=resource, endpoint=daemon.endpoint, poll=False)
    provider = TracerProvider(resource=resource, sampler=sampler, id_generator=XRayIdGenerator())
    provider.add_span_processor(BatchSpanProcessor(XRaySpanExporter(endpoint=daemon.endpoint)))
    tracer = provider.get_tracer("demo.sampling")
    try:
        fetched = sampler.fetch_rules()
        print(f"\nthe sampler fetched {len(sampler.rules)} rule(s) from {sampler.endpoint}" if fetched else
              "\nFAILED: the sampler could not fetch the rules", file=stream)
        requests: Dict[str, int] = {}
        sampled: Dict[str, int] = {}
        start = time.monotonic()
        for second in range(seconds):
            for n in range(max(count for _, count in _TRAFFIC)):
                for template, count in _TRAFFIC:
                    if n >= count:
                        continue
                    path = template.format(n=second * 100 + n)
                    attributes = {"http.request.method": "GET", "url.scheme": "https", "server.address": "shop.example.com", "url.path": path}
                    with tracer.start_as_current_span(f"GET {template}", kind=SpanKind.SERVER, attributes=attributes) as span:
                        span.set_attribute("http.response.status_code", 200)
                        name = _rule_for(path)
                        requests[name] = requests.get(name, 0) + 1
                        sampled[name] = sampled.get(name, 0) + int(span.is_recording())
            # the next second's requests start on the next clock second
            time.sleep(max(0.0, start + second + 1 - time.monotonic()))
        total = sum(requests.values())
        print(f"{total} requests over {seconds} s: " + ", ".join(f"{t} x{c * seconds}" for t, c in _TRAFFIC), file=stream)
        print("the sampler reports its statistics (as it does every 10 s on its own):", file=stream)
        sampler.fetch_targets()
    finally:
        provider.shutdown()
        sampler.shutdown()
    expected = sum(sampled.values())
    daemon.wait_for(expected, timeout=10, entities=True)
    daemon.wait_quiet(quiet=0.2, timeout=2)
    daemon.stop()

    received: Dict[str, int] = {}
    for document in daemon.documents():
        for entity in flatten(document):
            url = ((entity.get("http") or {}).get("request") or {}).get("url", "")
            path = "/" + url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url
            name = _rule_for(path)
            received[name] = received.get(name, 0) + 1
    reported = {name: [0, 0, 0] for name in requests}
    for item in reports:
        counts = reported.setdefault(item.rule_name, [0, 0, 0])
        counts[0] += item.request_count
        counts[1] += item.sampled_count
        counts[2] += item.borrow_count

    print(f"\n{'rule':8s} {'requests':>9s} {'sampled':>8s} {'borrowed':>9s}   {'segments received':>17s}", file=stream)
    for rule in service.rules:
        name = rule.rule_name
        r, s, b = reported.get(name, [0, 0, 0])
        print(f"{name:8s} {r:9d} {s:8d} {b:9d}   {received.get(name, 0):17d}", file=stream)
    print("(requests, sampled, borrowed: the statistics the daemon received; segments: what arrived on UDP)", file=stream)

    problems = []
    if not fetched:
        problems.append("no rules fetched")
    if reported.get("orders", [0, 0])[1] != requests.get("orders"):
        problems.append("not every /orders request was sampled")
    if not 1 <= reported.get("health", [0, 0])[1] <= seconds + 1:
        problems.append("/health sampled more than once a second")
    for name in requests:
        if reported.get(name, [0, 0, 0])[:2] != [requests[name], sampled[name]]:
            problems.append(f"{name}: the statistics differ from the decisions")
        if received.get(name, 0) != sampled[name]:
            problems.append(f"{name}: {sampled[name]} sampled but {received.get(name, 0)} segment(s) arrived")
    if problems:
        print("\nFAILED: " + "; ".join(problems), file=stream)
        return 1
    print(
        "\n/health: at most one a second (its reservoir); /orders/*: every one (rate 100%); the rest: one a second, "
        "then 5% (Default)",
        file=stream,
    )
    return 0
