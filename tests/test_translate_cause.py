"""error/fault/throttle (R34-R36), cause (R37-R41) and stack-trace parsing (R42-R47)."""

from __future__ import annotations

import re
import traceback

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_xray.translate import Translator
from otel_xray.translate.stacktrace import parse_stacktrace

from .spans import make_span, span_context

PARENT = span_context()
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def translate(**kwargs):
    kwargs.setdefault("parent", PARENT)
    return Translator().translate(make_span(**kwargs))


def flags(doc):
    """``(error, fault, throttle)``: each is written only when true, as the X-Ray SDKs write them."""
    return doc.get("error", False), doc.get("fault", False), doc.get("throttle", False)


# --------------------------------------------------------------- flags
@pytest.mark.parametrize(
    "code, status, expected",
    [
        (None, None, (False, False, False)),
        (None, StatusCode.OK, (False, False, False)),
        (None, StatusCode.ERROR, (False, True, False)),
        (200, StatusCode.ERROR, (False, True, False)),
        (399, None, (False, False, False)),
        (400, None, (True, False, False)),
        (404, StatusCode.OK, (True, False, False)),
        (429, None, (True, False, True)),
        (499, StatusCode.ERROR, (True, False, False)),
        (500, None, (False, True, False)),
        (503, StatusCode.OK, (False, True, False)),
        (599, None, (False, True, False)),
        (600, StatusCode.ERROR, (False, True, False)),
        (600, None, (False, False, False)),
    ],
)
@pytest.mark.parametrize("key", ["http.status_code", "http.response.status_code"])
def test_r36_error_fault_throttle_decision_table(code, status, expected, key):
    attributes = {} if code is None else {key: code}
    doc = translate(attributes=attributes, status=(status, None) if status else None)
    assert flags(doc) == expected


def test_flags_are_written_only_when_true():
    # The Collector always writes all three (R34); X-Ray reads an absent flag as false.
    assert not {"error", "fault", "throttle"} & set(translate())
    doc = translate(attributes={"http.status_code": 429})
    assert (doc["error"], doc["throttle"]) == (True, True) and "fault" not in doc


# --------------------------------------------------------------- cause
def _raise(exc):
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_r37_exception_event_gives_cause_even_without_error_status():
    doc = translate(exception=_raise(ValueError("bad value")))
    (exception,) = doc["cause"]["exceptions"]
    assert exception["type"] == "ValueError"
    assert exception["message"] == "bad value"
    assert HEX16.match(exception["id"])
    assert flags(doc) == (False, False, False)


@pytest.mark.parametrize("kind, remote", [(SpanKind.CLIENT, True), (SpanKind.PRODUCER, True), (SpanKind.SERVER, False), (SpanKind.INTERNAL, False), (SpanKind.CONSUMER, False)])
def test_r37_remote_by_span_kind(kind, remote):
    doc = translate(kind=kind, exception=_raise(RuntimeError("x")))
    assert doc["cause"]["exceptions"][0]["remote"] is remote


def test_r37_python_exception_event_has_frames_innermost_first():
    def inner():
        raise KeyError("k")

    def outer():
        inner()

    doc = translate(exception=_raise_from_call(outer))
    stack = doc["cause"]["exceptions"][0]["stack"]
    assert [frame["label"] for frame in stack[:2]] == ["inner", "outer"]
    assert stack[0]["path"].endswith("test_translate_cause.py")
    assert isinstance(stack[0]["line"], int) and stack[0]["line"] > 0


def _raise_from_call(function):
    try:
        function()
    except BaseException as caught:
        return caught


def test_r37_every_exception_event_in_order():
    doc = translate(events=[("exception", {"exception.type": "A", "exception.message": "1"}), ("exception", {"exception.type": "B", "exception.message": "2"})])
    assert [e["type"] for e in doc["cause"]["exceptions"]] == ["A", "B"]


def test_r37_status_description_is_ignored_when_exception_events_exist():
    doc = translate(events=[("exception", {"exception.type": "A"})], status=(StatusCode.ERROR, "described"))
    assert [e["message"] for e in doc["cause"]["exceptions"]] == [""]


