"""Side by side with aws-xray-sdk: the same app, traced by each, looks the same in the X-Ray console.

One run per tracer (module-scoped): ``tests/parity/app.py`` as two services
(``shop`` calls ``inventory``), under aws-xray-sdk (``XRayMiddleware`` +
``patch_all()``) and under ``opentelemetry-instrument`` with the otel_xray
distro, each into its own local daemon; moto's DynamoDB server, a SQLite file
and a forwarding proxy on loopback. Every difference in what the console
derives must be a row of docs/differences-from-aws-xray-sdk.md.
"""

from __future__ import annotations

import os
from typing import Dict, Iterator

import pytest

pytest.importorskip("aws_xray_sdk", reason="aws-xray-sdk comes with the test extras")
pytest.importorskip("flask", reason="flask comes with the test extras")
pytest.importorskip("moto.server", reason="moto[server] comes with the test extras")

from .conftest import ROOT  # noqa: E402
from .parity import console, harness  # noqa: E402
from .xray_fixtures import entities_as_read  # noqa: E402

TABLE = ROOT / "docs" / "differences-from-aws-xray-sdk.md"
EXPECTED_STATUS = {
    "orders": 200,
    "unhandled-exception": 500,
    "behind-proxy": 200,
    "xray-header": 200,
    "xray-root-only": 200,
    "traceparent": 200,
    "both-headers": 200,
    "both-headers-root-only": 200,
}


@pytest.fixture(scope="module")
def runs() -> Iterator[Dict[str, harness.Run]]:
    with harness.backends() as shared:
        yield {tracer: harness.run(tracer, shared) for tracer in harness.TRACERS}


@pytest.fixture(scope="module")
def views(runs: Dict[str, harness.Run]) -> Dict[str, console.Facts]:
    return {tracer: console.console_view(run) for tracer, run in runs.items()}


def _segment(run: harness.Run, label: str) -> dict:
    facts = console.console_view(run)
    assert facts[(label, "segment", "documents for the request")] == "1", f"{run.tracer}: {label} has no single segment"
    (request,) = [r for r in run.requests if r.label == label]
    path = request.path.split("?")[0]
    return next(d for d in _all(run) if d.get("name") == "parity-shop" and d["http"]["request"]["url"].split("?")[0].endswith(path))


def _all(run: harness.Run) -> list:
    # As X-Ray reads them: an embedded subsegment takes its trace, parent and type from its place.
    return entities_as_read(run.documents())


@pytest.mark.parametrize("tracer", harness.TRACERS)
def test_each_tracer_served_every_request_and_sent_valid_documents(runs, tracer):
    run = runs[tracer]
    assert run.responses == EXPECTED_STATUS, run.stderr
    assert run.received, f"{tracer} sent nothing: {run.stderr}"
    invalid = [(r.document.get("name"), r.verdict.errors) for r in run.received if not r.verdict.valid]
    assert not invalid


def test_every_difference_from_aws_xray_sdk_is_in_the_table(runs, views):
    rows = console.read_table(TABLE.read_text(encoding="utf-8"))
    found = console.differences(views["xray-sdk"], views["otel"])
    unlisted, stale = console.compare(found, rows)
    labels = [request.label for request in runs["otel"].requests]
    message = []
    if unlisted:
        message.append(
            f"differences not in {TABLE.relative_to(ROOT)} (fill in why we keep each, or fix it):\n"
            + "\n".join(console.suggested_rows(unlisted, labels))
        )
    if stale and not os.environ.get("XRAY_TESTS_LOWEST_VERSIONS"):
        # The table describes the newest releases; on the lowest supported ones (make test-lowest)
        # an older instrumentation may record less, so a row can be absent there without being stale.
        message.append(
            "rows that no longer differ (delete them):\n" + "\n".join(f"line {row.line}: {', '.join(row.requests)} / {', '.join(row.roles)} / {row.field}" for row in stale)
        )
    assert not message, "\n\n".join(message)


def test_table_is_well_formed_and_every_row_says_why():
    rows = console.read_table(TABLE.read_text(encoding="utf-8"))
    assert rows
    for row in rows:
        assert row.why and not row.why.startswith("(")
        assert row.sdk != row.otel
        assert not row.why.startswith("Not kept"), f"line {row.line}: a difference we do not keep is a bug to fix, not a row"


def test_the_service_map_has_the_same_services_and_the_downstream_service_joins_under_the_http_call(views):
    for tracer in harness.TRACERS:
        facts = views[tracer]
        assert facts[("orders", "segment", "service map node")] == "parity-shop (segment)"
        assert facts[("orders", "downstream segment", "service map node")] == "parity-inventory (segment)"
        assert facts[("orders", "downstream segment", "parent")] == "the HTTP call"
        assert facts[("orders", "service map", "edges")] == (
            "segment -> AWS call, segment -> SQL query, segment -> downstream segment"
        )


def test_annotations_and_metadata_written_through_the_otel_api_match_the_sdk(runs, views):
    for tracer in harness.TRACERS:
        assert views[tracer][("orders", "segment", "annotations")] == '{"customer_tier": "gold", "order_id": "42"}'
    sdk, otel = _segment(runs["xray-sdk"], "orders"), _segment(runs["otel"], "orders")
    assert otel["metadata"]["shop"] == sdk["metadata"]["shop"] == {"coupon": {"code": "SPRING24", "percent": 10}}
    assert otel["metadata"]["default"]["cart_items"] == sdk["metadata"]["default"]["cart_items"] == 3


@pytest.mark.parametrize(
    "label, joined",
    [
        ("xray-header", "the X-Ray header's trace, under the header's parent"),
        ("xray-root-only", "the X-Ray header's trace, no parent"),
        ("both-headers", "the X-Ray header's trace, under the header's parent"),
        ("orders", "a new trace, no parent"),
    ],
)
def test_x_ray_headers_are_joined_as_aws_xray_sdk_joins_them(views, label, joined):
    assert views["xray-sdk"][(label, "segment", "trace")] == joined
    assert views["otel"][(label, "segment", "trace")] == joined


def test_faults_and_exceptions_match_where_the_console_shows_them(views):
    for tracer in harness.TRACERS:
        facts = views[tracer]
        assert facts[("unhandled-exception", "segment", "fault")] == "true"
        assert facts[("unhandled-exception", "segment", "http.response.status")] == "500"
        assert facts[("unhandled-exception", "segment", "cause.exceptions")] == "RuntimeError: payment backend unavailable"
        assert facts[("orders", "subsegment apply-discount", "cause.exceptions")] == "ValueError: coupon SPRING24 has expired"
        assert facts[("orders", "AWS call", "aws.operation")] == "GetItem"
        assert facts[("orders", "AWS call", "aws.table_name")] == "orders"


def test_the_distro_captures_the_headers_aws_xray_sdk_reads(runs):
    """X-Forwarded-For and the response's Content-Length reach the exporter (as fields once translated, else as metadata)."""
    segment = _segment(runs["otel"], "behind-proxy")
    request, metadata = segment["http"]["request"], segment.get("metadata", {}).get("default", {})
    assert request.get("client_ip") == harness.CLIENT_IP or metadata.get("http.request.header.x_forwarded_for") == [
        f"{harness.CLIENT_IP}, 127.0.0.1"
    ]
    length = segment["http"]["response"].get("content_length")
    assert (isinstance(length, int) and length > 0) or metadata.get("http.response.header.content_length") == ["20"]
