"""UDP to the X-Ray daemon: the default :class:`~otel_xray.wire.transport.Transport`. Internal.

Each document goes as one datagram: the daemon's header line, then the body.
The socket is non-blocking and connected: each send is cheaper, and the kernel
reports an ICMP "port unreachable" (no daemon listening) as
``ConnectionRefusedError`` on the *next* send. That refusal is about the
datagram sent before, so the spans that datagram carried are counted as lost
(reported through :meth:`UdpTransport.take_losses`); ``force_flush`` and
``shutdown`` also collect a refusal still pending on the socket.

No send waits on the network, DNS included: a host name is resolved by a
background thread (the constructor waits briefly for the first answer), which
keeps the last good address and resolves again every minute, sooner after a
refusal, so that a daemon service that moves (``xray-daemon:2000`` on ECS or
EKS) is followed. Until a first answer, datagrams are counted as lost to
``resolve``. An IP address needs no thread.

Every counter changes under a lock. After ``os.fork()`` the child gets new
locks, zeroed counters, its own socket on first use and, when needed, its own
resolver thread.
"""

from __future__ import annotations

import errno
import ipaddress
import select
import socket
import threading
import weakref
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional, Tuple

from .. import _fork
from .framing import HEADER, MAX_DOCUMENT_BYTES, MAX_UDP_PAYLOAD_IPV4


class SendFailure:
    """Cause names under which the UDP transport counts spans it could not deliver."""

    RESOLVE = "resolve"
    CONNECTION_REFUSED = "connection_refused"
    BUFFER_FULL = "buffer_full"
    MESSAGE_TOO_LONG = "message_too_long"
    TOO_LARGE = "too_large"  # over X-Ray's 64 kB per document: never sent
    CLOSED = "closed"
    OS_ERROR = "os_error"


# A resolved name is looked up again this often: a moved daemon is followed.
RESOLVE_REFRESH_SECONDS = 60.0
# The shortest time between two lookups (after a failure, or a refusal that asks for one).
RESOLVE_RETRY_SECONDS = 5.0
# The constructor waits at most this long for the first lookup of a host name,
# so that the first spans of a process are not lost to ``resolve`` where DNS
# answers normally. export() itself never waits.
FIRST_RESOLVE_WAIT_SECONDS = 0.5
# How long a send may wait for room in a full socket buffer before dropping.
_FULL_BUFFER_WAIT_SECONDS = 0.01
# Largest datagram a stock macOS loopback takes (net.inet.udp.maxdgram).
_SMALL_DATAGRAM_LIMIT = 9216

_NOTHING: Mapping[str, int] = MappingProxyType({})

# (family, type, proto, sockaddr), as getaddrinfo gives them.
_Address = Tuple[int, int, int, Tuple[Any, ...]]


