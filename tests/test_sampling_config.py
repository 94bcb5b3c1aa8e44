"""Rules files (the API's shape and aws-xray-sdk local files), OTEL_TRACES_SAMPLER_ARG, the distro default, the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from otel_xray.config import parse_sampler_arg, parse_sampler_endpoint, sampler_settings
from otel_xray.sampling import DEFAULT_LOCAL_RULES, LocalRules, SamplingRule, load_local_rules, load_rules_file, rules_from_document

from .conftest import ROOT
from .sampling_helpers import rule, sampling_daemon  # noqa: F401

V2 = {
    "version": 2,
    "rules": [
        {"description": "Player moves.", "host": "*", "http_method": "*", "url_path": "/api/move/*", "fixed_target": 0, "rate": 0.05},
        {"description": "health", "host": "api.example.com", "http_method": "GET", "url_path": "/health", "fixed_target": 1, "rate": 0},
    ],
    "default": {"fixed_target": 1, "rate": 0.1},
}


# -- aws-xray-sdk local rules files -------------------------------------------------------
def test_a_version_2_file_from_a_path_or_a_dict(tmp_path):
    path = tmp_path / "sampling_rules.json"
    path.write_text(json.dumps(V2))
    loaded = load_local_rules(path)
    assert loaded == load_local_rules(str(path))
    assert (loaded.version, len(loaded.rules), loaded.default.fixed_target, loaded.default.rate) == (2, 2, 1, 0.1)
    assert loaded.rules[1].host == "api.example.com" and loaded.source == str(path)
    assert load_local_rules(V2).rules == loaded.rules


def test_a_version_1_file_names_the_host_service_name():
    loaded = load_local_rules({
        "version": 1,
        "rules": [{"service_name": "*.example.com", "http_method": "GET", "url_path": "/x", "fixed_target": 2, "rate": 0.5}],
        "default": {"fixed_target": 1, "rate": 0.05},
    })
    assert loaded.rules[0].host == "*.example.com"


def test_the_built_in_default_is_one_per_second_plus_five_percent():
    assert DEFAULT_LOCAL_RULES == LocalRules(2, (), DEFAULT_LOCAL_RULES.default, "built-in")
    assert (DEFAULT_LOCAL_RULES.default.fixed_target, DEFAULT_LOCAL_RULES.default.rate) == (1, 0.05)


@pytest.mark.parametrize(
    "document, message",
    [
        ({"version": 3, "default": {"fixed_target": 1, "rate": 0.05}}, "version 3 is not supported"),
        ({"version": True, "default": {"fixed_target": 1, "rate": 0.05}}, "version True is not supported"),
        ({"version": 2}, "a 'default' rule is required"),
        ({"version": 2, "default": {"fixed_target": 1, "rate": 0.05, "url_path": "/x"}}, "must not have url_path"),
        ({"version": 2, "default": {"fixed_target": -1, "rate": 0.05}}, "fixed_target must be an integer >= 0"),
        ({"version": 2, "default": {"fixed_target": 1, "rate": 5}}, "rate must be a fraction from 0 to 1 (0.05 is 5%)"),
        ({"version": 2, "default": {"fixed_target": 1, "rate": 0.05}, "rules": [{"host": "*", "url_path": "/x", "fixed_target": 0, "rate": 0}]},
         "rules[0]: every rule other than the default needs http_method"),
        ({"version": 1, "default": {"fixed_target": 1, "rate": 0.05}, "rules": [{"host": "*", "http_method": "*", "url_path": "/x", "fixed_target": 0, "rate": 0}]},
         "needs service_name"),
        ({"version": 2, "default": {"fixed_target": 1, "rate": 0.05}, "rules": {}}, "'rules' must be a list"),
    ],
)
def test_bad_local_files_say_what_is_wrong(document, message):
    with pytest.raises(ValueError) as raised:
        load_local_rules(document)
    assert message in str(raised.value)


def test_unreadable_local_files_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read local sampling rules file .*missing.json"):
        load_local_rules(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match="bad.json' is not JSON"):
        load_local_rules(bad)
    api_rules = tmp_path / "api.json"
    api_rules.write_text(json.dumps([rule("r").to_api()]))
    with pytest.raises(ValueError, match="a list looks like rules in the X-Ray API's shape"):
        load_local_rules(api_rules)
    with pytest.raises(TypeError):
        load_local_rules(42)  # type: ignore[arg-type]


def test_a_local_file_maps_onto_the_apis_rules():
    rules = load_local_rules(V2).to_sampling_rules()
    assert rules == (
        SamplingRule("Player-moves", 1, 0.05, 0, url_path="/api/move/*"),
        SamplingRule("health", 2, 0.0, 1, host="api.example.com", http_method="GET", url_path="/health"),
        SamplingRule("Default", 10000, 0.1, 1),
    )


# -- rules files in the API's shape ---------------------------------------------------------
def test_rules_files_in_every_shape_the_console_and_cli_produce(tmp_path):
    api = [rule("a", url_path="/a").to_api(), rule("b", priority=2).to_api()]
    shapes = [api, [{"SamplingRule": r} for r in api], {"SamplingRuleRecords": [{"SamplingRule": r, "CreatedAt": 0} for r in api]}]
    for index, shape in enumerate(shapes):
        path = tmp_path / f"{index}.json"
        path.write_text(json.dumps(shape))
        assert [r.rule_name for r in load_rules_file(path)] == ["a", "b", "Default"]
    assert [r.rule_name for r in rules_from_document({"SamplingRule": api[0]})] == ["a", "Default"]
    assert [r.rule_name for r in rules_from_document(api, with_default=False)] == ["a", "b"]


def test_a_rule_written_by_hand_needs_only_its_name_priority_rate_and_reservoir():
    (written, _default) = rules_from_document([{"RuleName": "r", "Priority": 5, "FixedRate": 0.5, "ReservoirSize": 2}])
    assert written == SamplingRule("r", 5, 0.5, 2)


@pytest.mark.parametrize(
    "item, message",
    [
        ({"Priority": 1, "FixedRate": 0.1, "ReservoirSize": 1}, "RuleName is required"),
        ({"RuleName": "x" * 33, "Priority": 1, "FixedRate": 0.1, "ReservoirSize": 1}, "RuleName must be 1-32"),
        ({"RuleName": "r", "Priority": 0, "FixedRate": 0.1, "ReservoirSize": 1}, "Priority 0 is outside 1-9999"),
        ({"RuleName": "r", "Priority": 10000, "FixedRate": 0.1, "ReservoirSize": 1}, "only the Default rule has 10000"),
        ({"RuleName": "r", "Priority": 1, "FixedRate": 5, "ReservoirSize": 1}, "FixedRate is required, a fraction from 0 to 1"),
        ({"RuleName": "r", "Priority": 1, "FixedRate": 0.1, "ReservoirSize": -1}, "ReservoirSize is required, an integer >= 0"),
        ({"RuleName": "r", "Priority": 1, "FixedRate": 0.1, "ReservoirSize": 1, "URLPath": "/" * 129}, "URLPath is longer than 128"),
        ({"RuleName": "r", "Priority": 1, "FixedRate": 0.1, "ReservoirSize": 1, "HTTPMethod": 7}, "HTTPMethod must be a string"),
        ({"RuleName": "r", "Priority": 1, "FixedRate": 0.1, "ReservoirSize": 1, "Attributes": {str(i): "v" for i in range(6)}}, "at most 5"),
        ({"RuleName": "r", "Priority": 1, "FixedRate": 0.1, "ReservoirSize": 1, "Attributes": {"k": ""}}, "1-32 characters"),
        ({"RuleName": "r", "Priority": 1, "FixedRate": 0.1, "ReservoirSize": 1, "UrlPath": "/x"}, "unknown member(s) UrlPath"),
        ({"RuleName": "r", "Priority": 1, "FixedRate": 0.1, "ReservoirSize": 1, "Version": 0}, "Version must be an integer >= 1"),
    ],
)
def test_bad_rules_name_the_rule_and_the_member(item, message):
    with pytest.raises(ValueError) as raised:
        rules_from_document([item])
    assert message in str(raised.value)


def test_two_rules_of_one_name_are_refused():
    with pytest.raises(ValueError, match="'r' is defined twice"):
        rules_from_document([rule("r").to_api(), rule("r", priority=2).to_api()])


# -- OTEL_TRACES_SAMPLER_ARG and the endpoint ------------------------------------------------
def test_sampler_arg_keys():
    assert parse_sampler_arg(None) == {} and parse_sampler_arg(" ") == {}
    assert parse_sampler_arg("endpoint=http://127.0.0.1:2000, polling_interval=60,fallback_rules=/r.json,") == {
        "endpoint": "http://127.0.0.1:2000", "polling_interval": 60.0, "fallback_rules": "/r.json",
    }


@pytest.mark.parametrize(
    "value, message",
    [
        ("0.5", "'0.5' is not key=value"),
        ("rate=0.5", "unknown key 'rate'"),
        ("polling_interval=0", "must be a positive number of seconds"),
        ("polling_interval=soon", "is not a number of seconds"),
        ("endpoint=https://127.0.0.1:2000", "only http:// is supported"),
        ("endpoint=http://127.0.0.1:2000/GetSamplingRules", "no path"),
        ("endpoint=http://127.0.0.1", "a host and a port are required"),
        ("endpoint=a:1,endpoint=b:2", "'endpoint' is given twice"),
        ("fallback_rules=", "fallback_rules needs a file path"),
    ],
)
def test_bad_sampler_args_name_the_variable(value, message):
    with pytest.raises(ValueError) as raised:
        parse_sampler_arg(value)
    assert message in str(raised.value) and "OTEL_TRACES_SAMPLER_ARG" in str(raised.value)


@pytest.mark.parametrize(
    "endpoint, expected",
    [("127.0.0.1:2000", ("127.0.0.1", 2000)), ("http://localhost:3000/", ("localhost", 3000)),
     ("http://[::1]:2000", ("::1", 2000)), ("tcp:127.0.0.2:5 udp:127.0.0.3:6", ("127.0.0.2", 5))],
)
def test_endpoint_forms(endpoint, expected):
    assert parse_sampler_endpoint(endpoint) == expected


def test_sampler_settings_read_the_tcp_address_from_the_environment():
    env = {"AWS_XRAY_DAEMON_ADDRESS": "tcp:10.0.0.1:2001 udp:10.0.0.1:2000"}
    assert sampler_settings(environ=env)[:2] == ("10.0.0.1", 2001)
    assert sampler_settings(endpoint="127.0.0.1:9", environ=env)[:2] == ("127.0.0.1", 9)
    assert sampler_settings(environ={}).url == "http://127.0.0.1:2000"
    assert sampler_settings(environ={}).polling_interval == 300
    with pytest.raises(ValueError, match="AWS_XRAY_DAEMON_ADDRESS"):
        sampler_settings(environ={"AWS_XRAY_DAEMON_ADDRESS": "nonsense"})


# -- the distro's default ---------------------------------------------------------------------
def test_the_distro_makes_xray_the_sampler_outside_lambda_only(monkeypatch):
    import os

    from otel_xray.distro import apply_defaults

    apply_defaults()
    assert os.environ["OTEL_TRACES_SAMPLER"] == "xray"
    monkeypatch.delenv("OTEL_TRACES_SAMPLER")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    apply_defaults()
    assert "OTEL_TRACES_SAMPLER" not in os.environ  # Lambda's own decision (_X_AMZN_TRACE_ID) rules there
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    apply_defaults()
    assert os.environ["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"


def test_the_sampler_entry_point_is_xray():
    from opentelemetry.util._importlib_metadata import entry_points

    from otel_xray.sampling import xray_sampler_from_arg

    found = [ep for ep in entry_points(group="opentelemetry_traces_sampler") if ep.name == "xray"]
    assert len(found) == 1 and found[0].load() is xray_sampler_from_arg


# -- otel-xray sampling explain ------------------------------------------------------------------
def explain(*args):
    return subprocess.run([sys.executable, "-m", "otel_xray.cli", "sampling", "explain", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_explain_says_which_rule_matches_and_why_the_others_do_not(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([
        rule("health", priority=1, url_path="/health").to_api(),
        rule("tenant", priority=2, attributes=(("tenant", "acme*"),)).to_api(),
        rule("orders", priority=3, service_name="checkout", http_method="GET", url_path="/orders/*").to_api(),
        rule("ecs-only", priority=4, service_type="AWS::ECS::Container").to_api(),
    ]))
    result = explain("--rules", str(path), "--service", "checkout", "--method", "GET",
                     "--url", "https://api.example.com/orders/42", "--attr", "tenant=other")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:10] == [
        "request: ServiceName 'checkout', ServiceType '', ResourceARN '', Host 'api.example.com', HTTPMethod 'GET', "
        "URLPath '/orders/42', attribute tenant='other'",
        f"rules from {path} (and X-Ray's Default rule, which the service always has), in the order they are tried "
        "(priority, then name):",
        "  1. health (priority 1): no",
        "       URLPath '/health' does not match '/orders/42'",
        "  2. tenant (priority 2): no",
        "       Attributes tenant='acme*' does not match 'other'",
        "  3. orders (priority 3): MATCHES -> no reservoir, then 100% (FixedRate 1)",
        "  4. ecs-only (priority 4): no",
        "       ServiceType 'AWS::ECS::Container' does not match ''",
        "  5. Default (priority 10000): would match, but 'orders' comes first",
    ], result.stdout
    assert "decision: rule 'orders': 100% of requests (no reservoir)" in result.stdout


def test_explain_reports_a_missing_field_and_a_local_rules_file(tmp_path):
    path = tmp_path / "sampling_rules.json"
    path.write_text(json.dumps(V2))
    result = explain("--rules", str(path), "--path", "/health", "--service-type", "aws_ecs")
    assert result.returncode == 0, result.stderr
    assert "ServiceType 'AWS::ECS::Container'" in result.stdout
    assert "HTTPMethod 'GET': the request has no HTTPMethod" in result.stdout
    assert "3. Default (priority 10000): MATCHES -> reservoir 1/s, then 10% (FixedRate 0.1)" in result.stdout


def test_explain_against_a_running_daemon(sampling_daemon):
    sampling_daemon.service.set_rules([rule("v2", version=2), rule("all", priority=2)])
    result = explain("--daemon", sampling_daemon.endpoint, "--path", "/x")
    assert result.returncode == 0, result.stderr
    assert f"rules from http://{sampling_daemon.endpoint}" in result.stdout
    assert "ignored: Version 2 (the SDKs use only Version 1 rules)" in result.stdout
    assert "2. all (priority 2): MATCHES" in result.stdout


def test_explain_without_a_daemon_says_why():
    result = explain("--daemon", "127.0.0.1:1", "--path", "/x")
    assert result.returncode == 2 and "connection refused by http://127.0.0.1:1" in result.stderr


def test_the_sampling_demo_shows_rules_deciding():
    from otel_xray.demo_sampling import run_sampling_demo

    out = io.StringIO()
    assert run_sampling_demo(out, seconds=2) == 0, out.getvalue()
    text = out.getvalue()
    assert "the sampler fetched 3 rule(s)" in text
    lines = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.startswith(("health ", "orders ", "Default "))}
    requests, sampled, borrowed, received = (int(v) for v in lines["orders"])
    assert requests == sampled == received == 80 and borrowed == 0
    requests, sampled, borrowed, received = (int(v) for v in lines["health"])
    assert requests == 66 and 2 <= sampled == borrowed == received <= 3
