"""A local stand-in for the X-Ray daemon: receive datagrams, validate, show, store.

Binds to loopback unless told otherwise. No datagram stops it, whatever its
bytes: a malformed one is counted by reason, a document that breaks X-Ray's
rules is counted as invalid, with its errors. Its work per datagram is
bounded: one datagram yields at most ``MAX_DOCUMENTS_PER_DATAGRAM`` documents.
"""

from __future__ import annotations

import json
import math
import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Protocol, Tuple, cast

from ..translate import Translator
from .http_api import DaemonHttpServer, HttpRoutes
from .otlp import OTLP_PREFIXES, decode_otlp_body
from .validate import MAX_DATAGRAM_BYTES, Verdict, parse_body, rejection_category, split_datagram, validate_document

if TYPE_CHECKING:
    from .store import TraceStore

__all__ = ["Received", "LocalDaemon", "TextSink", "flatten", "MAX_DOCUMENTS_PER_DATAGRAM"]

# Large enough that a burst from a batch export is not dropped by the kernel
# before this process reads it.
_RECEIVE_BUFFER_BYTES = 16 * 1024 * 1024

# An OTLP datagram holding more spans is rejected whole ("too many spans").
# Every real span carries a trace ID, a span ID and two timestamps, at least
# 50 bytes of protobuf, so the 49,104 bytes a datagram can carry hold at most
# about 980: only a crafted datagram (24,000 empty spans fit) goes over.
MAX_DOCUMENTS_PER_DATAGRAM = 1000
_IDLE_WAIT = 0.1  # seconds between looks at the stop flag while nothing arrives


class TextSink(Protocol):
    """Where records go: a text file, or :class:`~.outfile.RotatingTextFile`."""

    def write(self, text: str) -> int: ...

    def flush(self) -> None: ...


def flatten(document: Any) -> List[Dict[str, Any]]:
    """A document and, depth first, the subsegments embedded in it (objects only, at any depth)."""
    found: List[Dict[str, Any]] = []
    pending = [document]
    while pending:
        entity = pending.pop()
        if isinstance(entity, dict):
            found.append(entity)
            children = entity.get("subsegments")
            if isinstance(children, list):
                pending.extend(reversed(children))
    return found


@dataclass
class Received:
    """One datagram that carried a document."""

    document: Dict[str, Any]
    verdict: Verdict
    size: int
    received_at: float
    format: str = "json"  # or "otlp": spans that came as OTLP, shown translated


