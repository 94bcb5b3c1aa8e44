"""The local daemon's sampling API: exact shapes (boto3 parses them), validation, targets, the CLI's --sampling-rules."""

from __future__ import annotations

import datetime
import http.client
import json
import subprocess

import pytest

from otel_xray.daemon.sampling_api import SamplingRulesService, format_statistics
from otel_xray.sampling import SamplingRule, default_rule

from .conftest import cli_process, cli_run
from .real_xray_daemon import free_port
from .sampling_helpers import SILENT_DEFAULT, T0, rule, sampling_daemon  # noqa: F401

boto3 = pytest.importorskip("boto3", reason="boto3 comes with the test extras")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

CLIENT_A = "0123456789abcdef01234567"
CLIENT_B = "fedcba9876543210fedcba98"


def xray_client(daemon):
    return boto3.client(
        "xray",
        endpoint_url=f"http://{daemon.endpoint}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def post(daemon, path, body):
    host, port = daemon.daemon.address
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        connection.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"{}")
    finally:
        connection.close()


RULES = [
    rule("orders", priority=10, rate=0.5, reservoir=4, service_name="checkout", http_method="GET", url_path="/orders/*",
         attributes=(("tenant", "acme"),)),
    rule("health", priority=1, rate=0.0, reservoir=1, url_path="/health"),
    default_rule(),
]


def test_boto3_get_sampling_rules_parses_every_member(sampling_daemon):
    sampling_daemon.service.set_rules(RULES)
    answer = xray_client(sampling_daemon).get_sampling_rules()
    records = answer["SamplingRuleRecords"]
    assert [r["SamplingRule"]["RuleName"] for r in records] == ["health", "orders", "Default"]
    orders = records[1]
    assert isinstance(orders["CreatedAt"], datetime.datetime) and isinstance(orders["ModifiedAt"], datetime.datetime)
    assert orders["ModifiedAt"].timestamp() == T0
    assert orders["SamplingRule"] == {
        "RuleName": "orders",
        "RuleARN": "arn:aws:xray:us-east-1:000000000000:sampling-rule/orders",
        "ResourceARN": "*",
        "Priority": 10,
        "FixedRate": 0.5,
        "ReservoirSize": 4,
        "ServiceName": "checkout",
        "ServiceType": "*",
        "Host": "*",
        "HTTPMethod": "GET",
        "URLPath": "/orders/*",
        "Version": 1,
        "Attributes": {"tenant": "acme"},
    }
    assert "NextToken" not in answer


def test_boto3_paginates_rules(sampling_daemon):
    sampling_daemon.service.page_size = 1
    sampling_daemon.service.set_rules(RULES)
    pages = list(xray_client(sampling_daemon).get_paginator("get_sampling_rules").paginate())
    assert len(pages) == 3
    assert [p["SamplingRuleRecords"][0]["SamplingRule"]["RuleName"] for p in pages] == ["health", "orders", "Default"]


def test_boto3_get_sampling_targets_parses_targets_and_unprocessed(sampling_daemon):
    sampling_daemon.service.set_rules(RULES)
    now = datetime.datetime.fromtimestamp(T0, datetime.timezone.utc)
    answer = xray_client(sampling_daemon).get_sampling_targets(
        SamplingStatisticsDocuments=[
            {"RuleName": "orders", "ClientID": CLIENT_A, "Timestamp": now, "RequestCount": 10, "SampledCount": 6, "BorrowCount": 1},
            {"RuleName": "gone", "ClientID": CLIENT_A, "Timestamp": now, "RequestCount": 1, "SampledCount": 0},
        ]
    )
    (target,) = answer["SamplingTargetDocuments"]
    assert target["RuleName"] == "orders" and target["FixedRate"] == 0.5
    assert target["ReservoirQuota"] == 4 and target["Interval"] == 10
    assert target["ReservoirQuotaTTL"].timestamp() == T0 + 100
    assert answer["LastRuleModification"].timestamp() == T0
    assert answer["UnprocessedStatistics"] == [{"RuleName": "gone", "ErrorCode": "400", "Message": "no sampling rule named 'gone'"}]
    assert sampling_daemon.service.totals["orders"] == {"RequestCount": 10, "SampledCount": 6, "BorrowCount": 1}


