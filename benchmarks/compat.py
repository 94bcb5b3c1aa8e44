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
from typing import Callable, Dict, List, Tuple

from . import targets
from .bench import rounds as run_rounds
from .bench import sink, timed


def sdk_candidate(calls: int) -> Tuple[Callable[[], int], object]:
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
    )

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

    return run, receiver


def compat_candidate(calls: int) -> Tuple[Callable[[], int], object]:
    from otel_xray.compat import AWSXRayRecorder
    from otel_xray.compat.provider import build_provider
    from otel_xray.config import parse_daemon_address

    receiver, address = sink()
    # Exactly what xray_recorder sets up by itself, pointed at the sink.
    provider = build_provider("checkout", (), False, None, parse_daemon_address("%s:%d" % address), False)
    recorder = AWSXRayRecorder(tracer_provider=provider)
    recorder.configure(sampling=False, context_missing="IGNORE_ERROR", service="checkout")

    @recorder.capture("lookup")
    def lookup(order_id: int) -> int:
        recorder.put_annotation("order_id", order_id)
        return order_id

    def run() -> int:
        recorder.begin_segment("checkout")
        for order_id in range(calls):
            lookup(order_id)
        recorder.end_segment()
        provider.force_flush()
        return calls

    return run, (receiver, provider)


NAMES = ("aws-xray-sdk: @capture + put_annotation", "otel_xray.compat: @capture + put_annotation")


def measure(calls: int = 50, repeats: int = 15, rounds: int = 20) -> Dict[str, List[float]]:
    """µs per call of each recorder in each of ``repeats`` alternating rounds (of ``rounds`` segments each)."""
    sdk, sdk_keep = sdk_candidate(calls)
    compat, compat_keep = compat_candidate(calls)

    def many(function: Callable[[], int]) -> Callable[[], int]:
        def run() -> int:
            return sum(function() for _ in range(rounds))

        return run

    samples = run_rounds({NAMES[0]: timed(many(sdk)), NAMES[1]: timed(many(compat))}, repeats)
    del sdk_keep, compat_keep
    return samples


def rows(samples: Dict[str, List[float]]) -> List[Tuple[str, float, str]]:
    """The table rows; records the (secondary) target: no slower than aws-xray-sdk."""
    per_round = targets.ratios(samples[NAMES[1]], samples[NAMES[0]])
    targets.record("c", "compat @capture + put_annotation vs aws-xray-sdk (issue 12)", per_round, 1.0)
    return [
        (NAMES[0], statistics.median(samples[NAMES[0]]), "1.00"),
        (
            NAMES[1],
            statistics.median(samples[NAMES[1]]),
            f"{statistics.median(per_round):.2f}x aws-xray-sdk ({min(per_round):.2f}-{max(per_round):.2f}; target <= 1.00)",
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
