"""``@capture`` + ``put_annotation`` per call: otel_xray.compat against aws-xray-sdk itself, same process.

Both recorders run the same code: a segment, then ``calls`` calls of a
function decorated with ``@recorder.capture("lookup")`` that calls
``recorder.put_annotation("order_id", i)``, then the segment's end; each sends
to its own UDP sink on loopback. aws-xray-sdk sends as it records (its default
streaming, threshold 30); the compat layer records OpenTelemetry spans and its
default set-up exports them from a batch processor, whose export is flushed
inside each measured round so that the exporter's work is counted too.

    python -m benchmarks.compat [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import targets
from .bench import rounds as run_rounds
from .bench import sink, timed, xray_sdk_recorder


def captured_calls(recorder: Any, calls: int) -> Callable[[], int]:
    """The code both recorders run: a segment, then ``calls`` calls of a captured function that
    annotates; returns how many calls it made."""

    @recorder.capture("lookup")
    def lookup(order_id: int) -> int:
        recorder.put_annotation("order_id", order_id)
        return order_id

    def run() -> int:
        recorder.begin_segment("checkout")
        for order_id in range(calls):
            lookup(order_id)
        recorder.end_segment()
        return calls

    return run


def sdk_candidate(calls: int) -> Tuple[Callable[[], int], object]:
    recorder, receiver = xray_sdk_recorder()
    return captured_calls(recorder, calls), receiver


def compat_candidate(calls: int, flush_seconds: Optional[List[float]] = None) -> Tuple[Callable[[], int], object]:
    """``flush_seconds`` receives, per run, the time its export took (the batch processor's flush)."""
    from otel_xray.compat import AWSXRayRecorder
    from otel_xray.compat.provider import build_provider
    from otel_xray.config import parse_daemon_address

    receiver, address = sink()
    # Exactly what xray_recorder sets up by itself, pointed at the sink.
    provider = build_provider("checkout", (), False, None, parse_daemon_address("%s:%d" % address), False)
    recorder = AWSXRayRecorder(tracer_provider=provider)
    recorder.configure(sampling=False, context_missing="IGNORE_ERROR", service="checkout")
    record = captured_calls(recorder, calls)

    def run() -> int:
        record()
        started = time.perf_counter()
        provider.force_flush()
        if flush_seconds is not None:
            flush_seconds.append(time.perf_counter() - started)
        return calls

    return run, (receiver, provider)


def otel_candidate(calls: int) -> Tuple[Callable[[], int], object]:
    """The same calls written with the OpenTelemetry API alone, on the SDK's defaults and a no-op exporter."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from .workload import NoopExporter

    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
    tracer = provider.get_tracer("bench")

    @tracer.start_as_current_span("lookup")
    def lookup(order_id: int) -> int:
        from opentelemetry import trace

        trace.get_current_span().set_attribute("order_id", order_id)
        return order_id

    def run() -> int:
        with tracer.start_as_current_span("checkout"):
            for order_id in range(calls):
                lookup(order_id)
        provider.force_flush()
        return calls

    return run, provider


NAMES = (
    "aws-xray-sdk: @capture + put_annotation",
    "otel_xray.compat: @capture + put_annotation",
    "OpenTelemetry API alone (start_as_current_span + set_attribute), no-op exporter",
)


def measure(calls: int = 50, repeats: int = 15, rounds: int = 20) -> Dict[str, List[float]]:
    """µs per call of each candidate in each of ``repeats`` alternating rounds (of ``rounds`` segments each).

    ``"export part of otel_xray.compat"``: the share of each compat round spent exporting.
    """
    flushes: List[float] = []
    sdk, sdk_keep = sdk_candidate(calls)
    compat, compat_keep = compat_candidate(calls, flushes)
    otel, otel_keep = otel_candidate(calls)

    def many(function: Callable[[], int]) -> Callable[[], int]:
        def run() -> int:
            return sum(function() for _ in range(rounds))

        return run

    export_share: List[float] = []

    def compat_round() -> float:
        del flushes[:]
        started = time.perf_counter()
        items = many(compat)()
        elapsed = time.perf_counter() - started
        export_share.append(sum(flushes) / elapsed)
        return elapsed / items * 1e6

    samples = run_rounds({NAMES[0]: timed(many(sdk)), NAMES[1]: compat_round, NAMES[2]: timed(many(otel))}, repeats)
    samples["export part of otel_xray.compat"] = export_share[-repeats:]
    del sdk_keep, compat_keep, otel_keep
    return samples


def rows(samples: Dict[str, List[float]]) -> List[Tuple[str, float, str]]:
    """The table rows; records the (secondary) target: no slower than aws-xray-sdk."""
    per_round = targets.ratios(samples[NAMES[1]], samples[NAMES[0]])
    targets.record("c", "compat @capture + put_annotation vs aws-xray-sdk (issue 12)", per_round, 1.0)
    native, compat, otel = (statistics.median(samples[name]) for name in NAMES)
    export = compat * statistics.median(samples["export part of otel_xray.compat"])
    return [
        (NAMES[0], native, "1.00"),
        (
            NAMES[1],
            compat,
            f"{statistics.median(per_round):.2f}x aws-xray-sdk ({min(per_round):.2f}-{max(per_round):.2f}; target <= 1.00)",
        ),
        (NAMES[2], otel, f"{statistics.median(targets.ratios(samples[NAMES[2]], samples[NAMES[0]])):.2f}x aws-xray-sdk"),
        (
            f"of compat's {compat:.1f} us: OpenTelemetry alone {otel:.1f}, the compat layer {compat - export - otel:.1f}, "
            f"export (translate, encode, send) {export:.1f}",
            float("nan"),
            "",
        ),
    ]


def main(argv: object = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)  # type: ignore[arg-type]
    from .bench import print_table

    result = measure(repeats=3, rounds=5) if args.quick else measure()
    print_table("otel_xray.compat vs aws-xray-sdk: per decorated call (segment of 50 calls, sent over UDP)", rows(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
