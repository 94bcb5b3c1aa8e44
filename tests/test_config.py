"""Settings: daemon address forms, precedence, validation at construction."""

from __future__ import annotations

import pytest

from otel_xray import XRaySpanExporter
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