def test_an_empty_body_gets_the_rules(sampling_daemon):
    status, _, body = post(sampling_daemon, "/GetSamplingRules", b"")
    assert status == 200 and [r["SamplingRule"]["RuleName"] for r in body["SamplingRuleRecords"]] == ["Default"]


@pytest.mark.parametrize(
    "document, message",
    [
        ({"RuleName": "r", "ClientID": "short", "Timestamp": T0, "RequestCount": 1, "SampledCount": 1}, "ClientID must be 24 hexadecimal"),
        ({"RuleName": "r", "ClientID": "z" * 24, "Timestamp": T0, "RequestCount": 1, "SampledCount": 1}, "ClientID must be 24 hexadecimal"),
        ({"RuleName": "", "ClientID": CLIENT_A, "Timestamp": T0, "RequestCount": 1, "SampledCount": 1}, "RuleName must be 1-32"),
        ({"RuleName": "x" * 33, "ClientID": CLIENT_A, "Timestamp": T0, "RequestCount": 1, "SampledCount": 1}, "RuleName must be 1-32"),
        ({"RuleName": "r", "ClientID": CLIENT_A, "RequestCount": 1, "SampledCount": 1}, "Timestamp is required"),
        ({"RuleName": "r", "ClientID": CLIENT_A, "Timestamp": "yesterday", "RequestCount": 1, "SampledCount": 1}, "Timestamp must be"),
        ({"RuleName": "r", "ClientID": CLIENT_A, "Timestamp": T0, "RequestCount": -1, "SampledCount": 0}, "RequestCount must be an integer"),
        ({"RuleName": "r", "ClientID": CLIENT_A, "Timestamp": T0, "RequestCount": 1}, "SampledCount is required"),
        ({"RuleName": "r", "ClientID": CLIENT_A, "Timestamp": T0, "RequestCount": 1, "SampledCount": 1, "BorrowCount": 1.5}, "BorrowCount"),
        ("not an object", "must be an object"),
    ],
)
def test_bad_statistics_are_invalid_requests(sampling_daemon, document, message):
    status, headers, body = post(sampling_daemon, "/SamplingTargets", {"SamplingStatisticsDocuments": [document]})
    assert status == 400
    assert headers["x-amzn-ErrorType"] == body["__type"] == "InvalidRequestException"
    assert message in body["message"]


def test_more_than_25_documents_are_refused_and_boto3_raises_the_apis_error(sampling_daemon):
    document = {"RuleName": "Default", "ClientID": CLIENT_A, "Timestamp": T0, "RequestCount": 1, "SampledCount": 1}
    status, _, body = post(sampling_daemon, "/SamplingTargets", {"SamplingStatisticsDocuments": [document] * 26})
    assert status == 400 and "at most 25" in body["message"]
    assert post(sampling_daemon, "/SamplingTargets", {})[0] == 400
    # botocore reads the error the way the service sends it
    with pytest.raises(ClientError) as raised:
        xray_client(sampling_daemon).get_sampling_rules(NextToken="bm90LWEtbnVtYmVy")
    assert raised.value.response["Error"]["Code"] == "InvalidRequestException"


def test_iso_timestamps_and_the_sample_count_misspelling_are_accepted_and_flagged(sampling_daemon):
    documents = [{"RuleName": "Default", "ClientID": CLIENT_A, "Timestamp": "2023-11-14T22:13:20Z", "RequestCount": 3, "SampleCount": 2}]
    status, _, body = post(sampling_daemon, "/SamplingTargets", {"SamplingStatisticsDocuments": documents})
    assert status == 200 and body["SamplingTargetDocuments"][0]["RuleName"] == "Default"
    (received,) = sampling_daemon.service.received
    assert received.timestamp == T0 and received.sampled_count == 2
    assert received.flags == ("sent SampleCount; the API's member is SampledCount",)
    assert "[sent SampleCount" in format_statistics(CLIENT_A, [received])


