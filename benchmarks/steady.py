"""Target 5: what the application thread pays at a steady 2,000 spans/s, with our exporter and with a no-op one.

Under the GIL, the batch processor's export thread takes its CPU from the
application: while it translates a batch, the application's thread waits.
Here the application's thread records the benchmark's request at a fixed
offered rate (2,000 spans/s, a request of six spans every 3 ms) through an
``XRayBatchSpanProcessor``, once with ``XRaySpanExporter`` sending to a UDP
sink on loopback and once with a no-op exporter, in alternating rounds. For
each request it measures its own CPU time (``time.thread_time``) and its wall
time, from the first span's start to the last span's end (``span.end()``
included: the processor's part of it is the same in both; what differs is
the export thread's claim on the GIL).

    python -m benchmarks.steady [--seconds 1.5] [--repeats 10] [--rate 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Dict, List, Sequence, Tuple

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel_xray import XRayBatchSpanProcessor, XRayIdGenerator, XRaySpanExporter

from . import targets
from .bench import sink
from .workload import ECS_RESOURCE, SPANS_PER_TRACE, NoopExporter, record_trace

NAMES = ("XRayBatchSpanProcessor + XRaySpanExporter", "XRayBatchSpanProcessor + no-op exporter")


class Candidate:
    def __init__(self, exporter: Any) -> None:
        self.provider = TracerProvider(resource=Resource.create(ECS_RESOURCE), id_generator=XRayIdGenerator())
        self.processor = XRayBatchSpanProcessor(exporter)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("bench")
        self.index = 0

    def run(self, seconds: float, rate: float) -> Tuple[float, float, float]:
        """Record at ``rate`` spans/s for ``seconds``: (CPU µs per span, wall µs per span, spans/s achieved)."""
        interval = SPANS_PER_TRACE / rate
        requests = max(1, int(seconds / interval))
        cpu = wall = 0.0
        thread_time, clock, sleep = time.thread_time, time.perf_counter, time.sleep
        began = clock()
        due = began
        for _ in range(requests):
            now = clock()
            if due > now:
                sleep(due - now)
            cpu_start, wall_start = thread_time(), clock()
            record_trace(self.tracer, self.index)
            cpu += thread_time() - cpu_start
            wall += clock() - wall_start
            self.index += 1
            due += interval
        elapsed = clock() - began
        spans = requests * SPANS_PER_TRACE
        # The queue is emptied before the other candidate's round, untimed.
        self.processor.force_flush()
        return cpu / spans * 1e6, wall / spans * 1e6, spans / elapsed

    def shutdown(self) -> None:
        self.provider.shutdown()


def measure(seconds: float, repeats: int, rate: float = 2000.0) -> Dict[str, Dict[str, List[float]]]:
    receiver, address = sink()
    candidates = {
        NAMES[0]: Candidate(XRaySpanExporter(endpoint="%s:%d" % address)),
        NAMES[1]: Candidate(NoopExporter()),
    }
    samples: Dict[str, Dict[str, List[float]]] = {name: {"cpu": [], "wall": [], "rate": []} for name in candidates}
    try:
        for candidate in candidates.values():
            candidate.run(min(seconds, 1.0), rate)  # warm-up
        for _ in range(repeats):
            for name, candidate in candidates.items():
                cpu, wall, achieved = candidate.run(seconds, rate)
                samples[name]["cpu"].append(cpu)
                samples[name]["wall"].append(wall)
                samples[name]["rate"].append(achieved)
    finally:
        for candidate in candidates.values():
            candidate.shutdown()
        receiver.close()
    return samples


def section(seconds: float = 1.5, repeats: int = 10, rate: float = 2000.0) -> List[Tuple[str, float, str]]:
    samples = measure(seconds, repeats, rate)
    ours, noop = samples[NAMES[0]], samples[NAMES[1]]
    cpu = targets.ratios(ours["cpu"], noop["cpu"])
    wall = targets.ratios(ours["wall"], noop["wall"])
    targets.record("5", "app thread CPU per span at 2,000 spans/s, our exporter vs no-op", cpu, 1.2)
    targets.record("5", "app thread wall time per span at 2,000 spans/s, our exporter vs no-op", wall, 1.2)
    rows = []
    for name in NAMES:
        figures = samples[name]
        rows.append((f"{name}: CPU of the application thread", statistics.median(figures["cpu"]), ""))
        rows.append(
            (
                f"{name}: wall time of the application thread",
                statistics.median(figures["wall"]),
                f"(offered {rate:,.0f} spans/s, achieved {statistics.median(figures['rate']):,.0f})",
            )
        )
    rows.append(
        (
            f"ours / no-op: CPU {statistics.median(cpu):.2f}x ({min(cpu):.2f}-{max(cpu):.2f}), "
            f"wall {statistics.median(wall):.2f}x ({min(wall):.2f}-{max(wall):.2f})",
            float("nan"),
            "",
        )
    )
    return rows


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rate", type=float, default=2000.0)
    args = parser.parse_args(list(argv))
    from .bench import print_table

    print_table(f"Application thread at a steady {args.rate:,.0f} spans/s", section(args.seconds, args.repeats, args.rate))
    targets.print_summary()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
