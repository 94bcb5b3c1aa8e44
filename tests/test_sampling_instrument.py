"""Through real ``opentelemetry-instrument`` and a real auto-instrumented Flask service: the rules decide what arrives."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from .conftest import ROOT
from .sampling_helpers import SILENT_DEFAULT, rule, sampling_daemon  # noqa: F401
from .test_setup_paths import _clean_env, _tool

pytest.importorskip("flask", reason="Flask comes with the test extras")
pytest.importorskip("opentelemetry.instrumentation.flask", reason="opentelemetry-instrumentation-flask comes with the test extras")

APP = ROOT / "tests" / "apps" / "sampled_flask_app.py"
RULES = [
    rule("health", priority=1, rate=0.0, reservoir=0, url_path="/health"),
    rule("orders", priority=2, rate=1.0, reservoir=0, service_name="orders-svc", http_method="GET", host="127.0.0.1*",
         url_path="/orders/*"),
    SILENT_DEFAULT,
]


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param({"OTEL_TRACES_SAMPLER": "xray", "OTEL_TRACES_EXPORTER": "xray", "OTEL_PYTHON_ID_GENERATOR": "otel_xray",
                      "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}, id="OTEL_TRACES_SAMPLER=xray,old-conventions"),
        pytest.param({"OTEL_PYTHON_DISTRO": "otel_xray", "OTEL_PYTHON_CONFIGURATOR": "otel_xray",
                      "OTEL_SEMCONV_STABILITY_OPT_IN": "http"}, id="distro-default,stable-conventions"),
    ],
)
def test_a_rule_excluding_health_means_no_health_segment_arrives(sampling_daemon, setup):
    sampling_daemon.service.set_rules(RULES)
    env = _clean_env(OTEL_SERVICE_NAME="orders-svc", AWS_XRAY_DAEMON_ADDRESS=sampling_daemon.endpoint, **setup)
    result = subprocess.run([_tool("opentelemetry-instrument"), sys.executable, str(APP)], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"sampler": "XRayRemoteSampler", "rules": ["health", "orders", "Default"]}
    daemon = sampling_daemon.daemon
    assert daemon.wait_for(20, entities=True)
    daemon.wait_quiet(quiet=0.3)
    paths = [urlsplit(e["http"]["request"]["url"]).path for e in daemon.entities()]
    assert not [p for p in paths if p.startswith("/health")]
    assert sorted(p for p in paths if p.startswith("/orders/")) == sorted(f"/orders/{i}" for i in range(20))
    assert set(paths) <= {f"/orders/{i}" for i in range(20)} | {"/warmup"}  # warmup: the fallback's first request/s
    assert all(r.verdict.valid for r in daemon.received())
