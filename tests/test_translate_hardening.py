"""Hardening of the translator (issue 9, items 7 and 8): bounded caches and bounded, linear stack-trace parsing.

No timing here: every bound is asserted on memory held or input handled.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from otel_xray.translate import Translator
from otel_xray.translate.caches import BoundedCache
from otel_xray.translate.cause import STACK_CACHE_BYTES, STACK_CACHE_KEY_CHARS
from otel_xray.translate.names import NAME_CACHE_BYTES, NAME_CACHE_KEY_CHARS, NameSanitizer
from otel_xray.translate.stacktrace import MAX_LINE_CHARS, MAX_STACKTRACE_CHARS, bounded_lines, parse_stacktrace

from .spans import raw_span, span_context

MB = 1024 * 1024


# --------------------------------------------------------------- caches (item 7)
def test_bounded_cache_evicts_oldest_first_and_skips_long_keys():
    cache: BoundedCache[str, str] = BoundedCache(max_bytes=1000, max_key_chars=10)
    for index in range(20):
        cache.put(f"k{index}", "v", 2, 1)  # 203 bytes each with the overhead
    assert cache.bytes_held <= 1000 and len(cache) == 4
    assert cache.get("k19") == "v" and cache.get("k0") is None  # the newest stay
    cache.put("x" * 11, "v", 11, 1)
    assert cache.get("x" * 11) is None


def test_distinct_huge_span_names_are_not_kept_after_their_spans_are_gone():
    # 600 spans with distinct 1 MB names kept ~575 MB alive in the module-wide name cache.
    translator = Translator()
    translator.translate(raw_span(name="warm-up"))
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for index in range(40):
            translator.translate(raw_span(name=f"{index:04d}" + "n" * MB))
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < MB  # 40 MB of names went through; none is held
    names = translator._caches.sanitize.cache
    assert names.bytes_held <= NAME_CACHE_BYTES and all(len(key) <= NAME_CACHE_KEY_CHARS for key in names._values)


def test_name_cache_is_bounded_in_bytes_for_many_distinct_short_names():
    sanitize = NameSanitizer()
    for index in range(2_000):  # 2 MB of names, each short enough to be remembered
        assert sanitize(f"route-{index}-" + "x" * 900) == (f"route-{index}-" + "x" * 900)[:200]
    assert 0 < sanitize.cache.bytes_held <= NAME_CACHE_BYTES
    assert sanitize.cache.get("route-1999-" + "x" * 900) is not None and sanitize.cache.get("route-0-" + "x" * 900) is None


def _exception_span(stacktrace: str) -> object:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event

    return raw_span(
        resource=Resource.create({"service.name": "s", "telemetry.sdk.language": "python"}),
        events=(Event("exception", {"exception.type": "E", "exception.message": "m", "exception.stacktrace": stacktrace}),),
    )


def test_stack_cache_is_bounded_in_bytes_and_skips_huge_stack_traces():
    translator = Translator()
    for index in range(100):
        translator.translate(_exception_span(f'Traceback (most recent call last):\n  File "/a{index}.py", line 1, in f\n' + "  x\n" * 15_000))
    stacks = translator._caches.stacks
    assert 0 < stacks.bytes_held <= STACK_CACHE_BYTES
    translator.translate(_exception_span("Traceback (most recent call last):\n" + "y" * (STACK_CACHE_KEY_CHARS + 1)))
    assert all(len(key[1]) <= STACK_CACHE_KEY_CHARS for key in stacks._values)


def test_caches_belong_to_one_translator():
    first, second = Translator(), Translator()
    first.translate(raw_span(name="only-in-first", context=span_context(trace_id=0xABC, span_id=5)))
    assert first._caches.sanitize.cache.get("only-in-first") == "only-in-first"
    assert second._caches.sanitize.cache.get("only-in-first") is None
    assert first._caches.trace_ids.get(0xABC) is not None and second._caches.trace_ids.get(0xABC) is None


def test_caching_can_be_turned_off_with_the_same_documents():
    span = _exception_span('Traceback (most recent call last):\n  File "/a.py", line 1, in f\n    x\nE: m\n')
    cached, uncached = Translator().translate(span), Translator(cache_bytes=0).translate(span)
    for doc in (cached, uncached):
        for exception in doc["cause"]["exceptions"]:
            exception.pop("id")
    assert cached == uncached


# --------------------------------------------------------------- hostile stack traces (item 8)
def _handled(lines):
    return sum(len(line) for line in lines)


@pytest.mark.parametrize("keep_end", [True, False])
def test_parsers_read_a_bounded_amount_of_any_input(keep_end):
    text = ("frame line\n" * 400_000) + "x" * (3 * MB)  # 7.4 MB, the last line 3 MB long
    lines = bounded_lines(text, keep_end)
    assert _handled(lines) <= MAX_STACKTRACE_CHARS
    assert all(len(line) <= MAX_LINE_CHARS for line in lines)


def test_go_location_line_of_64_kb():
    # One 64 KB OTLP datagram with a long stack line took 13 s of daemon CPU (a backtracking regex).
    long_path = "\t/" + "a" * 65_536 + ".go:12 +0x1d"
    no_colon = "\t" + "b" * 65_536
    text = "goroutine 1 [running]:\nmain.main()\n" + long_path + "\nmain.other()\n" + no_colon + "\nmain.last()\n\t/app/x.go:7 +0x1\n"
    (kind, message, frames) = parse_stacktrace("go", text, "panic", "boom")[0]
    assert frames == [{"path": "/app/x.go", "line": 7, "label": "main.last()"}]


def test_java_caused_by_continuation_lines_of_3_mb():
    # Continuation lines were joined by repeated concatenation: 3.2 MB took 10 s.
    text = "java.lang.Error: e\n\tat a.b(C.java:1)\nCaused by: x.Y: start\n" + ("continued\n" * 330_000)
    parsed = parse_stacktrace("java", text, "java.lang.Error", "e")
    assert [kind for kind, _, _ in parsed] == ["java.lang.Error", "x.Y"]
    message = parsed[1][1]
    assert message.startswith("startcontinued") and len(message) <= MAX_STACKTRACE_CHARS


def test_python_keeps_the_end_where_the_thrown_exception_is_printed():
    cause = 'Traceback (most recent call last):\n  File "/old.py", line 1, in f\n    x\nOSError: old\n' + "  filler\n" * 40_000
    thrown = '\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File "/new.py", line 9, in g\n    y\nValueError: new\n'
    parsed = parse_stacktrace("python", cause + thrown, "ValueError", "new")
    assert parsed[0] == ("ValueError", "new", [{"path": "/new.py", "line": 9, "label": "g"}])


@pytest.mark.parametrize(
    "language, text",
    [
        ("python", '  File "' + '", line 1' * 20_000 + "x"),
        ("python", 'Traceback (most recent call last):\n  File "a.py", line ' + "9" * 5000 + ", in f\n"),
        ("java", "E\n\tat " + "(" * 50_000 + ")"),
        ("javascript", "Error\n    at " + "f (" * 20_000 + "a.js:1:2)"),
        ("dotnet", "E\n   at " + " in " * 20_000 + ":line 5"),
        ("go", "g\n" + "f()\n\t" + ":" * 60_000 + "\n"),
    ],
)
def test_pathological_lines_give_bounded_frames(language, text):
    for _, _, frames in parse_stacktrace(language, text, "T", "m"):
        for frame in frames:
            assert len(frame["path"]) + len(frame["label"]) <= MAX_LINE_CHARS
            assert 0 <= frame["line"] < 10**9


def test_a_hostile_stack_trace_still_gives_a_valid_document():
    from otel_xray.daemon.validate import validate_document

    doc = Translator().translate(_exception_span("Traceback (most recent call last):\n" + '  File "' + "a" * MB + '", line 3, in f\n' + "E: m\n"))
    assert validate_document(doc).valid
    (exception,) = doc["cause"]["exceptions"]
    assert (exception["type"], exception["message"]) == ("E", "m")
    assert all(len(frame["path"]) <= MAX_LINE_CHARS for frame in exception.get("stack", ()))
