"""XRayIdGenerator and ID conversions."""

from __future__ import annotations

import time
# The SDK's backport: Python 3.9's importlib.metadata.entry_points takes no group=.
from opentelemetry.util._importlib_metadata import entry_points

import pytest

from otel_xray import ids
from otel_xray.ids import XRayIdGenerator, derived_segment_id, new_segment_id, otel_trace_id, segment_id, xray_trace_id


def test_trace_id_high_32_bits_are_current_epoch_seconds():
    before = int(time.time())
    trace_id = XRayIdGenerator().generate_trace_id()
    after = int(time.time())
    assert before <= trace_id >> 96 <= after


def test_trace_id_low_96_bits_are_random():
    generator = XRayIdGenerator()
    lows = {generator.generate_trace_id() & ((1 << 96) - 1) for _ in range(1000)}
    assert len(lows) == 1000


def test_span_id_is_never_zero(monkeypatch):
    values = iter([0, 0, 7])
    monkeypatch.setattr(ids.random, "getrandbits", lambda bits: next(values))
    assert XRayIdGenerator().generate_span_id() == 7


def test_span_ids_are_64_bit():
    generator = XRayIdGenerator()
    assert all(0 < generator.generate_span_id() < 2**64 for _ in range(1000))


def test_xray_trace_id_format_and_round_trip():
    trace_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert xray_trace_id(trace_id) == "1-4bf92f35-77b34da6a3ce929d0e0e4736"
    assert otel_trace_id("1-4bf92f35-77b34da6a3ce929d0e0e4736") == trace_id
    assert xray_trace_id(1) == "1-00000000-000000000000000000000001"


@pytest.mark.parametrize("bad", ["", "1-abc-def", "2-4bf92f35-77b34da6a3ce929d0e0e4736", "1-4bf92f35-77b34da6a3ce929d0e0e473"])
def test_otel_trace_id_rejects_malformed(bad):
    with pytest.raises(ValueError):
        otel_trace_id(bad)


def test_segment_ids():
    assert segment_id(0xABC) == "0000000000000abc"
    generated = new_segment_id()
    assert len(generated) == 16 and int(generated, 16) != 0


def test_id_generator_entry_point_does_not_collide_with_xray():
    registered = {ep.name: ep.value for ep in entry_points(group="opentelemetry_id_generator")}
    assert registered["otel_xray"] == "otel_xray.ids:XRayIdGenerator"
    assert registered.get("xray") != "otel_xray.ids:XRayIdGenerator"


def test_id_generator_loads_through_the_sdk_configuration():
    from opentelemetry.sdk._configuration import _import_id_generator

    assert isinstance(_import_id_generator("otel_xray"), XRayIdGenerator)


@pytest.mark.parametrize("span_id", [1, 0x53995C3F42CD8AD8, 2**64 - 1, 0x9E3779B97F4A7C15])
def test_derived_segment_id_is_stable_valid_and_never_the_span_id(span_id):
    derived = derived_segment_id(span_id)
    assert derived == derived_segment_id(span_id)
    assert len(derived) == 16 and int(derived, 16) != 0 and int(derived, 16) != span_id


def test_derived_segment_ids_of_distinct_spans_differ():
    assert len({derived_segment_id(span_id) for span_id in range(1, 50_001)}) == 50_000
