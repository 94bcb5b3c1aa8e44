"""Every short way the translator takes agrees with the rule chain it skips (issue 15, item 2).

Each fast path is guarded by a key set derived from its chain's table; these
properties force the general path on random attributes (drawn from every key
the chains read, plus others) and compare it with the public function.
"""

from __future__ import annotations

from typing import Any, Dict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind

from otel_xray.translate.attributes import ANNOTATIONS_ATTRIBUTE, METADATA_PREFIX, split_attributes, split_attributes_general
from otel_xray.translate.aws import CALL_KEYS, add_call_fields, add_call_fields_general
from otel_xray.translate.http import HTTP_KEY_SET, make_http, make_http_general
from otel_xray.translate.names import NAME_CHAIN, NAMING_KEYS, chain_name, document_name
from otel_xray.translate.sql import SQL_KEYS

CHAIN_KEYS = sorted(NAMING_KEYS | HTTP_KEY_SET | CALL_KEYS | set(SQL_KEYS))
OTHER_KEYS = ["http.route", "custom.key", "messaging.system", "network.peer.port", METADATA_PREFIX + "ns", ANNOTATIONS_ATTRIBUTE, "enduser.id"]
VALUES = st.one_of(
    st.sampled_from(["", "aws-api", "GET", "db.internal", "https://h.example.com/p?q=1", "10.0.0.1", "AWS::DynamoDB", '{"k": 1}', "sqlite", "postgresql"]),
    st.text(max_size=12),
    st.integers(min_value=-5, max_value=70_000),
    st.booleans(),
    st.lists(st.sampled_from(["a", "b", "custom.key"]), max_size=3).map(tuple),
)


def attribute_maps(keys: Any) -> Any:
    return st.dictionaries(st.sampled_from(keys), VALUES, max_size=8)


ANY_ATTRIBUTES = attribute_maps(CHAIN_KEYS + OTHER_KEYS)
# One key of some chain among others: where a key missing from a guard set would show.
FEW_CHAIN_KEYS = st.builds(
    lambda key, value, rest: {**rest, key: value},
    st.sampled_from(CHAIN_KEYS),
    st.one_of(VALUES, st.sampled_from(["payments", "x.example.com", "2001:db8::1"])),
    attribute_maps(OTHER_KEYS),
)
KINDS = st.sampled_from(list(SpanKind))
# No example database: nothing is written into the checkout.
SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def test_the_short_ways_guard_sets_are_derived_from_their_chains():
    assert NAMING_KEYS == {key for rule in NAME_CHAIN for key in rule.reads}
    # A rule's own guard lists only keys the rule reads.
    assert all(rule.needs is None or rule.needs <= set(rule.reads) for rule in NAME_CHAIN)
    assert "aws.sqs.queue.url" in CALL_KEYS and "http.request.header.x-forwarded-for" in HTTP_KEY_SET


@SETTINGS
@given(attributes=st.one_of(ANY_ATTRIBUTES, FEW_CHAIN_KEYS), kind=KINDS, span_name=st.sampled_from(["", "GET /x", "(bad)"]), service=st.sampled_from(["", "svc"]))
def test_naming_short_way_agrees_with_the_chain(attributes: Dict[str, Any], kind: SpanKind, span_name: str, service: str) -> None:
    assert document_name(span_name, kind, attributes, service) == chain_name(span_name, kind, attributes, service)


@SETTINGS
@given(attributes=st.one_of(ANY_ATTRIBUTES, FEW_CHAIN_KEYS), server=st.booleans(), keep=st.booleans())
def test_http_short_way_agrees_with_the_general_loop(attributes: Dict[str, Any], server: bool, keep: bool) -> None:
    fast_consumed: set = set()
    general_consumed: set = set()
    assert make_http(attributes, server, (), fast_consumed, keep) == make_http_general(attributes, server, (), general_consumed, keep)
    assert fast_consumed == general_consumed


@SETTINGS
@given(attributes=st.one_of(ANY_ATTRIBUTES, FEW_CHAIN_KEYS))
def test_aws_short_way_agrees_with_the_general_table(attributes: Dict[str, Any]) -> None:
    fast: Dict[str, Any] = {}
    general: Dict[str, Any] = {}
    fast_consumed: set = set()
    general_consumed: set = set()
    add_call_fields(fast, attributes, fast_consumed)  # type: ignore[arg-type]
    add_call_fields_general(general, attributes, general_consumed)  # type: ignore[arg-type]
    assert (fast, fast_consumed) == (general, general_consumed)


RESOURCE = (("otel.resource.service.name", "svc", "svc", True), ("otel.resource.service.instance.id", "x", "x", False))


@SETTINGS
@given(attributes=ANY_ATTRIBUTES, consumed_keys=st.sets(st.sampled_from(CHAIN_KEYS), max_size=4), segment=st.booleans())
def test_metadata_short_way_agrees_with_the_general_split(attributes: Dict[str, Any], consumed_keys: set, segment: bool) -> None:
    entries = RESOURCE if segment else None
    metadata = {key: safe for key, _, safe, kept in RESOURCE if kept} if segment else None
    fast = split_attributes(attributes, consumed_keys, (), False, entries, metadata)
    general = split_attributes_general(attributes, consumed_keys, (), False, entries)
    assert fast == general


# Every single key, with string values that each chain acts on: a key missing from a guard set shows here.
SINGLE_VALUES = ["payments", "aws-api", "https://h.example.com/p?q=1", "10.0.0.1", "503", ("a",)]


@pytest.mark.parametrize("key", CHAIN_KEYS)
def test_each_chain_key_alone_takes_the_same_way(key: str) -> None:
    for value in SINGLE_VALUES:
        attributes = {key: value, "custom.key": 1}
        for kind in SpanKind:
            assert document_name("n", kind, attributes, "svc") == chain_name("n", kind, attributes, "svc"), (kind, value)
        for server in (False, True):
            consumed_fast: set = set()
            consumed_general: set = set()
            assert make_http(attributes, server, (), consumed_fast) == make_http_general(attributes, server, (), consumed_general)
            assert consumed_fast == consumed_general
        fast: Dict[str, Any] = {}
        general: Dict[str, Any] = {}
        consumed_fast, consumed_general = set(), set()
        add_call_fields(fast, attributes, consumed_fast)  # type: ignore[arg-type]
        add_call_fields_general(general, attributes, consumed_general)  # type: ignore[arg-type]
        assert (fast, consumed_fast) == (general, consumed_general), value
        assert split_attributes(attributes, {key}, (), False) == split_attributes_general(attributes, {key}, (), False)