def test_statistics_are_announced_per_client_as_they_arrive():
    seen = []
    service = SamplingRulesService([rule("r", reservoir=3), SILENT_DEFAULT], on_statistics=lambda c, d: seen.append((c, d)))
    service.sampling_targets({"SamplingStatisticsDocuments": [
        {"RuleName": "r", "ClientID": CLIENT_A, "Timestamp": 1, "RequestCount": 5, "SampledCount": 3, "BorrowCount": 1},
        {"RuleName": "Default", "ClientID": CLIENT_B, "Timestamp": 1, "RequestCount": 2, "SampledCount": 0},
    ]})
    assert [(client, [d.rule_name for d in docs]) for client, docs in seen] == [(CLIENT_A, ["r"]), (CLIENT_B, ["Default"])]
    assert format_statistics(CLIENT_A, seen[0][1]) == (
        f"sampling statistics from client {CLIENT_A}: r: 5 request(s), 3 sampled, 1 borrowed"
    )


def test_quota_is_split_among_active_clients_with_the_remainder_to_the_lowest_ids():
    clock = [T0]
    service = SamplingRulesService([rule("r", reservoir=5), SILENT_DEFAULT], clock=lambda: clock[0])

    def report(client, requests=1):
        doc = {"RuleName": "r", "ClientID": client, "Timestamp": clock[0], "RequestCount": requests, "SampledCount": 0}
        return service.sampling_targets({"SamplingStatisticsDocuments": [doc]})["SamplingTargetDocuments"][0]["ReservoirQuota"]

    clients = ["%024x" % n for n in (3, 1, 2)]
    assert report(clients[0]) == 5
    assert report(clients[1]) == 3  # two active: 2 each, the remainder to the lower ID
    assert report(clients[2]) == 2  # three active: 1 each, +1 for the two lowest: 2, 2, 1
    assert report(clients[0]) == 1
    clock[0] += 31  # clients 1 and 2 have not reported for three intervals
    assert report(clients[0]) == 5
    # A client that asks gets a share, but reporting no requests does not count it for the others.
    assert report(clients[1], requests=0) == 3
    assert service.active_clients("r") == [clients[0]]
    assert report(clients[0]) == 5


def test_replacing_rules_moves_last_rule_modification():
    clock = [T0]
    service = SamplingRulesService([rule("a"), rule("b", priority=2)], clock=lambda: clock[0])
    clock[0] += 5
    service.set_rules([rule("a"), rule("b", priority=2)])  # nothing changed
    assert service.last_rule_modification == T0
    clock[0] += 5
    service.set_rules([rule("a"), rule("b", priority=2, rate=0.5)])
    assert service.last_rule_modification == T0 + 10
    records = {r["SamplingRule"]["RuleName"]: r for r in service.get_sampling_rules({})["SamplingRuleRecords"]}
    assert (records["a"]["ModifiedAt"], records["b"]["ModifiedAt"]) == (T0, T0 + 10)
    clock[0] += 5
    service.set_rules([rule("a")])  # a deletion is a change too
    assert service.last_rule_modification == T0 + 15
    with pytest.raises(ValueError, match="defined twice"):
        service.set_rules([rule("a"), rule("a")])


