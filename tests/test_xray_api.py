"""The local daemon's X-Ray API, driven by boto3's X-Ray client, and `otel-xray import`."""

from __future__ import annotations

import json
import time

import pytest

boto3 = pytest.importorskip("boto3", reason="boto3 is a test dependency: pip install -e '.[test]'")
from botocore.exceptions import ClientError  # noqa: E402

from otel_xray.cli import main  # noqa: E402
from otel_xray.daemon.server import LocalDaemon  # noqa: E402
from otel_xray.daemon.store import TraceStore  # noqa: E402
from otel_xray.local_xray import store_routes  # noqa: E402

from .xray_fixtures import segment, send, subsegment, trace_id  # noqa: E402

NOW = time.time()
# Four traces with something to tell them apart.
CHECKOUT = trace_id(0xA1)
SLOW = trace_id(0xA2)
BROKEN = trace_id(0xA3)
THROTTLED = trace_id(0xA4)


def _documents():
    start = NOW - 30
    checkout = segment(CHECKOUT, "a100000000000001", "checkout", start, 0.2, 200, user="alice",
                       annotations={"order_id": "42", "amount": 99.5, "vip": True},
                       subsegments=[subsegment("a100000000000002", "inventory.local", start + 0.01, 0.1, namespace="remote"),
                                    subsegment("a100000000000003", "DynamoDB", start + 0.12, 0.02, namespace="aws")])
    inventory = segment(CHECKOUT, "a100000000000004", "inventory", start + 0.02, 0.05, 200, parent_id="a100000000000002")
    slow = segment(SLOW, "a200000000000001", "checkout", start + 1, 2.5, 200, annotations={"order_id": "7", "amount": 12})
    broken = segment(BROKEN, "a300000000000001", "payments", start + 2, 0.3, 503, annotations={"vip": False})
    throttled = segment(THROTTLED, "a400000000000001", "inventory", start + 3, 0.01, 429)
    return [checkout, inventory, slow, broken, throttled]


