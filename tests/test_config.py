"""Settings: daemon address forms, precedence, validation at construction."""

from __future__ import annotations

import ast
import os
import pathlib

import pytest

from otel_xray import XRaySpanExporter
from otel_xray import config as config_module
from otel_xray.config import DaemonAddress, exporter_settings, parse_daemon_address


@pytest.mark.parametrize(
    "value, expected",
    [
        ("127.0.0.1:2000", DaemonAddress("127.0.0.1", 2000, "127.0.0.1", 2000)),
        (" localhost:2001 ", DaemonAddress("localhost", 2001, "localhost", 2001)),
        ("xray-daemon.internal:2000", DaemonAddress("xray-daemon.internal", 2000, "xray-daemon.internal", 2000)),
        ("[::1]:2000", DaemonAddress("::1", 2000, "::1", 2000)),
        ("tcp:127.0.0.1:2000 udp:127.0.0.2:2001", DaemonAddress("127.0.0.2", 2001, "127.0.0.1", 2000)),
        ("udp:127.0.0.2:2001 tcp:127.0.0.1:2000", DaemonAddress("127.0.0.2", 2001, "127.0.0.1", 2000)),
        ("UDP:[::1]:2001 TCP:localhost:2000", DaemonAddress("::1", 2001, "localhost", 2000)),
    ],
)
def test_accepted_daemon_address_forms(value, expected):
    assert parse_daemon_address(value) == expected


@pytest.mark.parametrize(
    "value, why",
    [
        ("", "empty"),
        ("127.0.0.1", "a host and a port"),
        (":2000", "a host and a port"),
        ("127.0.0.1:port", "not a number"),
        ("127.0.0.1:0", "outside 1-65535"),
        ("127.0.0.1:70000", "outside 1-65535"),
        ("::1:2000", "brackets"),
        ("[::1]2000", "[addr]:port"),
        ("[not-ipv6]:2000", "not an IPv6 address"),
        ("bad host:2000", "'tcp:' or 'udp:'"),
        ("udp:127.0.0.1:2000", "both"),
        ("tcp:127.0.0.1:2000 tcp:127.0.0.1:2001", "given twice"),
        ("tcp:a:1 udp:b:2 udp:c:3", "too many parts"),
        ("http://127.0.0.1:2000", "drop the scheme"),
        ("under_score!:2000", "not a host name"),
        # One strict grammar: ASCII digits only in ports, real IPv4 addresses only.
        ("127.0.0.1:\u0662\u0660\u0660\u0660", "not a number"),  # Arabic-Indic digits that int() reads as 2000
        ("127.0.0.1:\u00b2", "not a number"),  # superscript two: isdigit() says yes, int() raises
        ("127.0.0.1:+2000", "not a number"),
        ("127.0.0.1: 2000", "'tcp:' or 'udp:'"),
        ("999.999.999.999:2000", "not an IPv4 address"),
        ("1.2.3:2000", "not an IPv4 address"),  # inet_aton would read 1.2.0.3
        ("0x7f.1:2000", "not an IPv4 address"),  # inet_aton would read 127.0.0.1
        ("127.000.000.001:2000", "not an IPv4 address"),
        ("b\u00fccher.example:2000", "not a host name"),
        ("host\n:2000", "'tcp:' or 'udp:'"),
        ("tcp:127.0.0.1:2000 udp:127.0.0.1:\u0662\u0660", "not a number"),
    ],
)
def test_rejected_daemon_addresses_name_the_setting_and_the_forms(value, why):
    with pytest.raises(ValueError) as raised:
        parse_daemon_address(value, "AWS_XRAY_DAEMON_ADDRESS")
    message = str(raised.value)
    assert "AWS_XRAY_DAEMON_ADDRESS" in message and why in message
    assert "host:port" in message and "tcp:host:port udp:host:port" in message


def test_default_address_without_arguments_or_environment():
    assert exporter_settings(environ={}).daemon.udp == ("127.0.0.1", 2000)


def test_environment_wins_over_default():
    assert exporter_settings(environ={"AWS_XRAY_DAEMON_ADDRESS": "10.1.2.3:3000"}).daemon.udp == ("10.1.2.3", 3000)


def test_argument_wins_over_environment():
    settings = exporter_settings(endpoint="127.0.0.9:4000", environ={"AWS_XRAY_DAEMON_ADDRESS": "garbage"})
    assert settings.daemon.udp == ("127.0.0.9", 4000)


def test_indexed_attributes_from_environment_and_arguments():
    env = {"OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES": " order.id, customer.tier ,,", "OTEL_EXPORTER_XRAY_INDEX_ALL_ATTRIBUTES": "TRUE"}
    settings = exporter_settings(environ=env)
    assert settings.indexed_attributes == ("order.id", "customer.tier") and settings.index_all_attributes is True
    settings = exporter_settings(indexed_attributes=["x"], index_all_attributes=False, environ=env)
    assert settings.indexed_attributes == ("x",) and settings.index_all_attributes is False


