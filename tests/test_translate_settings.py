"""The translator's settings as config.py reads them (docs/mapping.md, "Settings")."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind

from otel_xray import XRaySpanExporter
from otel_xray.config import exporter_settings, parse_resource_metadata

from .spans import make_span


@pytest.mark.parametrize(
    "value, parsed",
    [
        ("", ()),
        ("all", ("all",)),
        (" NONE ", ("none",)),
        ("service.instance.id, telemetry.sdk.*", ("service.instance.id", "telemetry.sdk.*")),
    ],
)
def test_resource_metadata_setting(value, parsed):
    assert parse_resource_metadata(value) == parsed


@pytest.mark.parametrize("value", ["all,service.name", "tele*metry", "telemetry*", "none, x"])
def test_resource_metadata_setting_refuses_what_it_cannot_mean(value):
    with pytest.raises(ValueError, match="OTEL_EXPORTER_XRAY_RESOURCE_METADATA"):
        parse_resource_metadata(value)


def test_settings_reach_the_translator(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_XRAY_RESOURCE_METADATA", "service.instance.id")
    monkeypatch.setenv("OTEL_EXPORTER_XRAY_URL_QUERY", "keep")
    monkeypatch.setenv("OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES", "tenant")
    exporter = XRaySpanExporter()
    translator = exporter._translator
    exporter.shutdown()
    assert translator.options.resource_metadata == ("service.instance.id",)
    assert translator.options.keep_url_query is True and translator.options.indexed_attributes == ("tenant",)
    doc = translator.translate(make_span(kind=SpanKind.SERVER, resource={"service.name": "s", "service.instance.id": "i-1"}))
    assert doc["metadata"]["default"]["otel.resource.service.instance.id"] == "i-1"


def test_an_argument_wins_over_the_environment():
    settings = exporter_settings(environ={"OTEL_EXPORTER_XRAY_RESOURCE_METADATA": "none"}, resource_metadata=["all"])
    assert settings.resource_metadata == ("all",)
    with pytest.raises(ValueError, match="resource_metadata"):
        exporter_settings(environ={}, resource_metadata="all,x")