# -- otel-xray daemon --sampling-rules ---------------------------------------------------
def _run_daemon(args, requests):
    port = free_port()
    with cli_process("daemon", "--listen", f"127.0.0.1:{port}", *args, stderr=subprocess.STDOUT, text=True) as process:
        first = process.stdout.readline()
        assert f"listening on udp 127.0.0.1:{port}" in first, first + process.stdout.read()
        answers = []
        for path, body in requests:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("POST", path, body=json.dumps(body))
            answers.append(json.loads(connection.getresponse().read()))
            connection.close()
        process.terminate()  # SIGTERM: the daemon prints its summary and exits 0
        output = process.stdout.read()
        process.wait(timeout=30)
    process.stdout.close()
    assert process.returncode == 0, output
    return output, answers


def test_daemon_command_serves_a_rules_file_and_prints_statistics(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"SamplingRuleRecords": [{"SamplingRule": r.to_api()} for r in RULES[:2]]}))
    stats = {"RuleName": "health", "ClientID": CLIENT_A, "Timestamp": T0, "RequestCount": 7, "SampledCount": 1, "BorrowCount": 1}
    output, (rules, targets) = _run_daemon(
        ["--sampling-rules", str(path)], [("/GetSamplingRules", {}), ("/SamplingTargets", {"SamplingStatisticsDocuments": [stats]})]
    )
    assert [r["SamplingRule"]["RuleName"] for r in rules["SamplingRuleRecords"]] == ["health", "orders", "Default"]
    assert targets["SamplingTargetDocuments"][0]["ReservoirQuota"] == 1
    assert f"3 rule(s) from {path}" in output
    assert "\n      1  health: URLPath '/health' -> reservoir 1/s, then 0% (FixedRate 0)\n" in output
    assert f"sampling statistics from client {CLIENT_A}: health: 7 request(s), 1 sampled, 1 borrowed" in output


def test_daemon_command_reads_an_aws_xray_sdk_local_rules_file(tmp_path):
    path = tmp_path / "sampling_rules.json"
    path.write_text(json.dumps({
        "version": 2,
        "rules": [{"description": "Player moves.", "host": "*", "http_method": "*", "url_path": "/api/move/*", "fixed_target": 0, "rate": 0.05}],
        "default": {"fixed_target": 1, "rate": 0.1},
    }))
    output, (rules,) = _run_daemon(["--sampling-rules", str(path)], [("/GetSamplingRules", {})])
    got = [r["SamplingRule"] for r in rules["SamplingRuleRecords"]]
    assert [(r["RuleName"], r["Priority"], r["URLPath"], r["ReservoirSize"], r["FixedRate"]) for r in got] == [
        ("Player-moves", 1, "/api/move/*", 0, 0.05), ("Default", 10000, "*", 1, 0.1),
    ]


def test_daemon_command_serves_the_default_rule_without_a_file():
    output, (rules,) = _run_daemon([], [("/GetSamplingRules", {})])
    (only,) = rules["SamplingRuleRecords"]
    assert only["SamplingRule"]["RuleName"] == "Default"
    assert (only["SamplingRule"]["ReservoirSize"], only["SamplingRule"]["FixedRate"]) == (1, 0.05)
    assert "sampling API" not in output  # the default output is unchanged: the Default rule is served silently


def test_daemon_command_refuses_a_bad_rules_file(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([{"RuleName": "r", "Priority": 1, "FixedRate": 5, "ReservoirSize": 1}]))
    result = cli_run("daemon", "--listen", f"127.0.0.1:{free_port()}", "--sampling-rules", str(path), text=True, timeout=30)
    assert result.returncode == 2
    assert f"sampling rules file '{path}': rule 'r': FixedRate is required, a fraction from 0 to 1 (0.05 is 5%), got 5" in result.stderr


def test_rule_records_round_trip_through_the_api_shape():
    original = SamplingRule("r", 3, 0.25, 2, host="*.example.com", attributes=(("a", "1"),))
    from otel_xray.sampling import parse_rule

    assert parse_rule({"SamplingRule": original.to_api(), "CreatedAt": 0, "ModifiedAt": 0}) == SamplingRule(
        "r", 3, 0.25, 2, host="*.example.com", attributes=(("a", "1"),), rule_arn=original.to_api()["RuleARN"]
    )