def test_r38_cause_from_status_description():
    doc = translate(status=(StatusCode.ERROR, "upstream timed out"))
    (exception,) = doc["cause"]["exceptions"]
    assert exception["message"] == "upstream timed out" and exception["type"] == ""
    assert "stack" not in exception and "remote" not in exception


def test_r38_cause_from_http_status_text_which_is_then_consumed():
    doc = translate(status=(StatusCode.ERROR, None), attributes={"http.status_text": "Bad Gateway"})
    assert doc["cause"]["exceptions"][0]["message"] == "Bad Gateway"
    assert "http.status_text" not in doc.get("metadata", {}).get("default", {})


def test_r38_error_without_any_message_has_no_cause():
    doc = translate(status=(StatusCode.ERROR, None))
    assert "cause" not in doc and doc["fault"] is True


def test_r39_no_cause_without_error_keeps_status_text_in_metadata():
    doc = translate(attributes={"http.status_text": "OK"})
    assert "cause" not in doc
    assert doc["metadata"]["default"]["http.status_text"] == "OK"


def test_r40_aws_sdk_http_failure_event():
    span = make_span(
        kind=SpanKind.CLIENT,
        parent=PARENT,
        attributes={"rpc.system": "aws-api"},
        events=[("HTTP request failure", {"http.response.status_code": 503, "aws.http.error_message": "service is temporarily unavailable"})],
    )
    doc = Translator().translate(span)
    (exception,) = doc["cause"]["exceptions"]
    seconds = span.events[0].timestamp / 1e9
    assert exception["type"] == "aws.http.error.event" and exception["remote"] is True
    assert exception["message"] == f"503@{seconds:.6f}@service is temporarily unavailable"


def test_r40_failure_event_ignored_outside_aws_sdk_spans():
    doc = translate(events=[("HTTP request failure", {"http.response.status_code": 503, "aws.http.error_message": "x"})])
    assert "cause" not in doc


# --------------------------------------------------------------- Python tracebacks
PY_CHAINED = """Traceback (most recent call last):
  File "/app/db.py", line 10, in fetch
    row = cursor.fetchone()
  File "/app/driver.py", line 99, in fetchone
    raise OSError("socket closed")
OSError: socket closed

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/handler.py", line 5, in handle
    fetch()
  File "/app/db.py", line 12, in fetch
    raise RuntimeError("query failed")
RuntimeError: query failed
"""

