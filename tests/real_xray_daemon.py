"""The real AWS X-Ray daemon, built from ../shared/real-daemon (see its README), for tests that run it.

``real_daemon_binary()`` builds it once (``build.sh`` is idempotent and fast when
up to date) into pytest's cache directory (``.pytest_cache/d/xray-daemon``, where
other tests that run the real daemon build it too); it skips the test with the reason when
the kit is absent or the build fails (in CI, where ``.ci/run`` sets
``XRAY_TESTS_NO_SKIP=1``, ``conftest.py`` turns that skip into a failure).
``RealXRayDaemon`` runs it on loopback ports, pointed at an X-Ray API stand-in.
"""

from __future__ import annotations

import pathlib
import signal
import socket
import subprocess
import tempfile
import time
from typing import Optional

import pytest

from .conftest import ROOT, SHARED

KIT = SHARED / "real-daemon"
# pytest's cache directory, as request.config.cache.mkdir("xray-daemon") names it: one build for every test.
OUTDIR = ROOT / ".pytest_cache" / "d" / "xray-daemon"
_built: Optional[pathlib.Path] = None


def _unavailable(reason: str) -> None:
    pytest.skip(reason)


def real_daemon_binary() -> pathlib.Path:
    global _built
    if _built is not None:
        return _built
    build = KIT / "build.sh"
    if not build.is_file():
        _unavailable(f"the real X-Ray daemon kit is not present ({build})")
    try:
        result = subprocess.run(["bash", str(build), str(OUTDIR)], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"building the real X-Ray daemon failed: {exc}")
    if result.returncode != 0:
        _unavailable(f"building the real X-Ray daemon failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    _built = OUTDIR / "xray"
    return _built


def free_port() -> int:
    """A loopback port free for both UDP and TCP."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port")


class RealXRayDaemon:
    """The real daemon on free loopback ports, sending to ``endpoint`` (an X-Ray API stand-in)."""

    def __init__(self, endpoint: str) -> None:
        self.binary = real_daemon_binary()
        self.udp_port = free_port()
        self.tcp_port = free_port()
        self._home = tempfile.TemporaryDirectory()
        config = (KIT / "example_config.yaml").read_text()
        config = config.replace('"http://127.0.0.1:API_PORT"', f'"{endpoint}"')
        config = config.replace("UDP_PORT", str(self.udp_port)).replace("TCP_PORT", str(self.tcp_port))
        self.config = pathlib.Path(self._home.name) / "cfg.yaml"
        self.config.write_text(config)
        self.log = pathlib.Path(self._home.name) / "daemon.log"
        self.process: Optional[subprocess.Popen] = None  # type: ignore[type-arg]

    @property
    def tcp_address(self) -> str:
        return f"127.0.0.1:{self.tcp_port}"

    def __enter__(self) -> "RealXRayDaemon":
        env = {"HOME": self._home.name, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "PATH": "/usr/bin:/bin"}
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "-c", str(self.config), "-o", "-n", "us-east-1", "-l", "dev"],
                env=env, cwd=self._home.name, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # ready when its TCP port accepts
            if self.process.poll() is not None:
                raise RuntimeError(f"the real X-Ray daemon exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.tcp_port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"the real X-Ray daemon did not open its TCP port: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._home.cleanup()
