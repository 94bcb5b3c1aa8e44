"""What the translator's caches buy, and what they hold: ``python -m benchmarks.caches``.

Translation of the benchmark workload with the caches (sanitised names,
parsed stack traces, formatted trace IDs) against the same translation with
caching off, in interleaved rounds of the same run; then what the caches
hold after a flood of distinct 1 MB span names (nothing: long keys are not
kept) and after many distinct short ones (at most their byte budget).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from typing import Callable, Dict, List

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from otel_xray.translate import Translator

from .bench import interleaved, make_spans


RESOURCE = Resource.create({"service.name": "bench"})


def _translate_all(translator: Translator, spans: list) -> Callable[[], int]:
    translate = translator.translate

    def run() -> int:
        for span in spans:
            translate(span)
        return len(spans)

    return run


def time_ratio(spans: list, repeats: int) -> Dict[str, float]:
    candidates = {
        "translate, caches on": _translate_all(Translator(), spans),
        "translate, caches off (cache_bytes=0)": _translate_all(Translator(cache_bytes=0), spans),
    }
    return interleaved(candidates, repeats)


def raw_span(name: str) -> ReadableSpan:
    """A span built by hand, as an exporter receives it, with any name."""
    context = SpanContext(0x5759E988BD862E3FE1BE46A994272793, 0x1234, False, TraceFlags(TraceFlags.SAMPLED))
    return ReadableSpan(
        name=name,
        context=context,
        resource=RESOURCE,
        attributes={},
        start_time=1_700_000_000_000_000_000,
        end_time=1_700_000_001_000_000_000,
    )


def held_after_flood(names: List[str]) -> int:
    """Bytes still allocated, caches included, after translating one span per name and dropping the spans."""
    translator = Translator()
    translator.translate(raw_span(name="warm-up"))
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for name in names:
        translator.translate(raw_span(name=name))
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return after - before


def main(argv: List[str] = None) -> int:  # type: ignore[assignment]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    spans = make_spans(args.traces)
    result = time_ratio(spans, args.repeats)
    on, off = result["translate, caches on"], result["translate, caches off (cache_bytes=0)"]
    print(f"translation of {len(spans)} workload spans, median of {args.repeats} interleaved rounds:")
    for name, value in result.items():
        print(f"  {name:40s} {value:7.2f} us/span")
    print(f"  caches on cost {on / off:.2f}x caches off")
    huge = held_after_flood([f"{index:04d}" + "n" * 1024 * 1024 for index in range(100)])
    print(f"100 spans with distinct 1 MB names (100 MB): {huge / 1024:.0f} KiB still held after")
    short = held_after_flood([f"route-{index}-" + "x" * 500 for index in range(5000)])
    print(f"5,000 spans with distinct 500-character names: {short / 1024:.0f} KiB still held after (name cache budget 512 KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
