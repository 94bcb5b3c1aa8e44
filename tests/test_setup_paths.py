"""The three setup paths: in code, environment only, and `opentelemetry-instrument` in a subprocess."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

# The SDK's backport: Python 3.9's importlib.metadata.entry_points takes no group=.
from opentelemetry.util._importlib_metadata import entry_points


from .conftest import ROOT
from .xray_fixtures import entities_as_read

EXAMPLES = ROOT / "examples"


def _tool(name: str) -> str:
    beside = pathlib.Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed (it comes with the package's test extras)"
    return found


def _clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_XRAY_"))}
    env.update(extra)
    return env


def _run(args, env, timeout=60):
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_in_code_example(daemon):
    result = _run([sys.executable, str(EXAMPLES / "in_code.py")], _clean_env(AWS_XRAY_DAEMON_ADDRESS=daemon.endpoint))
    assert result.returncode == 0, result.stderr
    assert daemon.wait_for(2, entities=True)
    docs = {d["name"]: d for d in entities_as_read(daemon.documents())}
    # order.id is indexed by the exporter's setting; customer_tier was annotated from nested code.
    assert docs["checkout"]["annotations"] == {"order.id": "42", "customer_tier": "gold"}
    assert docs["load-order"]["parent_id"] == docs["checkout"]["id"]
    assert all(r.verdict.valid for r in daemon.received())


def test_environment_only_exporter_without_arguments(daemon, monkeypatch):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from otel_xray import XRaySpanExporter

    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES", "tenant")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "env-svc")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(XRaySpanExporter()))
    with provider.get_tracer("t").start_as_current_span("root") as span:
        span.set_attribute("tenant", "acme")
    provider.shutdown()
    assert daemon.wait_for(1)
    (doc,) = daemon.documents()
    assert doc["annotations"] == {"tenant": "acme"}
    assert doc["metadata"]["default"]["otel.resource.service.name"] == "env-svc"


def test_exporter_entry_point_is_xray():
    (entry,) = [ep for ep in entry_points(group="opentelemetry_traces_exporter") if ep.name == "xray"]
    from otel_xray import XRaySpanExporter

    assert entry.load() is XRaySpanExporter


def test_distro_and_configurator_entry_points():
    assert {ep.name for ep in entry_points(group="opentelemetry_distro")} >= {"otel_xray"}
    assert {ep.name for ep in entry_points(group="opentelemetry_configurator")} >= {"otel_xray"}


def _instrumented(daemon, **extra):
    env = _clean_env(
        OTEL_PYTHON_DISTRO="otel_xray",
        OTEL_PYTHON_CONFIGURATOR="otel_xray",
        OTEL_SERVICE_NAME="example-app",
        AWS_XRAY_DAEMON_ADDRESS=daemon.endpoint,
        OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES="item.id",
        **extra,
    )
    started = int(time.time())
    result = _run([_tool("opentelemetry-instrument"), sys.executable, str(EXAMPLES / "app.py")], env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report, started


def test_opentelemetry_instrument_with_environment_only_configuration(daemon):
    report, started = _instrumented(daemon)
    assert report["provider"] == "TracerProvider" and report["id_generator"] == "XRayIdGenerator"
    assert {"x-amzn-trace-id", "traceparent", "baggage"} <= {f.lower() for f in report["propagator_fields"]}
    assert started - 5 <= int(report["trace_id"][:8], 16) <= started + 60
    assert daemon.wait_for(2, entities=True)
    docs = {d["name"]: d for d in entities_as_read(daemon.documents())}
    assert set(docs) == {"example-app", "compute-price"}
    segment = docs["example-app"]
    assert segment["trace_id"] == "1-%s-%s" % (report["trace_id"][:8], report["trace_id"][8:])
    assert segment["annotations"] == {"item.id": "7"}
    assert segment["http"]["response"]["status"] == 200
    assert segment["aws"]["xray"]["auto_instrumentation"] is True
    assert docs["compute-price"]["parent_id"] == segment["id"]
    assert all(r.verdict.valid for r in daemon.received())


def test_opentelemetry_instrument_defaults_yield_to_otel_variables(daemon):
    report, _ = _instrumented(daemon, OTEL_PROPAGATORS="tracecontext", OTEL_PYTHON_ID_GENERATOR="random")
    assert report["id_generator"] == "RandomIdGenerator"
    assert [f.lower() for f in report["propagator_fields"]] == ["traceparent", "tracestate"]
    assert daemon.wait_for(2, entities=True)  # still exported by the X-Ray exporter


def test_opentelemetry_instrument_bad_daemon_address_fails_at_startup(daemon):
    env = _clean_env(OTEL_PYTHON_DISTRO="otel_xray", OTEL_PYTHON_CONFIGURATOR="otel_xray", AWS_XRAY_DAEMON_ADDRESS="not an address")
    result = _run([_tool("opentelemetry-instrument"), sys.executable, str(EXAMPLES / "app.py")], env)
    assert "AWS_XRAY_DAEMON_ADDRESS='not an address' is not a valid X-Ray daemon address" in result.stderr


@pytest.mark.parametrize(
    "handler_from",
    [
        pytest.param({"OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true"}, id="sdk-logging-handler"),
        pytest.param({}, id="logging-instrumentation"),
    ],
)
def test_loss_warning_reaches_stderr_under_opentelemetry_logging(handler_from):
    """The instrumentations `opentelemetry-bootstrap` installs put OpenTelemetry's LoggingHandler on the
    root logger; with the logs exporter `none` (the distro's default) it would swallow the WARNING."""
    if not handler_from:
        pytest.importorskip("opentelemetry.instrumentation.logging")
    from .test_wire_udp import free_udp_port

    env = _clean_env(
        OTEL_PYTHON_DISTRO="otel_xray",
        OTEL_PYTHON_CONFIGURATOR="otel_xray",
        AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{free_udp_port()}",  # nothing listens
        **handler_from,
    )
    probe = "import logging; print(json.dumps([type(h).__module__ for h in logging.getLogger().handlers]))"
    script = (EXAMPLES / "app.py").read_text() + "\n" + probe + "\n"
    result = _run([_tool("opentelemetry-instrument"), sys.executable, "-c", script], env)
    assert result.returncode == 0, result.stderr
    root_handlers = json.loads(result.stdout.strip().splitlines()[-1])
    # The set-up this test is about: only OpenTelemetry's handler on the root logger (an old
    # logging instrumentation installs none, and then Python's own last resort prints).
    assert all(module.startswith("opentelemetry.") for module in root_handlers), root_handlers
    assert root_handlers or not handler_from
    warnings = [line for line in result.stderr.splitlines() if "not delivered to X-Ray" in line]
    assert len(warnings) == 1, result.stderr
    assert "2 span(s)" in warnings[0] and "connection refused" in warnings[0].split("last error:")[1]
