"""The UDP transport against real loopback sockets and injected faults."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from otel_xray.wire import udp
from otel_xray.wire.framing import HEADER
from otel_xray.wire.transport import Transport
from otel_xray.wire.udp import SendFailure, UdpTransport


@pytest.fixture
def receiver():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


def free_udp_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_meets_the_transport_contract(receiver):
    transport = UdpTransport(*receiver.getsockname())
    assert isinstance(transport, Transport)
    assert transport.name == "udp" and transport.max_document_bytes == 64_000
    assert transport.describe() == "udp 127.0.0.1:%d" % receiver.getsockname()[1]
    transport.shutdown(1.0)


def test_a_document_goes_as_one_datagram_behind_the_daemon_header(receiver):
    transport = UdpTransport(*receiver.getsockname())
    assert transport.send(b'{"name":"a"}', 1) is None
    assert receiver.recv(100) == HEADER + b'{"name":"a"}'
    assert transport.send_datagram(b"raw", 1) is None  # OTLP datagrams come framed already
    assert receiver.recv(100) == b"raw"
    transport.shutdown(1.0)


def test_a_refusal_loses_the_spans_of_the_datagram_before_it():
    transport = UdpTransport("127.0.0.1", free_udp_port())
    results = [transport.send(b"{}", 6) for _ in range(20)]
    assert set(results) <= {None, SendFailure.CONNECTION_REFUSED}
    transport.force_flush(1.0)  # collects the refusal of the last datagram, still pending
    losses = transport.take_losses()
    # Linux reports the ICMP "port unreachable" of each datagram on the next send:
    # each refusal loses the 6 spans the refused datagram carried, not one.
    refused = losses[SendFailure.CONNECTION_REFUSED]
    assert refused % 6 == 0 and 60 <= refused <= 6 * results.count(None)
    assert "connection refused" in transport.last_error and "127.0.0.1" in transport.last_error
    assert transport.take_losses() == {}  # taken once
    transport.shutdown(1.0)


def test_loss_counts_are_exact_under_many_threads():
    transport = UdpTransport("127.0.0.1", free_udp_port())
    sent = [0] * 8
    sync_losses = [0] * 8
    start = threading.Barrier(8)

    def work(index):
        start.wait()
        for _ in range(400):
            if transport.send(b"{}", 3) is None:
                sent[index] += 3
            else:
                sync_losses[index] += 3

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    transport.force_flush(1.0)
    later = transport.take_losses().get(SendFailure.CONNECTION_REFUSED, 0)
    assert sum(sent) + sum(sync_losses) == 8 * 400 * 3
    # Each refusal takes the spans of one datagram that left, once: never more than left.
    assert 0 < later <= sum(sent) and later % 3 == 0
    transport.shutdown(1.0)


def test_an_unresolvable_name_fails_as_resolve_and_is_not_looked_up_per_send(monkeypatch):
    calls = []

    def failing_lookup(*args, **kwargs):
        calls.append(args)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(udp.socket, "getaddrinfo", failing_lookup)
    monkeypatch.setattr(udp, "RESOLVE_RETRY_SECONDS", 3600.0)
    transport = UdpTransport("no-such-daemon.invalid", 2000, first_resolve_wait=10)
    assert [transport.send(b"{}", 1) for _ in range(5)] == [SendFailure.RESOLVE] * 5
    assert len(calls) == 1  # by the resolver thread, not by the sends
    assert "no-such-daemon.invalid" in transport.last_error
    transport.shutdown(1.0)


def test_real_unresolvable_name_does_not_raise():
    transport = UdpTransport("no-such-daemon.invalid", 2000)
    assert transport.send(b"{}", 1) == SendFailure.RESOLVE
    transport.shutdown(1.0)


def test_a_resolver_that_never_answers_never_holds_up_a_send(monkeypatch, receiver):
    release = threading.Event()
    lookups = []
    real_getaddrinfo = socket.getaddrinfo

    def hanging_lookup(host, port, *args):
        lookups.append(host)
        release.wait()  # a resolver that does not answer, until the test says so
        return real_getaddrinfo("127.0.0.1", receiver.getsockname()[1], *args)

    monkeypatch.setattr(udp.socket, "getaddrinfo", hanging_lookup)
    transport = UdpTransport("xray-daemon", 2000, first_resolve_wait=0)
    results = []

    def send_many():
        results.extend(transport.send(b"{}", 1) for _ in range(100))

    threads = [threading.Thread(target=send_many, daemon=True) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)  # a bound, not a timing: a send that waited on the lookup would never return
    still_waiting = any(thread.is_alive() for thread in threads)
    if still_waiting:
        release.set()
    assert not still_waiting and not release.is_set() and lookups == ["xray-daemon"]
    assert results == [SendFailure.RESOLVE] * 600
    release.set()
    assert transport._first_answer.wait(10)
    assert transport.send(b'{"late":1}', 1) is None
    assert receiver.recv(100) == HEADER + b'{"late":1}'
    transport.shutdown(1.0)


def test_a_moved_daemon_is_followed(monkeypatch):
    first, second = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for sock in (first, second):
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
    current = {"port": first.getsockname()[1]}
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(udp.socket, "getaddrinfo", lambda host, port, *a: real_getaddrinfo("127.0.0.1", current["port"], *a))
    monkeypatch.setattr(udp, "RESOLVE_RETRY_SECONDS", 0.01)
    monkeypatch.setattr(udp, "RESOLVE_REFRESH_SECONDS", 0.02)
    try:
        transport = UdpTransport("xray-daemon", 2000, first_resolve_wait=10)
        assert transport.send(b"1", 1) is None
        assert first.recv(100) == HEADER + b"1"
        current["port"] = second.getsockname()[1]  # the service moved
        for attempt in range(5000):  # bounded: re-resolution comes within a few refresh periods
            transport.send(b"2", 1)
            try:
                second.settimeout(0.01)
                if second.recv(100) == HEADER + b"2":
                    break
            except socket.timeout:
                continue
        else:
            pytest.fail("the transport never followed the new address")
        transport.shutdown(1.0)
    finally:
        first.close()
        second.close()


def test_ipv6_daemon_address():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.bind(("::1", 0))
    except OSError:
        sock.close()
        pytest.skip("::1 is not available")
    sock.settimeout(2)
    try:
        transport = UdpTransport("::1", sock.getsockname()[1])
        assert transport.describe() == "udp [::1]:%d" % sock.getsockname()[1]
        assert transport.send_datagram(b"v6", 1) is None
        assert sock.recv(10) == b"v6"
    finally:
        sock.close()


def test_oversized_datagram_is_message_too_long(receiver):
    transport = UdpTransport(*receiver.getsockname())
    assert transport.send_datagram(b"x" * 70_000, 1) == SendFailure.MESSAGE_TOO_LONG
    assert transport.max_document_bytes == 64_000  # over any UDP path: says nothing about this one
    assert transport.send_datagram(b"fine", 1) is None  # the transport keeps working
    assert receiver.recv(100) == b"fine"


def test_socket_closed_under_the_transport_is_reopened(receiver):
    transport = UdpTransport(*receiver.getsockname())
    assert transport.send_datagram(b"one", 1) is None
    transport._sock.close()  # e.g. a library closing "all" file descriptors
    assert transport.send_datagram(b"lost", 1) == SendFailure.OS_ERROR
    assert transport.send_datagram(b"two", 1) is None
    assert [receiver.recv(10), receiver.recv(10)] == [b"one", b"two"]


def test_send_after_shutdown_reports_closed(receiver):
    transport = UdpTransport(*receiver.getsockname())
    transport.shutdown(1.0)
    assert transport.send(b"{}", 1) == SendFailure.CLOSED
    assert transport.force_flush(1.0) is False


def test_full_send_buffer_drops_after_a_short_wait(receiver):
    transport = UdpTransport(*receiver.getsockname())
    transport.send_datagram(b"open", 1)

    class FullSocket:
        def send(self, data):
            raise BlockingIOError(11, "Resource temporarily unavailable")

        def fileno(self):
            return receiver.fileno()

    transport._sock = FullSocket()
    assert transport.send_datagram(b"x", 1) == SendFailure.BUFFER_FULL


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_after_fork_sends_on_its_own_socket_with_its_own_counts(receiver):
    transport = UdpTransport(*receiver.getsockname())
    assert transport.send_datagram(b"parent-before", 1) is None
    transport._losses["connection_refused"] = 5  # the parent's, not the child's
    parent_socket = transport._sock
    pid = os.fork()
    if pid == 0:  # child: report through the exit status only
        code = 0
        try:
            if transport._sock is not None:
                code = 3
            elif transport.take_losses():
                code = 7
            elif transport.send_datagram(b"child", 1) is not None:
                code = 4
            elif transport._sock is parent_socket:
                code = 5
        except BaseException:
            code = 6
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert transport.send_datagram(b"parent-after", 1) is None
    assert transport._sock is parent_socket
    assert transport.take_losses() == {"connection_refused": 5}
    received = {receiver.recv(100) for _ in range(3)}
    assert received == {b"parent-before", b"child", b"parent-after"}
