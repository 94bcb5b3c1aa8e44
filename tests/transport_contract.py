"""The ``Transport`` contract (``otel_xray/wire/transport.py``) as tests every transport must pass.

A test module subclasses :class:`TransportContract` and provides a ``harness``
fixture yielding a :class:`Harness`: the transport under test plus the receiving
end it sends to, which the tests can read and stall. The documents are made
the way the exporter makes them (translate, nest per batch, encode with the
daemon's header), from real SDK spans.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, ContextManager, Dict, List, Mapping, Optional, Tuple

from otel_xray.assemble import nest
from otel_xray.translate import Translator
from otel_xray.wire.framing import count_entities, encode_document
from opentelemetry.trace import SpanKind

from .spans import make_span, span_context

# A failing transport must not hang the suite: every call that could wait runs
# under this guard. It bounds a hang; it is not a timing assertion.
HANG_GUARD_SECONDS = 30.0


def pipeline_documents(traces: int = 5, first_trace: int = 1) -> List[Tuple[bytes, int]]:
    """``[(document body, spans in it)]`` as the exporter's pipeline makes them for ``traces`` traces.

    Each trace is a SERVER span with two children (nested into one document)
    and a CLIENT span whose parent is elsewhere (an independent subsegment).
    """
    translator = Translator()
    out: List[Tuple[bytes, int]] = []
    for number in range(first_trace, first_trace + traces):
        trace_id = 0x5759E988BD862E3FE1BE46A900000000 + number
        root = span_context(trace_id, 0x1000 + number)
        server = make_span(
            "GET /orders",
            SpanKind.SERVER,
            {"http.request.method": "GET", "http.response.status_code": 200},
            parent=span_context(trace_id, 0x9000 + number, remote=True),
        )
        spans = [server]
        parent = span_context(trace_id, server.context.span_id)
        spans.append(make_span("SELECT shop.orders", SpanKind.CLIENT, {"db.system": "postgresql"}, parent=parent))
        spans.append(make_span("apply-discount", SpanKind.INTERNAL, {"coupon": "SPRING"}, parent=parent))
        spans.append(make_span("GET", SpanKind.CLIENT, {"http.request.method": "GET"}, parent=root))
        for doc, count in nest([translator.translate(span) for span in spans]):
            encoded = encode_document(doc).body
            assert encoded is not None
            out.append((encoded, count))
    return out


def body(datagram: bytes) -> bytes:
    """The JSON document of a datagram (what the daemon forwards to X-Ray)."""
    return datagram.split(b"\n", 1)[1] if datagram.startswith(b'{"format"') else datagram


def spans_in(document: bytes) -> int:
    return count_entities(json.loads(body(document)))


def call_guarded(function: Callable[[], Any]) -> Any:
    """Run ``function`` on a helper thread; fail (instead of hanging) if it does not return."""
    result: Dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = function()
        except BaseException as exc:  # pragma: no cover - reported below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_SECONDS)
    assert not thread.is_alive(), f"{function} did not return"
    if "error" in result:
        raise result["error"]
    return result.get("value")


class Harness:
    """A transport and the receiving end it sends to."""

    def __init__(
        self,
        transport: Any,
        delivered: Callable[[], List[bytes]],
        stall: Callable[[], ContextManager[Callable[[], bool]]],
    ) -> None:
        self.transport = transport
        #: The document bodies the receiving end has received so far.
        self.delivered = delivered
        #: A context manager during which the receiving end takes nothing in; it
        #: yields a function that says whether the stall is still in effect.
        self.stall = stall

    def wait_delivered(self, count: int) -> List[bytes]:
        """What was delivered, once ``count`` documents have arrived (or the guard ran out)."""
        done = threading.Event()

        def poll() -> List[bytes]:
            while not done.wait(0.01):
                got = self.delivered()
                if len(got) >= count:
                    return got
            return self.delivered()

        try:
            return call_guarded(poll)  # type: ignore[no-any-return]
        finally:
            done.set()


def _sum(losses: Mapping[str, int]) -> int:
    return sum(losses.values())


class TransportContract:
    """The contract tests; subclasses provide a ``harness`` fixture."""

    def test_names_itself_and_its_destination(self, harness: Harness) -> None:
        transport = harness.transport
        assert transport.name in ("udp", "api")
        assert transport.describe().startswith(transport.name + " ")
        assert transport.max_document_bytes >= 64_000 - 1

    def test_every_span_is_delivered_or_counted(self, harness: Harness) -> None:
        transport = harness.transport
        documents = pipeline_documents(traces=8)
        total = sum(spans for _, spans in documents)
        refused = accepted = 0
        for datagram, spans in documents:
            cause = transport.send(datagram, spans)
            assert cause is None or isinstance(cause, str)
            if cause is None:
                accepted += 1
            else:
                refused += spans
        assert call_guarded(lambda: transport.force_flush(10.0)) is True
        lost = _sum(transport.take_losses())
        # Once flushed, what was accepted and not counted lost arrives (a datagram may still be on its way).
        delivered = harness.wait_delivered(accepted) if not lost else harness.delivered()
        delivered_spans = sum(spans_in(document) for document in delivered)
        assert delivered_spans + refused + lost == total
        # Sent as made: each received body is one of the documents handed over, unchanged.
        assert {body(d) for d in delivered} <= {body(d) for d, _ in documents}

    def test_send_does_not_wait_for_a_stalled_receiver(self, harness: Harness) -> None:
        transport = harness.transport
        documents = pipeline_documents(traces=30)
        with harness.stall() as still_stalled:
            results = [transport.send(datagram, spans) for datagram, spans in documents]
            # Every send returned while the receiving end was still taking nothing in.
            assert still_stalled()
        assert all(result is None or isinstance(result, str) for result in results)

    def test_flush_and_shutdown_return_while_the_receiver_stalls(self, harness: Harness) -> None:
        transport = harness.transport
        documents = pipeline_documents(traces=4)
        with harness.stall() as still_stalled:
            for datagram, spans in documents:
                transport.send(datagram, spans)
            flushed = call_guarded(lambda: transport.force_flush(0.2))
            call_guarded(lambda: transport.shutdown(0.2))
            assert still_stalled()
        assert isinstance(flushed, bool)

    def test_closed_after_shutdown(self, harness: Harness) -> None:
        transport = harness.transport
        datagram, spans = pipeline_documents(traces=1)[0]
        call_guarded(lambda: transport.shutdown(5.0))
        assert transport.send(datagram, spans) == "closed"
        call_guarded(lambda: transport.shutdown(5.0))  # a second shutdown is harmless
        assert isinstance(call_guarded(lambda: transport.force_flush(0.1)), bool)

    def test_a_document_over_the_limit_is_refused_and_never_sent(self, harness: Harness) -> None:
        transport = harness.transport
        doc = {"name": "big", "id": "0000000000000abc", "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
               "start_time": 1.0, "end_time": 2.0, "metadata": {"default": {"blob": "x" * transport.max_document_bytes}}}
        from otel_xray.wire.framing import encode_body

        cause = transport.send(encode_body(doc), 1)
        assert isinstance(cause, str)
        transport.force_flush(5.0)
        assert all(b'"big"' not in document for document in harness.delivered())

    def test_never_raises_on_odd_input(self, harness: Harness) -> None:
        transport = harness.transport
        for odd in (b"", b"not json", b'{"format":"json","version":1}\n'):
            result: Optional[str] = transport.send(odd, 1)
            assert result is None or isinstance(result, str)
        assert isinstance(call_guarded(lambda: transport.force_flush(5.0)), bool)
