"""Transport settings (udp | api, the API endpoint and Region), and the OTLP-outside-Lambda warning."""

from __future__ import annotations

import logging
from typing import Dict, Optional

import pytest

from otel_xray.config import TransportSettings, exporter_settings, transport_settings
from otel_xray.wire.otlp_udp import OUTSIDE_LAMBDA_WARNING, warn_if_outside_lambda


@pytest.mark.parametrize(
    "environ, arguments, expected",
    [
        ({}, {}, TransportSettings("udp", None, None, None)),
        ({"OTEL_EXPORTER_XRAY_TRANSPORT": " API "}, {}, TransportSettings("api", None, None, None)),
        ({"OTEL_EXPORTER_XRAY_TRANSPORT": "api"}, {"transport": "udp"}, TransportSettings("udp", None, None, None)),
        (
            {"OTEL_EXPORTER_XRAY_ENDPOINT": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_XRAY": "http://127.0.0.2:1"},
            {},
            TransportSettings("udp", "http://127.0.0.1:4566", "OTEL_EXPORTER_XRAY_ENDPOINT", None),
        ),
        (
            {"AWS_ENDPOINT_URL_XRAY": "https://xray.vpce.example:443/"},
            {},
            TransportSettings("udp", "https://xray.vpce.example:443/", "AWS_ENDPOINT_URL_XRAY", None),
        ),
        (
            # The AWS SDKs' switch that ignores configured endpoints applies to their variable only.
            {"AWS_ENDPOINT_URL_XRAY": "http://127.0.0.1:1", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
            {},
            TransportSettings("udp", None, None, None),
        ),
        (
            {"OTEL_EXPORTER_XRAY_ENDPOINT": "http://127.0.0.1:1"},
            {"api_endpoint": "http://localhost:2000"},
            TransportSettings("udp", "http://localhost:2000", "api_endpoint", None),
        ),
        ({"AWS_REGION": " eu-central-1 "}, {}, TransportSettings("udp", None, None, "eu-central-1")),
        ({"AWS_REGION": "eu-central-1"}, {"region": "us-gov-west-1"}, TransportSettings("udp", None, None, "us-gov-west-1")),
        # AWS_DEFAULT_REGION and the profile are botocore's to read.
        ({"AWS_DEFAULT_REGION": "sa-east-1"}, {}, TransportSettings("udp", None, None, None)),
    ],
)
def test_transport_settings_precedence(environ: Dict[str, str], arguments: Dict[str, str], expected: TransportSettings) -> None:
    assert transport_settings(environ=environ, **arguments) == expected


@pytest.mark.parametrize(
    "environ, arguments, words",
    [
        ({"OTEL_EXPORTER_XRAY_TRANSPORT": "tcp"}, {}, "OTEL_EXPORTER_XRAY_TRANSPORT='tcp' is not a transport"),
        ({}, {"transport": "http"}, "transport='http' is not a transport; use 'udp'"),
        ({"OTEL_EXPORTER_XRAY_ENDPOINT": "127.0.0.1:2000"}, {}, "OTEL_EXPORTER_XRAY_ENDPOINT='127.0.0.1:2000' is not an X-Ray API endpoint"),
        ({"AWS_ENDPOINT_URL_XRAY": "ftp://x"}, {}, "AWS_ENDPOINT_URL_XRAY='ftp://x' is not an X-Ray API endpoint"),
        ({}, {"api_endpoint": "http://"}, "api_endpoint='http://' is not an X-Ray API endpoint"),
        ({"AWS_REGION": "us east 1"}, {}, "AWS_REGION='us east 1' is not an AWS Region name"),
        ({}, {"region": "-bad-"}, "region='-bad-' is not an AWS Region name"),
        ({"OTEL_EXPORTER_XRAY_TRANSPORT": "api"}, {"protocol": "otlp"}, "use protocol 'json' with it"),
        (
            {"AWS_ENDPOINT_URL_XRAY": "http://127.0.0.1:1", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "maybe"},
            {},
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS='maybe' is not a boolean",
        ),
    ],
)
def test_bad_transport_settings_fail_loudly(environ: Dict[str, str], arguments: Dict[str, str], words: str) -> None:
    with pytest.raises(ValueError) as raised:
        transport_settings(environ=environ, **arguments)
    assert words in str(raised.value)


def test_otlp_stays_allowed_over_udp() -> None:
    assert transport_settings(protocol="otlp", environ={}).transport == "udp"


@pytest.mark.parametrize(
    "environ, warns",
    [
        ({"OTEL_EXPORTER_XRAY_PROTOCOL": "otlp"}, True),
        ({"OTEL_EXPORTER_XRAY_PROTOCOL": "otlp", "AWS_LAMBDA_FUNCTION_NAME": "checkout"}, False),
        ({"OTEL_EXPORTER_XRAY_PROTOCOL": "json"}, False),
        ({}, False),
    ],
)
def test_otlp_outside_lambda_warns_once_at_set_up(
    environ: Dict[str, str], warns: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    settings = exporter_settings(environ=environ)
    assert warn_if_outside_lambda(settings.protocol, settings.lambda_mode) is warns
    messages = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert messages == ([OUTSIDE_LAMBDA_WARNING] if warns else [])


def test_the_otlp_warning_says_what_happens_and_what_to_do() -> None:
    for words in ("outside AWS Lambda", "X-Ray daemon", "every span is lost", "protocol 'json'", "'api' transport"):
        assert words in OUTSIDE_LAMBDA_WARNING


def test_the_otlp_warning_goes_to_the_logger_given(caplog: pytest.LogCaptureFixture) -> None:
    logger: Optional[logging.Logger] = logging.getLogger("otel_xray.exporter")
    caplog.set_level(logging.WARNING)
    warn_if_outside_lambda("OTLP", False, logger)
    assert [record.name for record in caplog.records] == ["otel_xray.exporter"]