class LocalDaemon:
    """Receives X-Ray datagrams on UDP; thread-safe accessors for what arrived.

    ``on_document`` is called for every parsed document and ``on_rejected`` for
    every malformed datagram (e.g. to print a line); ``out`` is a text file to
    which each is appended as one JSON line; ``store`` (a :class:`.store.TraceStore`)
    gets every parsed document with its verdict, without the reader waiting on
    the disk. An exception from either callback or from ``out`` is counted
    (``callback_errors``, ``write_errors``, with the last one's text) and does
    not stop the daemon. With ``http_routes``, it also
    answers HTTP on TCP at the same address, as the real daemon does (see
    :mod:`.http_api`); with port 0, one port free for both is chosen.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 2000,
        out: Optional[TextSink] = None,
        on_document: Optional[Callable[[Received], None]] = None,
        on_rejected: Optional[Callable[[str, bytes], None]] = None,
        keep: bool = True,
        http_routes: Optional[HttpRoutes] = None,
        allow_remote: bool = False,
        store: Optional["TraceStore"] = None,
    ) -> None:
        self._sock, self.http = self._bind(host, port, http_routes, allow_remote)
        self.address: Tuple[str, int] = self._sock.getsockname()[:2]
        self._out = out
        self._on_document = on_document
        self._on_rejected = on_rejected
        self._keep = keep
        self._store = store  # documents are queued to it; its own thread writes them
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._received: List[Received] = []
        self.document_count = 0
        self.entity_count = 0  # segments and subsegments, embedded ones included
        self.invalid_count = 0
        self.rejected: "Counter[str]" = Counter()
        self.write_errors = 0
        self.last_write_error = ""
        self.callback_errors = 0
        self.last_callback_error = ""
        # The smallest count a wait_for() caller waits for: waking it for every document would
        # make the reader hand over the interpreter lock at each one.
        self._wake_documents = math.inf
        self._wake_entities = math.inf
        self._stop = threading.Event()
        self._http_started = False
        self._thread: Optional[threading.Thread] = None
        # OTLP over UDP goes to Lambda's endpoint, which places spans under the function's segment.
        # Paths in stacks are made relative to the sending process's directory there, not this one's.
        self._translator = Translator(lambda_mode=True, working_directory=None)

    @staticmethod
    def _bind(
        host: str, port: int, routes: Optional[HttpRoutes], allow_remote: bool
    ) -> Tuple[socket.socket, Optional[DaemonHttpServer]]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _attempt in range(50):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER_BYTES)
            except OSError:
                pass
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                raise
            sock.settimeout(0.1)
            if routes is None:
                return sock, None
            try:
                http = DaemonHttpServer(host, sock.getsockname()[1], routes, allow_remote)
            except OSError:
                sock.close()
                if port != 0:
                    raise
                continue  # the TCP port of that number is taken: try another pair
            return sock, http
        raise OSError(f"no port on {host} is free for both UDP and TCP")

    @property
    def endpoint(self) -> str:
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    # -- running -----------------------------------------------------------
    def start(self) -> "LocalDaemon":
        self._start_http()
        self._thread = threading.Thread(target=self.serve, name="otel-xray-daemon", daemon=True)
        self._thread.start()
        return self

    def serve(self, duration: Optional[float] = None, max_datagrams: Optional[int] = None) -> None:
        """Receive until :meth:`stop`, or for ``duration`` seconds, or ``max_datagrams``."""
        self._start_http()
        deadline = None if duration is None else time.monotonic() + duration
        count = 0
        sock = self._sock
        receive = sock.recv
        stopping = self._stop.is_set
        # Non-blocking reads while datagrams keep coming (one system call each), a wait for the
        # socket only when it is empty: a timeout on the socket would poll before every read.
        sock.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            while not stopping():
                try:
                    data = receive(MAX_DATAGRAM_BYTES + 1)
                except (BlockingIOError, InterruptedError):
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    try:
                        selector.select(_IDLE_WAIT)
                    except (OSError, ValueError):  # the socket was closed by stop()
                        if stopping():
                            break
                        raise
                    continue
                except OSError:
                    if stopping():
                        break
                    raise
                self.handle(data)
                count += 1
                if max_datagrams is not None and count >= max_datagrams:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
        if self._stop.is_set():
            self._drain()

    def _start_http(self) -> None:
        with self._lock:
            if self.http is not None and not self._http_started:
                self.http.start()
                self._http_started = True

    def _drain(self, limit: int = 100_000) -> None:
        """Handle what the kernel has already accepted, so that stopping loses nothing sent before it."""
        try:
            self._sock.setblocking(False)
            for _ in range(limit):
                self.handle(self._sock.recv(MAX_DATAGRAM_BYTES + 1))
        except OSError:  # BlockingIOError when empty, or the socket was closed
            pass

    def request_stop(self) -> None:
        """Ask :meth:`serve` to return once it has handled what was already received."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.http is not None:
            self.http.stop()
        self._sock.close()

    def __enter__(self) -> "LocalDaemon":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- handling ----------------------------------------------------------
    def handle(self, data: bytes) -> None:
        """Process one datagram (public so tests and tools can feed bytes directly). Never raises."""
        now = time.time()
        try:
            items, reason = self._parse(data)
        except Exception as exc:  # the daemon must survive any input
            items, reason = [], f"internal error: {type(exc).__name__}: {exc}"
        if reason is not None:
            with self._changed:
                self.rejected[rejection_category(reason)] += 1
                self._changed.notify_all()
            self._write({"received_at": now, "valid": False, "errors": [reason], "raw": data[:512].decode("utf-8", "replace")})
            self._call(self._on_rejected, reason, data)
            return
        for document, size, wire_format, body in items:
            # Parsed JSON holds no non-finite number (the parser refuses them); translated OTLP is checked.
            verdict = validate_document(document, size if body is not None else None, body is None)
            received = Received(document=document, verdict=verdict, size=size, received_at=now, format=wire_format)
            if self._store is not None:
                # The body as received: the store need not encode the document again.
                self._store.submit(document, verdict, size, now, wire_format, body=body)
            entities = len(flatten(document))
            with self._lock:
                self.document_count += 1
                self.entity_count += entities
                if not verdict.valid:
                    self.invalid_count += 1
                if self._keep:
                    self._received.append(received)
                if self.document_count >= self._wake_documents or self.entity_count >= self._wake_entities:
                    # Every waiter wakes, looks at the count and asks again for its own.
                    self._wake_documents = self._wake_entities = math.inf
                    self._changed.notify_all()
            self._write({"received_at": now, "format": wire_format, **verdict.to_dict(), "document": document})
            self._call(self._on_document, received)

    def _call(self, callback: Optional[Callable[..., None]], *args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception as exc:  # the caller's code: count it, keep receiving
            with self._lock:
                self.callback_errors += 1
                self.last_callback_error = f"{type(exc).__name__}: {exc}"

    def _parse(self, data: bytes) -> Tuple[List[Tuple[Dict[str, Any], int, str, Optional[bytes]]], Optional[str]]:
        """``([(document, size, wire format, JSON body or None)], rejection reason)`` for one datagram."""
        body, reason = split_datagram(data)
        if body is None:
            return [], reason
        if body[:3] in OTLP_PREFIXES:
            spans, reason = decode_otlp_body(body, MAX_DOCUMENTS_PER_DATAGRAM)
            if reason is not None:
                return [], reason
            # Shown as X-Ray would turn them into documents: one per span.
            translate = self._translator.translate
            return [(cast(Dict[str, Any], translate(span)), len(body), "otlp", None) for span in spans], None
        document, reason, size = parse_body(body)
        if document is None:
            return [], reason
        return [(document, size, "json", body)], None

    def _write(self, record: Dict[str, Any]) -> None:
        if self._out is None:
            return
        try:
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    # A lone surrogate (sent as a JSON escape such as \ud800) has no UTF-8 form: keep it an escape.
                    text = json.dumps(record, separators=(",", ":"))
            self._out.write(text + "\n")
            self._out.flush()
        except (OSError, ValueError, RecursionError) as exc:  # a full disk, say: count it, keep receiving
            with self._lock:
                self.write_errors += 1
                self.last_write_error = f"{type(exc).__name__}: {exc}"

    # -- reading -----------------------------------------------------------
    def received(self) -> List[Received]:
        with self._lock:
            return list(self._received)

    def documents(self) -> List[Dict[str, Any]]:
        return [r.document for r in self.received()]

    def entities(self) -> List[Dict[str, Any]]:
        """Every segment and subsegment received, embedded subsegments included, in arrival order."""
        return [entity for document in self.documents() for entity in flatten(document)]

    def wait_for(self, count: int, timeout: float = 5.0, entities: bool = False) -> bool:
        """Wait until ``count`` documents (or, with ``entities``, segments and subsegments) have arrived."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (self.entity_count if entities else self.document_count) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                # Ask to be woken at the count (the reader resets the wish when it wakes everyone).
                if entities:
                    self._wake_entities = min(self._wake_entities, count)
                else:
                    self._wake_documents = min(self._wake_documents, count)
                self._changed.wait(remaining)
            return True

    def wait_quiet(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Wait until nothing has arrived for ``quiet`` seconds (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            with self._lock:
                seen = self.document_count + sum(self.rejected.values())
            if seen == last:
                return
            last = seen
            time.sleep(quiet)