@pytest.fixture(scope="module")
def local_xray():
    store = TraceStore(":memory:")
    daemon = LocalDaemon("127.0.0.1", 0, http_routes=store_routes(store, console=False), store=store).start()
    client = boto3.client(
        "xray", endpoint_url=daemon.http.url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    answer = client.put_trace_segments(TraceSegmentDocuments=[json.dumps(d) for d in _documents()])
    assert answer["UnprocessedTraceSegments"] == []
    assert store.flush()
    yield client, store, daemon
    daemon.stop()
    store.close()


def summaries(client, expression=None, **extra):
    request = dict(StartTime=NOW - 3600, EndTime=NOW + 60, **extra)
    if expression is not None:
        request["FilterExpression"] = expression
    return client.get_trace_summaries(**request)


FILTERS = [
    ("", {CHECKOUT, SLOW, BROKEN, THROTTLED}),
    ('service("inventory")', {CHECKOUT, THROTTLED}),
    ('service("DynamoDB")', {CHECKOUT}),
    ('service(id(name: "inventory", type: "remote"))', set()),
    ('edge("checkout", "inventory")', {CHECKOUT}),
    ('annotation.order_id = "42"', {CHECKOUT}),
    ('annotation.order_id != "42"', {SLOW}),
    ("annotation.amount > 50", {CHECKOUT}),
    ("annotation.amount < 50", {SLOW}),
    ("annotation.vip = true", {CHECKOUT}),
    ("annotation.vip = false", {BROKEN}),
    ("http.status = 503", {BROKEN}),
    ("http.status >= 400", {BROKEN, THROTTLED}),
    ('http.url CONTAINS "payments"', {BROKEN}),
    ('http.url BEGINSWITH "https://shop.example.com/check"', {CHECKOUT, SLOW}),
    ('http.url ENDSWITH "inventory"', {THROTTLED}),
    ('http.method = "GET"', {CHECKOUT, SLOW, BROKEN, THROTTLED}),
    ('user = "alice"', {CHECKOUT}),
    ("responsetime > 1", {SLOW}),
    ("duration > 0.1 AND duration < 1", {CHECKOUT, BROKEN}),
    ("fault", {BROKEN}),
    ("error", {THROTTLED}),
    ("throttle", {THROTTLED}),
    ("ok", {CHECKOUT, SLOW}),
    ("!ok", {BROKEN, THROTTLED}),
    ("NOT fault AND NOT throttle", {CHECKOUT, SLOW}),
    ("fault OR throttle", {BROKEN, THROTTLED}),
    ('(fault OR throttle) AND service("payments")', {BROKEN}),
    ('fault = false and (annotation.order_id = "42" or responsetime > 2)', {CHECKOUT, SLOW}),
    (f'id("{SLOW}")', {SLOW}),
]


@pytest.mark.parametrize("expression, expected", FILTERS, ids=[f[0] or "(none)" for f in FILTERS])
def test_get_trace_summaries_with_a_filter_expression(local_xray, expression, expected):
    client, _, _ = local_xray
    answer = summaries(client, expression or None)
    assert {s["Id"] for s in answer["TraceSummaries"]} == expected


BAD_FILTERS = [
    ("fault AND", "expected a condition", 9),
    ("http.status = fast", "expected a number after http.status =", 14),
    ('service("checkout"', "expected ')' to close service(", 18),
    ("(fault OR error", "expected ')' to close the '(' at column 1", 15),
    ("fault)", "unbalanced ')'", 5),
    ("annotation.x > \"text\"", "compares numbers", 15),
    ("http.url CONTAINS 5", "a string in double quotes", 18),
    ("latency > 5", "unknown keyword 'latency'", 0),
    ('service("unterminated)', "unterminated string", 8),
    ("fault # 1", "unexpected character '#'", 6),
]


@pytest.mark.parametrize("expression, message, column", BAD_FILTERS, ids=[b[0] for b in BAD_FILTERS])
def test_an_invalid_filter_expression_is_a_clear_invalid_request(local_xray, expression, message, column):
    client, _, _ = local_xray
    with pytest.raises(ClientError) as caught:
        summaries(client, expression)
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidRequestException"
    assert message in error["Message"] and f"at column {column + 1}" in error["Message"]


def test_trace_summaries_carry_what_x_ray_returns(local_xray):
    client, _, _ = local_xray
    (summary,) = summaries(client, f'id("{CHECKOUT}")')["TraceSummaries"]
    assert summary["Http"] == {"HttpURL": "https://shop.example.com/checkout", "HttpStatus": 200, "HttpMethod": "GET"}
    assert summary["Duration"] == pytest.approx(0.2) and summary["ResponseTime"] == pytest.approx(0.2)
    assert (summary["HasFault"], summary["HasError"], summary["HasThrottle"], summary["IsPartial"]) == (False,) * 4
    assert summary["Annotations"]["order_id"][0]["AnnotationValue"] == {"StringValue": "42"}
    assert summary["Annotations"]["vip"][0]["AnnotationValue"] == {"BooleanValue": True}
    assert summary["Users"] == [{"UserName": "alice", "ServiceIds": []}]
    assert summary["EntryPoint"]["Name"] == "checkout"
    assert {s["Name"] for s in summary["ServiceIds"]} == {"checkout", "inventory", "DynamoDB"}
    assert abs(summary["StartTime"].timestamp() - (NOW - 30)) < 0.01


def test_trace_summaries_page_with_next_token(local_xray, monkeypatch):
    import otel_xray.daemon.xray_api as api

    monkeypatch.setattr(api, "PAGE_SIZE", 3)
    client, _, _ = local_xray
    first = summaries(client)
    second = summaries(client, NextToken=first["NextToken"])
    assert len(first["TraceSummaries"]) == 3 and "NextToken" not in second
    assert {s["Id"] for s in first["TraceSummaries"] + second["TraceSummaries"]} == {CHECKOUT, SLOW, BROKEN, THROTTLED}
    # newest first
    assert [s["Id"] for s in first["TraceSummaries"]] == [THROTTLED, BROKEN, SLOW]


def test_trace_summaries_by_trace_id_time(local_xray):
    client, _, _ = local_xray
    old = trace_id(0xB1, epoch=int(NOW) - 10 * 86400)
    assert old not in {s["Id"] for s in summaries(client, TimeRangeType="TraceId")["TraceSummaries"]}
    answer = client.get_trace_summaries(StartTime=NOW - 3600, EndTime=NOW + 60, TimeRangeType="TraceId")
    assert {s["Id"] for s in answer["TraceSummaries"]} == {CHECKOUT, SLOW, BROKEN, THROTTLED}


@pytest.mark.parametrize("request_body, message", [
    ({"StartTime": NOW, "EndTime": NOW - 10}, "EndTime is before StartTime"),
    ({"StartTime": NOW, "EndTime": NOW, "TimeRangeType": "Sideways"}, "TimeRangeType"),
])
def test_trace_summaries_refuse_bad_requests(local_xray, request_body, message):
    client, _, _ = local_xray
    with pytest.raises(ClientError) as caught:
        client.get_trace_summaries(**request_body)
    assert message in caught.value.response["Error"]["Message"]


def test_batch_get_traces_returns_each_segment_document(local_xray):
    client, _, _ = local_xray
    missing = trace_id(0xDEAD)
    answer = client.batch_get_traces(TraceIds=[CHECKOUT, missing])
    assert answer["UnprocessedTraceIds"] == [missing]
    (trace,) = answer["Traces"]
    assert trace["Id"] == CHECKOUT and trace["Duration"] == pytest.approx(0.2) and trace["LimitExceeded"] is False
    documents = {s["Id"]: json.loads(s["Document"]) for s in trace["Segments"]}
    assert set(documents) == {"a100000000000001", "a100000000000004"}
    assert [s["name"] for s in documents["a100000000000001"]["subsegments"]] == ["inventory.local", "DynamoDB"]


def test_put_trace_segments_reports_what_x_ray_would_reject_and_keeps_it_for_lint(local_xray):
    client, store, _ = local_xray
    bad_name = segment(trace_id(0xC1), "c100000000000001", "bad,name")
    answer = client.put_trace_segments(TraceSegmentDocuments=[json.dumps(bad_name), "{not json"])
    unprocessed = answer["UnprocessedTraceSegments"]
    assert unprocessed[0]["Id"] == "c100000000000001" and unprocessed[0]["ErrorCode"] == "InvalidName"
    assert unprocessed[1]["ErrorCode"] == "InvalidSegment" and "not JSON" in unprocessed[1]["Message"]
    assert store.flush()
    (stored,) = store.documents([bad_name["trace_id"]])[bad_name["trace_id"]]
    assert not stored.valid


def test_get_service_graph_has_nodes_edges_statistics_and_histograms(local_xray):
    client, _, _ = local_xray
    graph = client.get_service_graph(StartTime=NOW - 3600, EndTime=NOW + 60)
    by_key = {(s["Name"], s.get("Type", "")): s for s in graph["Services"]}
    names = {s["ReferenceId"]: s["Name"] for s in graph["Services"]}
    client_node = by_key[("client", "client")]
    assert {names[e["ReferenceId"]] for e in client_node["Edges"]} >= {"checkout", "payments", "inventory"}
    checkout = by_key[("checkout", "")]
    assert checkout["Root"] is True
    assert {names[e["ReferenceId"]] for e in checkout["Edges"]} == {"inventory", "DynamoDB"}
    assert checkout["SummaryStatistics"]["TotalCount"] == 2 and checkout["SummaryStatistics"]["OkCount"] == 2
    assert sum(h["Count"] for h in checkout["ResponseTimeHistogram"]) == 2
    dynamo = by_key[("DynamoDB", "AWS::DynamoDB::Table")]  # inferred from the aws subsegment
    assert dynamo["SummaryStatistics"]["TotalCount"] == 1
    payments = by_key[("payments", "")]["SummaryStatistics"]
    assert payments["FaultStatistics"] == {"OtherCount": 1, "TotalCount": 1} and payments["OkCount"] == 0
    inventory = by_key[("inventory", "")]["SummaryStatistics"]
    assert inventory["ErrorStatistics"] == {"ThrottleCount": 1, "OtherCount": 0, "TotalCount": 1}
    assert ("inventory.local", "remote") not in by_key  # a traced service answered that call


def test_telemetry_records_are_accepted(local_xray):
    client, _, _ = local_xray
    assert "ResponseMetadata" in client.put_telemetry_records(TelemetryRecords=[{"Timestamp": NOW}])


def test_udp_and_api_documents_land_in_the_same_store(local_xray):
    client, store, daemon = local_xray
    document = segment(trace_id(0xE1), "e100000000000001", "udp-service")
    send(daemon.address, document)
    assert daemon.wait_for(1)
    assert store.flush()
    assert client.batch_get_traces(TraceIds=[document["trace_id"]])["Traces"][0]["Id"] == document["trace_id"]


def test_a_browser_post_from_another_site_is_refused(local_xray):
    import http.client

    _, store, daemon = local_xray
    host, port = daemon.http.address
    before = store.stats().submitted
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        connection = http.client.HTTPConnection(host, port, timeout=5)
        body = json.dumps({"TraceSegmentDocuments": [json.dumps(segment(trace_id(0xF1), "f100000000000001"))]})
        connection.request("POST", "/TraceSegments", body=body, headers={"Host": f"127.0.0.1:{port}", **headers})
        response = connection.getresponse()
        assert response.status == 403 and b"cross-origin" in response.read()
        connection.close()
    assert store.stats().submitted == before


def test_import_loads_aws_cli_batch_get_traces_output(tmp_path, capsys):
    trace = trace_id(0x1234)
    root = segment(trace, "1100000000000001", "orders", subsegments=[
        subsegment("1100000000000002", "DynamoDB", time.time() - 0.9, namespace="aws")])
    inferred = {"id": "1100000000000003", "name": "DynamoDB", "trace_id": trace, "parent_id": "1100000000000002",
                "start_time": root["start_time"], "end_time": root["end_time"], "inferred": True,
                "origin": "AWS::DynamoDB::Table"}
    cli_output = {
        "Traces": [{"Id": trace, "Duration": 0.05, "LimitExceeded": False, "Segments": [
            {"Id": root["id"], "Document": json.dumps(root)},
            {"Id": inferred["id"], "Document": json.dumps(inferred)},
        ]}],
        "UnprocessedTraceIds": [],
    }
    path = tmp_path / "traces.json"
    path.write_text(json.dumps(cli_output, indent=4))
    db = str(tmp_path / "imported.db")
    assert main(["import", str(path), "--db", db]) == 0
    assert "imported 1 document(s) of 1 trace(s)" in capsys.readouterr().out
    with TraceStore(db) as store:
        (stored,) = store.documents([trace])[trace]
        assert stored.document == root and stored.format == "import"
    assert main(["show", "--db", db]) == 0
    assert "orders  [segment]" in capsys.readouterr().out


def test_import_refuses_a_file_that_is_not_batch_get_traces_output(tmp_path, capsys):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"TraceSummaries": []}))
    assert main(["import", str(path), "--db", str(tmp_path / "x.db")]) == 2
    assert "batch-get-traces" in capsys.readouterr().err
