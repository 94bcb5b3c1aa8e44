"""Both transports pass the same contract: UDP to a loopback receiver, and the X-Ray API to a loopback stand-in."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Callable, Iterator, List

import pytest

from otel_xray.wire.udp import UdpTransport

from .transport_contract import Harness, TransportContract, body
from .xray_standin import XRayStandIn, fake_aws, held, isolated_aws  # noqa: F401 - fixtures


class TestUdpTransportContract(TransportContract):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(0.05)
        received: List[bytes] = []
        reading = threading.Event()
        reading.set()
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                if not reading.wait(0.05):
                    continue
                try:
                    received.append(body(receiver.recv(70_000)))
                except socket.timeout:
                    pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()

        @contextlib.contextmanager
        def stall() -> Iterator[Callable[[], bool]]:
            reading.clear()  # nothing is read; the kernel buffer fills, then drops
            try:
                yield lambda: not reading.is_set()
            finally:
                reading.set()

        transport = UdpTransport(*receiver.getsockname())
        yield Harness(transport, lambda: list(received), stall)
        transport.shutdown(1.0)
        stop.set()
        reader.join(5)
        receiver.close()


class TestApiTransportContract(TransportContract):
    @pytest.fixture
    def harness(self, fake_aws: None) -> Iterator[Harness]:  # noqa: F811 - fixture
        from otel_xray.wire.xray_api import XRayApiTransport

        with XRayStandIn() as standin:
            transport = XRayApiTransport(standin.url, "us-east-1", linger_seconds=0.05, read_timeout_seconds=60)
            releases: List[threading.Event] = []

            @contextlib.contextmanager
            def stall() -> Iterator[Callable[[], bool]]:
                release = threading.Event()
                releases.append(release)
                # Every request from now on is held until the stall ends.
                standin.script.extend(held(release) for _ in range(1000))
                try:
                    yield lambda: not release.is_set()
                finally:
                    standin.script.clear()
                    release.set()

            try:
                yield Harness(transport, lambda: [d.encode() for d in standin.documents()], stall)
            finally:
                for release in releases:
                    release.set()
                transport.shutdown(5.0)
