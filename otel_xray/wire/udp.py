"""Fire-and-forget UDP to the X-Ray daemon.

The socket is non-blocking and connected: connecting resolves the address
once, makes each send cheaper, and lets the kernel report an ICMP "port
unreachable" (no daemon listening) as ``ConnectionRefusedError`` on the next
send, which is counted instead of going unnoticed. Nothing here raises: every
failure is returned as a short cause name for the exporter's counters.

After ``os.fork()`` the child opens its own socket on first use (pre-fork
servers such as gunicorn fork after the parent has exported).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import threading
import time
import weakref
from typing import Optional, Tuple

__all__ = ["UdpSender", "SendFailure"]


class SendFailure:
    """Cause names returned by :meth:`UdpSender.send`."""

    RESOLVE = "resolve"
    CONNECTION_REFUSED = "connection_refused"
    BUFFER_FULL = "buffer_full"
    MESSAGE_TOO_LONG = "message_too_long"
    CLOSED = "closed"
    OS_ERROR = "os_error"


# How long a failed name lookup is trusted before trying again: a lookup can
# take seconds, and the export thread should not pay that on every batch.
_RESOLVE_RETRY_SECONDS = 5.0
# How long a send may wait for room in a full socket buffer before dropping.
_FULL_BUFFER_WAIT_SECONDS = 0.01

_senders: "weakref.WeakSet[UdpSender]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for sender in list(_senders):
        sender._forget_socket()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class UdpSender:
    """Sends datagrams to one ``(host, port)``; safe to share between threads."""

    def __init__(self, host: str, port: int) -> None:
        self.address: Tuple[str, int] = (host, port)
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._resolve_failed_at = 0.0
        self._closed = False
        self.last_error: Optional[str] = None
        # Datagrams the kernel reported as refused (ICMP port unreachable).
        self.refused = 0
        _senders.add(self)

    def _forget_socket(self) -> None:
        # In a forked child the parent's socket object is shared; drop it without closing.
        self._sock = None
        self._lock = threading.Lock()

    def _open(self) -> Optional[socket.socket]:
        with self._lock:
            if self._sock is not None:
                return self._sock
            if self._closed:
                return None
            if time.monotonic() - self._resolve_failed_at < _RESOLVE_RETRY_SECONDS:
                return None
            host, port = self.address
            try:
                family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
            except (OSError, UnicodeError) as exc:
                self._resolve_failed_at = time.monotonic()
                self.last_error = f"cannot resolve {host!r}: {exc}"
                return None
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                self.last_error = f"cannot connect to {sockaddr}: {exc}"
                return None
            self._sock = sock
            return sock

    def send(self, datagram: bytes) -> Optional[str]:
        """Send one datagram; ``None`` on success, else a :class:`SendFailure` cause."""
        sock = self._sock or self._open()
        if sock is None:
            return SendFailure.CLOSED if self._closed else SendFailure.RESOLVE
        try:
            sock.send(datagram)
            return None
        except ConnectionRefusedError:
            # The kernel reports that an *earlier* datagram found no listener;
            # this one was not sent yet, so it is tried once more.
            self.refused += 1
            return self._retry(sock, datagram, SendFailure.CONNECTION_REFUSED)
        except BlockingIOError:
            try:
                select.select((), (sock,), (), _FULL_BUFFER_WAIT_SECONDS)
            except (OSError, ValueError):
                return SendFailure.BUFFER_FULL
            return self._retry(sock, datagram, SendFailure.BUFFER_FULL)
        except OSError as exc:
            return self._failed(exc)

    def _retry(self, sock: socket.socket, datagram: bytes, cause: str) -> Optional[str]:
        try:
            sock.send(datagram)
            return None
        except OSError as exc:
            if isinstance(exc, (ConnectionRefusedError, BlockingIOError)):
                self.last_error = str(exc)
                if isinstance(exc, ConnectionRefusedError):
                    self.refused += 1
                return cause
            return self._failed(exc)

    def _failed(self, exc: OSError) -> str:
        self.last_error = str(exc)
        if exc.errno == errno.EMSGSIZE:
            return SendFailure.MESSAGE_TOO_LONG
        # Closed under us (EBADF, ENOTSOCK) or otherwise broken: open a new socket next time.
        self._sock = None
        return SendFailure.CLOSED if self._closed else SendFailure.OS_ERROR

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
