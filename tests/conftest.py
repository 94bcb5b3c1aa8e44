"""Shared fixtures: real SDK spans, a local daemon on loopback, the shared reference folder."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys
from typing import Any, Iterator

import pytest

from otel_xray.daemon.server import LocalDaemon

ROOT = pathlib.Path(__file__).resolve().parent.parent


def cli_run(*args: str, text: bool = False, timeout: float = 60) -> "subprocess.CompletedProcess[Any]":
    """``otel-xray ARGS`` from this checkout, run to the end, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "otel_xray.cli", *args], cwd=ROOT, capture_output=True, text=text, timeout=timeout
    )


@contextlib.contextmanager
def cli_process(*args: str, **popen: Any) -> Iterator["subprocess.Popen[Any]"]:
    """``otel-xray ARGS`` from this checkout in a subprocess, its output on pipes (unless ``popen``
    says otherwise); killed if it is still running when the block ends, whatever the test did."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    process = subprocess.Popen([sys.executable, "-m", "otel_xray.cli", *args], cwd=ROOT, **popen)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
SHARED = ROOT.parent / "shared"

# Tests never reach a metadata service: where CI runs on EC2, in ECS or in Kubernetes, the
# configurator would otherwise choose AWS resource detectors for the subprocesses tests start
# (which inherit this environment). Tests of detection set these themselves, towards loopback fakes.
for _platform_variable in ("ECS_CONTAINER_METADATA_URI", "ECS_CONTAINER_METADATA_URI_V4", "KUBERNETES_SERVICE_HOST"):
    os.environ.pop(_platform_variable, None)
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


@pytest.fixture
def daemon() -> Iterator[LocalDaemon]:
    """A local daemon on a free loopback port, stopped after the test."""
    with LocalDaemon("127.0.0.1", 0) as running:
        yield running


@pytest.fixture
def shared() -> pathlib.Path:
    """The steering repo's shared/ folder; the test is skipped where it is absent (a user's clone)."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present in this checkout")
    return SHARED


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must not pick up a developer's or CI machine's X-Ray settings.
    for name in list(os.environ):
        if name.startswith(("AWS_XRAY_", "OTEL_EXPORTER_XRAY_", "OTEL_")) or name in ("_X_AMZN_TRACE_ID", "AWS_LAMBDA_FUNCTION_NAME"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _private_cache_directory(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The daemon's and the demo's default trace databases live in the user's cache directory.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# In CI (.ci/run sets XRAY_TESTS_NO_SKIP=1) every test must run: one that would skip because
# something is missing (Chromium, Go and the real daemon's kit, ../shared, a test dependency)
# fails instead, with the reason, so that a missing install step cannot hide behind a skip.
NO_SKIP = "XRAY_TESTS_NO_SKIP"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:  # type: ignore[type-arg]
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get(NO_SKIP) == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but {NO_SKIP}=1 requires every test to run here: {reason}"