def _numeric_address(host: str, port: int) -> Optional[_Address]:
    """The address of an IP literal, without any lookup; ``None`` for a host name."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.version == 4:
        return (socket.AF_INET, socket.SOCK_DGRAM, 0, (host, port))
    if "%" in host:  # a scoped IPv6 address needs the resolver to map the scope
        return None
    return (socket.AF_INET6, socket.SOCK_DGRAM, 0, (host, port, 0, 0))


def _resolve_loop(
    transport_ref: "weakref.ReferenceType[UdpTransport]", host: str, port: int, wake: threading.Event, stop: threading.Event
) -> None:
    """The resolver thread: look up, hand the answer over, wait, again; ends with its transport."""
    while not stop.is_set():
        address: Optional[_Address] = None
        error: Optional[str] = None
        try:
            family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
            address = (family, kind, proto, sockaddr)
        except (OSError, UnicodeError, IndexError) as exc:
            error = f"cannot resolve {host!r}: {exc}"
        transport = transport_ref()
        if transport is None or stop.is_set():
            return
        transport._resolved(address, error)
        del transport  # hold no reference while waiting: the transport may be collected
        if stop.wait(RESOLVE_RETRY_SECONDS) or address is None:
            continue
        wake.wait(RESOLVE_REFRESH_SECONDS - RESOLVE_RETRY_SECONDS)
        wake.clear()


def _stop_thread(stop: threading.Event, wake: threading.Event) -> None:
    stop.set()
    wake.set()


class UdpTransport:
    """Sends segment documents to one daemon ``(host, port)``; safe to share between threads."""

    name = "udp"

    def __init__(self, host: str, port: int, first_resolve_wait: Optional[float] = None) -> None:
        self.address: Tuple[str, int] = (host, port)
        # Lowered to what the path takes when the kernel refuses a datagram as too long.
        self.max_document_bytes: int = MAX_DOCUMENT_BYTES
        self.last_error: Optional[str] = None
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._closed = False
        self._losses: Dict[str, int] = {}
        # Spans in the last datagram that left the socket: a refusal reported on the next send is about them.
        self._last_spans = 0
        self._numeric = _numeric_address(host, port)
        self._target: Optional[_Address] = self._numeric
        self._resolver: Optional[threading.Thread] = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._first_answer = threading.Event()
        _fork.reset_after_fork(self)
        if self._numeric is None:
            self._start_resolver()
            self._first_answer.wait(FIRST_RESOLVE_WAIT_SECONDS if first_resolve_wait is None else first_resolve_wait)

    # -- the Transport contract ---------------------------------------------
    def describe(self) -> str:
        host, port = self.address
        return f"udp [{host}]:{port}" if ":" in host else f"udp {host}:{port}"

    def send(self, document: bytes, spans: int) -> Optional[str]:
        """Send one document body as a datagram; ``None`` when it left, else a :class:`SendFailure` cause."""
        if len(document) > self.max_document_bytes:  # the exporter never hands one over; X-Ray would refuse it
            return SendFailure.TOO_LARGE
        return self.send_datagram(HEADER + document, spans)

    def take_losses(self) -> Mapping[str, int]:
        """Spans lost since the last call that ``send`` could not report (ICMP refusals), by cause."""
        if not self._losses:  # the common case, without the lock
            return _NOTHING
        with self._lock:
            losses, self._losses = self._losses, {}
        return losses

    def force_flush(self, timeout_seconds: float) -> bool:
        """Datagrams leave in ``send``: nothing waits. Collects a refusal still pending on the socket."""
        self._collect_pending_refusal()
        return not self._closed

    def shutdown(self, timeout_seconds: float) -> None:
        self._collect_pending_refusal()
        with self._lock:
            self._closed = True
            sock, self._sock = self._sock, None
        _stop_thread(self._stop, self._wake)
        if sock is not None:
            sock.close()

    # -- UDP only ---------------------------------------------------------------
    def send_datagram(self, datagram: bytes, spans: int) -> Optional[str]:
        """Send one complete datagram (header included) carrying ``spans`` spans."""
        sock = self._sock or self._open()
        if sock is None:
            return SendFailure.CLOSED if self._closed else SendFailure.RESOLVE
        try:
            sock.send(datagram)
        except ConnectionRefusedError:
            # The kernel reports that the *previous* datagram found no listener;
            # this one was not sent yet, so it is tried once more.
            self._refused()
            return self._retry(sock, datagram, spans)
        except BlockingIOError:
            try:
                select.select((), (sock,), (), _FULL_BUFFER_WAIT_SECONDS)
            except (OSError, ValueError):
                return SendFailure.BUFFER_FULL
            return self._retry(sock, datagram, spans)
        except OSError as exc:
            return self._failed(exc, len(datagram))
        self._last_spans = spans
        return None

    def close(self) -> None:
        self.shutdown(0.0)

    # -- internals --------------------------------------------------------------
    def _retry(self, sock: socket.socket, datagram: bytes, spans: int) -> Optional[str]:
        try:
            sock.send(datagram)
        except ConnectionRefusedError as exc:
            self.last_error = f"{exc.strerror or exc} (sending to {self.describe()})"
            return SendFailure.CONNECTION_REFUSED
        except BlockingIOError as exc:
            self.last_error = f"socket buffer full: {exc.strerror or exc}"
            return SendFailure.BUFFER_FULL
        except OSError as exc:
            return self._failed(exc, len(datagram))
        self._last_spans = spans
        return None

    def _refused(self) -> None:
        with self._lock:
            lost, self._last_spans = self._last_spans, 0
            if lost:
                self._losses[SendFailure.CONNECTION_REFUSED] = self._losses.get(SendFailure.CONNECTION_REFUSED, 0) + lost
            self.last_error = (
                f"connection refused: nothing listens at {self.describe()} "
                "(ICMP port unreachable; is the X-Ray daemon running there?)"
            )
        if self._numeric is None:
            self._wake.set()  # the daemon may have moved: look the name up again soon

    def _collect_pending_refusal(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            pending = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            return
        if pending == errno.ECONNREFUSED:
            self._refused()

    def _failed(self, exc: OSError, size: int) -> str:
        self.last_error = f"{exc.strerror or exc} (sending {size} bytes to {self.describe()})"
        if exc.errno == errno.EMSGSIZE:
            if size <= MAX_UDP_PAYLOAD_IPV4:
                # A datagram UDP can carry, refused: this path takes less (macOS loopback
                # caps at 9,216 bytes). Say so through the limit, for the caller to encode smaller.
                small = _SMALL_DATAGRAM_LIMIT - len(HEADER)
                if self.max_document_bytes > small:
                    self.max_document_bytes = small
            return SendFailure.MESSAGE_TOO_LONG
        # Closed under us (EBADF, ENOTSOCK) or otherwise broken: open a new socket next time.
        self._sock = None
        return SendFailure.CLOSED if self._closed else SendFailure.OS_ERROR

    def _open(self) -> Optional[socket.socket]:
        with self._lock:
            if self._sock is not None:
                return self._sock
            if self._closed:
                return None
            if self._numeric is None and self._resolver is None:
                self._start_resolver()  # in a forked child
            target = self._target
            if target is None:
                if self.last_error is None:
                    self.last_error = f"no address for {self.address[0]!r} yet: its lookup has not answered"
                return None
            sock = self._connect(target)
            self._sock = sock
            return sock

    def _connect(self, target: _Address) -> Optional[socket.socket]:
        family, kind, proto, sockaddr = target
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.connect(sockaddr)  # UDP: no packet leaves, the kernel only records the peer
        except OSError as exc:
            sock.close()
            self.last_error = f"cannot connect to {sockaddr}: {exc}"
            return None
        return sock

    def _start_resolver(self) -> None:
        host, port = self.address
        thread = threading.Thread(
            target=_resolve_loop,
            args=(weakref.ref(self), host, port, self._wake, self._stop),
            name="otel-xray-resolver",
            daemon=True,
        )
        self._resolver = thread
        weakref.finalize(self, _stop_thread, self._stop, self._wake)
        thread.start()

    def _resolved(self, address: Optional[_Address], error: Optional[str]) -> None:
        """The resolver's answer: a new address replaces the old one; a failure keeps the last good one."""
        retired = None
        with self._lock:
            if address is None:
                self.last_error = error
            elif address != self._target:
                self._target = address
                sock = self._sock
                if sock is not None:
                    try:
                        if sock.family != address[0]:
                            raise OSError("another address family")
                        sock.connect(address[3])  # re-pointed in place: concurrent sends are not disturbed
                    except OSError:
                        retired, self._sock = sock, None  # the next send connects anew
        self._first_answer.set()
        if retired is not None:
            retired.close()

    def _after_fork_in_child(self) -> None:
        # The parent's socket stays open for the parent: only forgotten here.
        self._lock = threading.Lock()
        self._sock = None
        self._losses = {}
        self._last_spans = 0
        self._resolver = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._first_answer = threading.Event()
        if self._target is not None:
            self._first_answer.set()
