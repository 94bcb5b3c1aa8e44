"""Trace headers into a real instrumented web app: which trace each request joins, and under which parent.

The distro's default propagators (``OTEL_PROPAGATORS`` from ``DEFAULTS``, loaded
through their entry points) are installed globally; a Flask app and a bare WSGI
app, instrumented by OpenTelemetry, serve real HTTP requests on loopback.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.request
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

flask = pytest.importorskip("flask", reason="flask comes with the test extras")

from opentelemetry import propagate, trace  # noqa: E402
from opentelemetry.context import Context  # noqa: E402
from opentelemetry.instrumentation.flask import FlaskInstrumentor  # noqa: E402
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware  # noqa: E402
from opentelemetry.propagators.composite import CompositePropagator  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402
from opentelemetry.util._importlib_metadata import entry_points  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from otel_xray.distro import DEFAULTS  # noqa: E402
from otel_xray.ids import XRayIdGenerator, with_trace_to_join  # noqa: E402
from otel_xray.propagation import XRayPropagator  # noqa: E402

ROOT_HEX = "%08x%024x" % (int(time.time()), random.getrandbits(96))
ROOT = f"1-{ROOT_HEX[:8]}-{ROOT_HEX[8:]}"
PARENT = "53995c3f42cd8ad8"
W3C_TRACE = "%032x" % random.getrandbits(128)
W3C_PARENT = "b7ad6b7169203331"
TRACEPARENT = f"00-{W3C_TRACE}-{W3C_PARENT}-01"

# (header set, the trace the request's span joins, its parent span ID or None)
CASES = [
    ({"X-Amzn-Trace-Id": f"Root={ROOT};Parent={PARENT};Sampled=1"}, ROOT_HEX, PARENT),
    ({"X-Amzn-Trace-Id": f"Root={ROOT}"}, ROOT_HEX, None),  # an Application Load Balancer's
    ({"X-Amzn-Trace-Id": f"Self=1-67891234-12456789abcdef012345678;Root={ROOT}"}, ROOT_HEX, None),  # ALB, second hop
    ({"X-Amzn-Trace-Id": f"Root={ROOT};Parent=;Sampled=1"}, ROOT_HEX, None),  # an empty Parent is no parent
    ({"X-Amzn-Trace-Id": f"Root={ROOT};Sampled=0"}, ROOT_HEX, None),  # no parent: the sampler decides
    ({"traceparent": TRACEPARENT}, W3C_TRACE, W3C_PARENT),
    # both: a full X-Ray header wins (API Gateway, App Runner add one in front of an instrumented caller) ...
    ({"X-Amzn-Trace-Id": f"Root={ROOT};Parent={PARENT};Sampled=1", "traceparent": TRACEPARENT}, ROOT_HEX, PARENT),
    # ... but a Root-only header has no parent to offer, and the caller's traceparent does
    ({"X-Amzn-Trace-Id": f"Root={ROOT}", "traceparent": TRACEPARENT}, W3C_TRACE, W3C_PARENT),
    ({"X-Amzn-Trace-Id": "Root=1-not-a-trace-id"}, None, None),  # invalid: a new trace
    ({}, None, None),
]


@pytest.fixture(scope="module")
def provider() -> Iterator[Tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(id_generator=XRayIdGenerator())
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_provider, exporter
    tracer_provider.shutdown()


@pytest.fixture(scope="module")
def distro_propagators() -> Iterator[CompositePropagator]:
    """The distro's default OTEL_PROPAGATORS, each loaded through its entry point, installed globally."""
    loaded = []
    for name in DEFAULTS["OTEL_PROPAGATORS"].split(","):
        (entry,) = entry_points(group="opentelemetry_propagator", name=name)
        loaded.append(entry.load()())
    composite = CompositePropagator(loaded)
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(composite)
    yield composite
    propagate.set_global_textmap(previous)


def _serve(wsgi_app: Callable[..., Any]) -> Tuple[Any, str]:
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def _get(url: str, headers: Dict[str, str]) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
        return response.read()


@pytest.fixture(scope="module", params=["flask", "wsgi"])
def served(request, provider, distro_propagators) -> Iterator[Tuple[str, InMemorySpanExporter, List[Dict[str, Any]]]]:
    """An instrumented app; each request records what its handler saw (outgoing header, a later root span)."""
    tracer_provider, exporter = provider
    seen: List[Dict[str, Any]] = []

    def handle() -> bytes:
        outgoing: Dict[str, str] = {}
        XRayPropagator().inject(outgoing)  # what a downstream call would carry
        # A span explicitly started as a new root inside the request must not take the joined trace too.
        later_root = tracer_provider.get_tracer("test").start_span("background-job", context=Context())
        later_root.end()
        seen.append({"outgoing": outgoing.get("X-Amzn-Trace-Id"), "later_root": later_root.get_span_context().trace_id})
        return b"ok"

    if request.param == "flask":
        web = flask.Flask("propagation")
        web.add_url_rule("/", "index", handle)
        FlaskInstrumentor().instrument_app(web, tracer_provider=tracer_provider)
        server, url = _serve(web)
    else:

        def wsgi_app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
            body = handle()
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]

        server, url = _serve(OpenTelemetryMiddleware(wsgi_app, tracer_provider=tracer_provider))
    try:
        yield url, exporter, seen
    finally:
        server.shutdown()
        server.server_close()
        if request.param == "flask":
            FlaskInstrumentor().uninstrument_app(web)