def test_bad_boolean_names_the_variable():
    with pytest.raises(ValueError, match="OTEL_EXPORTER_XRAY_INDEX_ALL_ATTRIBUTES='maybe'"):
        exporter_settings(environ={"OTEL_EXPORTER_XRAY_INDEX_ALL_ATTRIBUTES": "maybe"})


def test_indexed_attributes_argument_must_not_be_a_string():
    with pytest.raises(TypeError):
        exporter_settings(indexed_attributes="order.id", environ={})


def test_exporter_rejects_a_bad_environment_at_construction(monkeypatch):
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "nonsense")
    with pytest.raises(ValueError, match="AWS_XRAY_DAEMON_ADDRESS"):
        XRaySpanExporter()


def test_exporter_rejects_a_bad_endpoint_argument_naming_it():
    with pytest.raises(ValueError, match="endpoint="):
        XRaySpanExporter(endpoint="1.2.3.4")


def test_exporter_reads_the_two_address_form(monkeypatch):
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "tcp:127.0.0.1:2000 udp:127.0.0.1:2999")
    exporter = XRaySpanExporter()
    assert exporter.daemon.udp == ("127.0.0.1", 2999)
    exporter.shutdown()


@pytest.mark.parametrize("value", ["127.0.0.1:\u0662\u0660\u0660\u0660", "127.0.0.1:\u00b2", "999.999.999.999:2000"])
def test_the_exporter_names_the_setting_a_bad_address_came_from(monkeypatch, value):
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", value)
    with pytest.raises(ValueError, match="^AWS_XRAY_DAEMON_ADDRESS="):
        XRaySpanExporter()
    with pytest.raises(ValueError, match="^endpoint="):
        XRaySpanExporter(endpoint=value)


# ---------------------------------------------------------------- one reader, one Lambda rule
@pytest.mark.parametrize("value, in_lambda", [(None, False), ("", False), ("  ", False), ("orders-fn", True), (" orders-fn ", True)])
def test_one_lambda_rule_everywhere(monkeypatch, value, in_lambda):
    from otel_xray import aws_lambda, config, distro

    environ = {} if value is None else {"AWS_LAMBDA_FUNCTION_NAME": value}
    assert config.in_lambda(environ) is in_lambda
    assert exporter_settings(environ=environ).lambda_mode is in_lambda
    assert ("service.name" in aws_lambda.lambda_resource_attributes(environ)) is in_lambda
    # The distro decides from the process environment.
    for name in list(os.environ):
        monkeypatch.delenv(name)
    if value is not None:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", value)
    distro.apply_defaults()
    assert (os.environ["OTEL_PROPAGATORS"] == distro.LAMBDA_PROPAGATORS) is in_lambda


def test_lambda_environment_reads_blanks_as_unset():
    from otel_xray.config import lambda_environment

    env = {
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_REGION": " ",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "\u0665\u0661\u0662",  # not ASCII digits: not a size
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
    }
    lam = lambda_environment(env)
    assert (lam.function_name, lam.region, lam.memory_mb, lam.log_group_name) == ("fn", None, None, "/aws/lambda/fn")
    assert lambda_environment({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}).memory_mb == 512


@pytest.mark.parametrize(
    "environ, configured",
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "svc"}, True),
        ({"OTEL_SERVICE_NAME": " "}, False),
        ({"OTEL_RESOURCE_ATTRIBUTES": "team=a, service.name = svc"}, True),
        ({"OTEL_RESOURCE_ATTRIBUTES": "my.service.name=x"}, False),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name="}, False),
    ],
)
def test_service_name_configured(environ, configured):
    from otel_xray.config import service_name_configured

    assert service_name_configured(environ) is configured


def test_propagator_names():
    from otel_xray.config import propagator_names

    assert propagator_names({"OTEL_PROPAGATORS": " xray, ,tracecontext,none,"}) == ("xray", "tracecontext")
    assert propagator_names({}) == ()


def test_only_config_reads_the_environment():
    """config.py says it is the one reader of environment variables: no other module of the package reads them."""
    package = pathlib.Path(config_module.__file__).parent
    readers = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "config.py" and path.parent == package:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
                base = node.value
                if isinstance(base, ast.Name) and base.id == "os":
                    readers.append(f"{path.relative_to(package)}:{node.lineno}")
            elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                alias.name in ("environ", "getenv", "environb") for alias in node.names
            ):
                readers.append(f"{path.relative_to(package)}:{node.lineno}")
    assert readers == [], f"environment read outside otel_xray/config.py: {readers}"
