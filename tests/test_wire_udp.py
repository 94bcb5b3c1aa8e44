"""The UDP sender against real loopback sockets and injected faults."""

from __future__ import annotations

import os
import socket

import pytest

from otel_xray.wire import udp
from otel_xray.wire.udp import SendFailure, UdpSender


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


def test_sends_one_datagram(receiver):
    sender = UdpSender(*receiver.getsockname())
    assert sender.send(b"hello") is None
    assert receiver.recv(100) == b"hello"
    sender.close()


def test_no_listener_is_counted_never_raised():
    sender = UdpSender("127.0.0.1", free_udp_port())
    results = [sender.send(b"x") for _ in range(20)]
    assert all(result in (None, SendFailure.CONNECTION_REFUSED) for result in results)
    # Linux reports the ICMP "port unreachable" of each datagram on the next send.
    assert sender.refused >= 10
    sender.close()


def test_unresolvable_host_is_a_failure_and_not_looked_up_on_every_send(monkeypatch):
    calls = []

    def failing_lookup(*args, **kwargs):
        calls.append(args)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(udp.socket, "getaddrinfo", failing_lookup)
    sender = UdpSender("no-such-daemon.invalid", 2000)
    assert [sender.send(b"x") for _ in range(5)] == [SendFailure.RESOLVE] * 5
    assert len(calls) == 1
    assert "no-such-daemon.invalid" in sender.last_error


def test_real_unresolvable_name_does_not_raise():
    sender = UdpSender("no-such-daemon.invalid", 2000)
    assert sender.send(b"x") == SendFailure.RESOLVE


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
        sender = UdpSender("::1", sock.getsockname()[1])
        assert sender.send(b"v6") is None
        assert sock.recv(10) == b"v6"
    finally:
        sock.close()


def test_oversized_datagram_is_message_too_long(receiver):
    sender = UdpSender(*receiver.getsockname())
    assert sender.send(b"x" * 70_000) == SendFailure.MESSAGE_TOO_LONG
    assert sender.send(b"fine") is None  # the sender keeps working
    assert receiver.recv(100) == b"fine"


def test_socket_closed_under_the_sender_is_reopened(receiver):
    sender = UdpSender(*receiver.getsockname())
    assert sender.send(b"one") is None
    sender._sock.close()  # e.g. a library closing "all" file descriptors
    assert sender.send(b"lost") == SendFailure.OS_ERROR
    assert sender.send(b"two") is None
    assert [receiver.recv(10), receiver.recv(10)] == [b"one", b"two"]


def test_send_after_close_reports_closed(receiver):
    sender = UdpSender(*receiver.getsockname())
    sender.close()
    assert sender.send(b"x") == SendFailure.CLOSED


def test_full_send_buffer_drops_after_a_short_wait(receiver, monkeypatch):
    sender = UdpSender(*receiver.getsockname())
    sender.send(b"open")

    class FullSocket:
        def send(self, data):
            raise BlockingIOError(11, "Resource temporarily unavailable")

        def fileno(self):
            return receiver.fileno()

    sender._sock = FullSocket()
    assert sender.send(b"x") == SendFailure.BUFFER_FULL


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_after_fork_sends_on_its_own_socket(receiver):
    sender = UdpSender(*receiver.getsockname())
    assert sender.send(b"parent-before") is None
    parent_socket = sender._sock
    pid = os.fork()
    if pid == 0:  # child: report through the exit status only
        code = 0
        try:
            if sender._sock is not None:
                code = 3
            elif sender.send(b"child") is not None:
                code = 4
            elif sender._sock is parent_socket:
                code = 5
        except BaseException:
            code = 6
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sender.send(b"parent-after") is None
    assert sender._sock is parent_socket
    received = {receiver.recv(100) for _ in range(3)}
    assert received == {b"parent-before", b"child", b"parent-after"}