PY_FROM = PY_CHAINED.replace(
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


def test_r43_python_chained_exceptions_link_by_cause():
    parsed = parse_stacktrace("python", PY_CHAINED, "RuntimeError", "query failed")
    assert [(kind, message) for kind, message, _ in parsed] == [("RuntimeError", "query failed"), ("OSError", "socket closed")]
    assert [f["label"] for f in parsed[0][2]] == ["fetch", "handle"]
    assert [(f["path"], f["line"]) for f in parsed[1][2]] == [("/app/driver.py", 99), ("/app/db.py", 10)]


def test_python_raise_from_is_chained_too():
    # The reference merges both tracebacks into one stack here.
    parsed = parse_stacktrace("python", PY_FROM, "RuntimeError", "query failed")
    assert [kind for kind, _, _ in parsed] == ["RuntimeError", "OSError"]


def test_r43_cause_ids_chain_in_the_document():
    doc = translate(
        resource={"service.name": "s", "telemetry.sdk.language": "python"},
        events=[("exception", {"exception.type": "RuntimeError", "exception.message": "query failed", "exception.stacktrace": PY_CHAINED})],
    )
    first, second = doc["cause"]["exceptions"]
    assert first["cause"] == second["id"] and "cause" not in second


def test_r43_python_multiline_cause_message():
    text = 'Traceback (most recent call last):\n  File "a.py", line 1, in f\n    x\nValueError: line one\nline two\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File "b.py", line 2, in g\n    y\nTypeError: outer\n'
    parsed = parse_stacktrace("python", text, "TypeError", "outer")
    assert parsed[1][:2] == ("ValueError", "line one\nline two")


def test_python_path_with_comma_and_exception_without_colon():
    text = 'Traceback (most recent call last):\n  File "/srv/a,b/app.py", line 3, in <module>\n    main()\nKeyboardInterrupt\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File "c.py", line 4, in h\n    z\nSystemExit: 1\n'
    parsed = parse_stacktrace("python", text, "SystemExit", "1")
    assert parsed[1] == ("KeyboardInterrupt", "", [{"path": "/srv/a,b/app.py", "line": 3, "label": "<module>"}])


def test_python_caret_lines_and_real_traceback():
    try:
        {}["missing"]
    except KeyError as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    parsed = parse_stacktrace("python", text, "KeyError", "'missing'")
    assert len(parsed) == 1 and parsed[0][2][0]["label"] == "test_python_caret_lines_and_real_traceback"


# --------------------------------------------------------------- other languages
JAVA = """java.lang.IllegalStateException: state is not legal
\tat io.opentelemetry.sdk.trace.RecordEventsReadableSpanTest.recordException(RecordEventsReadableSpanTest.java:626)
\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)
\tat org.junit.Foo.bar(Foo.java)
\t... 3 more
Caused by: java.lang.IllegalArgumentException: bad argument
\tat org.junit.platform.engine.support.hierarchical.ThrowableCollector.execute(ThrowableCollector.java:73)
"""


def test_r44_java_frames_and_caused_by():
    parsed = parse_stacktrace("java", JAVA, "java.lang.IllegalStateException", "state is not legal")
    assert [kind for kind, _, _ in parsed] == ["java.lang.IllegalStateException", "java.lang.IllegalArgumentException"]
    assert parsed[0][2] == [
        {"path": "RecordEventsReadableSpanTest.java", "line": 626, "label": "io.opentelemetry.sdk.trace.RecordEventsReadableSpanTest.recordException"},
        {"path": "Native Method", "line": 0, "label": "jdk.internal.reflect.NativeMethodAccessorImpl.invoke0"},
        {"path": "Foo.java", "line": 0, "label": "org.junit.Foo.bar"},
    ]
    assert parsed[1][1] == "bad argument" and parsed[1][2][0]["line"] == 73


def test_r44_php_uses_the_java_parser():
    assert parse_stacktrace("php", JAVA, "E", "m")[0][2][0]["line"] == 626


def test_r45_javascript_frames():
    text = "Error: boom\n    at speedy (/app/index.js:10:5)\n    at /app/other.js:3:1\n    at new Promise (<anonymous>)\n    at native\n"
    (parsed,) = parse_stacktrace("nodejs", text, "Error", "boom")
    assert parsed[2] == [
        {"path": "/app/index.js", "line": 10, "label": "speedy "},
        {"path": "/app/other.js", "line": 3, "label": ""},
        {"path": "<anonymous>", "line": 0, "label": "new Promise "},
        {"path": "native", "line": 0, "label": ""},
    ]


def test_r46_dotnet_frames():
    text = "System.Exception: boom\n   at App.Program.Main(String[] args) in C:\\app\\Program.cs:line 12\n   at App.Other.Run()\n"
    (parsed,) = parse_stacktrace("dotnet", text, "System.Exception", "boom")
    assert parsed[2] == [
        {"path": "C:\\app\\Program.cs", "line": 12, "label": "App.Program.Main(String[] args)"},
        {"path": "", "line": 0, "label": "App.Other.Run()"},
    ]


def test_r47_go_frames():
    text = "goroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d\nruntime.main()\n\t/usr/local/go/src/runtime/proc.go:250 +0x207\n"
    (parsed,) = parse_stacktrace("go", text, "panic", "boom")
    assert parsed[2] == [
        {"path": "/app/main.go", "line": 12, "label": "main.main()"},
        {"path": "/usr/local/go/src/runtime/proc.go", "line": 250, "label": "runtime.main()"},
    ]


@pytest.mark.parametrize("language", [None, "", "rust", "cobol"])
def test_r42_unknown_language_gives_no_stack(language):
    assert parse_stacktrace(language, "whatever\n  at x", "T", "m") == [("T", "m", [])]