@pytest.fixture
def app(served):
    url, exporter, seen = served
    exporter.clear()
    seen.clear()
    return served


def _server_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    # The server ends its span once the response is sent, possibly just after the client has it.
    deadline = time.monotonic() + 10
    while True:
        found = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    (span,) = found
    return span


@pytest.mark.parametrize("headers, trace_hex, parent", CASES, ids=[", ".join(h) + f" {i}" for i, (h, _, _) in enumerate(CASES)])
def test_request_span_joins_the_trace_the_headers_name(app, headers, trace_hex, parent):
    url, exporter, seen = app
    assert _get(url, headers) == b"ok"
    span = _server_span(exporter)
    if trace_hex is None:
        assert "%032x" % span.context.trace_id not in (ROOT_HEX, W3C_TRACE)
    else:
        assert "%032x" % span.context.trace_id == trace_hex
    if parent is None:
        assert span.parent is None
    else:
        assert span.parent is not None and span.parent.is_remote and "%016x" % span.parent.span_id == parent
    assert span.context.trace_flags.sampled
    # downstream calls continue the same trace, under this span
    (handler,) = seen
    trace_id = "%032x" % span.context.trace_id
    assert handler["outgoing"] == f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span.context.span_id:016x};Sampled=1"
    # the joined trace ID is taken once, by the request's span
    assert handler["later_root"] != span.context.trace_id


def test_root_only_header_needs_the_xray_id_generator(distro_propagators):
    """With another ID generator the request starts a new trace, as before (the limitation the docs state)."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(id_generator=RandomIdGenerator())
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    web = flask.Flask("random-ids")
    web.add_url_rule("/", "index", lambda: "ok")
    FlaskInstrumentor().instrument_app(web, tracer_provider=tracer_provider)
    server, url = _serve(web)
    try:
        _get(url, {"X-Amzn-Trace-Id": f"Root={ROOT}"})
    finally:
        server.shutdown()
        server.server_close()
        FlaskInstrumentor().uninstrument_app(web)
    assert "%032x" % _server_span(exporter).context.trace_id != ROOT_HEX


def test_default_order_puts_xray_after_tracecontext_so_that_it_wins():
    names = DEFAULTS["OTEL_PROPAGATORS"].split(",")
    assert names.index("otel_xray") > names.index("tracecontext")
    assert "xray" not in names  # the upstream propagator is wrapped, not listed twice


def test_extract_without_a_root_only_header_is_the_upstream_propagators():
    from opentelemetry.propagators.aws import AwsXRayPropagator

    header = {"X-Amzn-Trace-Id": f"Root={ROOT};Parent={PARENT};Sampled=1"}
    ours = trace.get_current_span(XRayPropagator().extract(header)).get_span_context()
    upstream = trace.get_current_span(AwsXRayPropagator().extract(header)).get_span_context()
    assert ours == upstream
    assert XRayPropagator().fields == AwsXRayPropagator().fields == {"X-Amzn-Trace-Id"}


def test_a_root_only_context_without_an_attached_context_starts_a_new_trace():
    """The hand-over to the ID generator goes through the current context, which server instrumentations attach."""
    tracer_provider = TracerProvider(id_generator=XRayIdGenerator())
    context = XRayPropagator().extract({"X-Amzn-Trace-Id": f"Root={ROOT}"})
    detached = tracer_provider.get_tracer("t").start_span("not-attached", context=context)
    assert "%032x" % detached.get_span_context().trace_id != ROOT_HEX
    from opentelemetry import context as context_api

    token = context_api.attach(context)
    try:
        attached = tracer_provider.get_tracer("t").start_span("attached", context=context)
    finally:
        context_api.detach(token)
    assert "%032x" % attached.get_span_context().trace_id == ROOT_HEX
    assert attached.parent is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", [0, 1 << 128, -5])
def test_with_trace_to_join_refuses_what_is_not_a_trace_id(bad: int):
    with pytest.raises(ValueError):
        with_trace_to_join(bad)


def test_extract_returns_the_context_it_was_given_when_nothing_applies():
    base = Context({"k": "v"})
    assert XRayPropagator().extract({}, base) is base
    assert XRayPropagator().extract({"X-Amzn-Trace-Id": "Root=junk"}, base) is base

