"""The key sets that guard the translator's short ways are derived from the rule tables, and the
metadata split's short way agrees with the general split (issue 15, item 2).

Naming, http and AWS call fields no longer have short ways of their own: the plan for a span's
shape restricts each table to the keys present (``tests/test_translate_plans.py`` compares whole
documents, planned and general).
"""

from __future__ import annotations

from typing import Any, Dict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_xray.translate.attributes import ANNOTATIONS_ATTRIBUTE, METADATA_PREFIX, split_attributes, split_attributes_general
from otel_xray.translate.aws import CALL_KEYS
from otel_xray.translate.http import HTTP_KEY_SET
from otel_xray.translate.names import NAME_CHAIN, NAMING_KEYS
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
# No example database: nothing is written into the checkout.
SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def test_the_short_ways_guard_sets_are_derived_from_their_chains():
    assert NAMING_KEYS == {key for rule in NAME_CHAIN for key in rule.reads}
    # A rule's own guard lists only keys the rule reads.
    assert all(rule.needs is None or rule.needs <= set(rule.reads) for rule in NAME_CHAIN)
    assert "aws.sqs.queue.url" in CALL_KEYS and "http.request.header.x-forwarded-for" in HTTP_KEY_SET


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
def test_each_chain_key_alone_splits_the_same_way(key: str) -> None:
    for value in SINGLE_VALUES:
        attributes = {key: value, "custom.key": 1}
        assert split_attributes(attributes, {key}, (), False) == split_attributes_general(attributes, {key}, (), False)
