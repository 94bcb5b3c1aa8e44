"""Annotations and metadata (R90-R101) and JSON-safe values."""

from __future__ import annotations

import json
import math

import pytest
from opentelemetry.trace import SpanKind

from otel_xray.translate import Translator
from otel_xray.translate.attributes import annotation_key
from otel_xray.values import NESTING_MARKER, json_value

from .spans import make_span, raw_span, span_context

PARENT = span_context()


def translate(attributes=None, indexed=(), index_all=False, kind=SpanKind.INTERNAL, parent=PARENT, resource=None):
    span = make_span(attributes=attributes, kind=kind, parent=parent, resource=resource)
    return Translator(indexed, index_all).translate(span)


# --------------------------------------------------------------- JSON-safe values
@pytest.mark.parametrize(
    "value, expected",
    [
        ("text", "text"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        (True, True),
        (None, None),
        (42, 42),
        (2**63 - 1, 2**63 - 1),
        (2**63, str(2**63)),
        (-(2**64), str(-(2**64))),
        (1.5, 1.5),
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (b"\x00\xffhi", "AP9oaQ=="),
        ((1, "a", None), [1, "a", None]),
        ({1: "x", "k": [math.nan]}, {"1": "x", "k": ["NaN"]}),
        (object, str(object)),
    ],
)
def test_json_value_conversions(value, expected):
    assert json_value(value) == expected


def test_json_value_bounds_nesting_and_self_reference():
    loop = []
    loop.append(loop)
    converted = json_value(loop)
    text = json.dumps(converted, allow_nan=False)
    assert NESTING_MARKER in text


def test_json_value_survives_a_broken_str():
    class Broken:
        def __str__(self):
            raise RuntimeError("no")

    assert json_value(Broken()) == "<unprintable Broken>"


# --------------------------------------------------------------- annotation keys (R98)
@pytest.mark.parametrize(
    "key, fixed",
    [
        ("Key.1", "Key.1"),
        ("Key@1", "Key_1"),
        ("attr1@1", "attr1_1"),
        ("a-b:c d", "a_b_c_d"),
        ("ünïcode", "_n_code"),
        ("under_score", "under_score"),
        ("k" * 600, "k" * 500),
    ],
)
def test_r98_annotation_key(key, fixed):
    assert annotation_key(key) == fixed


# --------------------------------------------------------------- metadata and annotations
def test_r95_unindexed_attributes_go_to_default_metadata_with_raw_values():
    doc = translate({"s": "v", "i": 1, "f": 2.5, "b": True, "arr": [1, 2], "strs": ["a"]})
    assert doc["metadata"] == {"default": {"s": "v", "i": 1, "f": 2.5, "b": True, "arr": [1, 2], "strs": ["a"]}}
    assert "annotations" not in doc


def test_r92_indexed_attributes_become_annotations_with_sanitised_keys():
    doc = translate({"order.id": "42", "customer@tier": "gold", "other": 1}, indexed=("order.id", "customer@tier"))
    assert doc["annotations"] == {"order.id": "42", "customer_tier": "gold"}
    assert doc["metadata"] == {"default": {"other": 1}}


def test_r92_aws_xray_annotations_attribute_lists_keys_and_is_consumed():
    # Non-string entries are ignored (a mixed list, which newer SDKs keep).
    doc = Translator().translate(raw_span(attributes={"a": 1, "b": "x", "aws.xray.annotations": ("a", 7)}))
    assert doc["annotations"] == {"a": 1}
    assert doc["metadata"] == {"default": {"b": "x"}}


def test_r92_string_aws_xray_annotations_is_plain_metadata():
    doc = translate({"a": 1, "aws.xray.annotations": "a"})
    assert "annotations" not in doc and doc["metadata"]["default"]["aws.xray.annotations"] == "a"


def test_r94_index_all_annotates_every_scalar():
    doc = translate({"a": 1, "b": "x", "c": False}, index_all=True)
    assert doc["annotations"] == {"a": 1, "b": "x", "c": False}


def test_r94_index_all_keeps_non_scalars_in_metadata_instead_of_dropping_them():
    doc = translate({"a": 1, "arr": [1, 2]}, index_all=True)
    assert doc["annotations"] == {"a": 1}
    assert doc["metadata"] == {"default": {"arr": [1, 2]}}


def test_r95_indexed_non_scalar_goes_to_metadata_instead_of_being_dropped():
    doc = translate({"arr": [1, 2]}, indexed=("arr",))
    assert "annotations" not in doc and doc["metadata"]["default"]["arr"] == [1, 2]


def test_non_finite_indexed_float_goes_to_metadata_as_text():
    doc = translate({"ratio": math.nan}, indexed=("ratio",))
    assert "annotations" not in doc and doc["metadata"]["default"]["ratio"] == "NaN"


def test_annotation_keys_that_collide_keep_the_first_and_the_rest_in_metadata():
    doc = translate({"a.b@": 1, "a.b-": 2}, index_all=True)
    assert doc["annotations"] == {"a.b_": 1}
    assert doc["metadata"]["default"] == {"a.b-": 2}


def test_annotation_strings_are_cut_to_1000_characters():
    assert translate({"k": "x" * 1500}, index_all=True)["annotations"]["k"] == "x" * 1000


@pytest.mark.parametrize(
    "value, expected",
    [
        ('{"k": 1}', {"custom": {"k": 1}}),
        ("not json", {"default": {"aws.xray.metadata.custom": "not json"}}),
        ("[1, 2]", {"default": {"aws.xray.metadata.custom": "[1, 2]"}}),
    ],
)
def test_r95_aws_xray_metadata_namespaces(value, expected):
    assert translate({"aws.xray.metadata.custom": value})["metadata"] == expected


def test_r95_aws_xray_metadata_default_merges_into_default():
    doc = translate({"aws.xray.metadata.DEFAULT": '{"x": 1}', "y": 2})
    assert doc["metadata"] == {"default": {"x": 1, "y": 2}}


def test_r100_consumed_attributes_named_in_configuration_are_also_annotations():
    doc = translate({"aws.operation": "PutItem", "rpc.method": "PutItem"}, indexed=("aws.operation", "rpc.method"), kind=SpanKind.CLIENT)
    assert doc["annotations"] == {"aws.operation": "PutItem", "rpc.method": "PutItem"}
    assert doc["aws"]["operation"] == "PutItem"


def test_r100_index_all_alone_does_not_annotate_consumed_attributes():
    doc = translate({"aws.operation": "PutItem"}, index_all=True, kind=SpanKind.CLIENT)
    assert "annotations" not in doc


def test_r93_resource_attributes_on_segments_as_otel_resource_metadata():
    doc = translate(parent=None, kind=SpanKind.SERVER, resource={"service.name": "s", "cloud.region": "eu-west-1", "tags": ("a", "b")})
    default = doc["metadata"]["default"]
    assert default["otel.resource.cloud.region"] == "eu-west-1"
    assert default["otel.resource.tags"] == ["a", "b"]
    # The segment is named after the service: its name shows service.name, which is not repeated.
    assert doc["name"] == "s" and "otel.resource.service.name" not in default


@pytest.mark.parametrize(
    "attributes, resource_metadata, kept",
    [
        # Named otherwise (aws.local.service), the segment does not show service.name: kept.
        ({"aws.local.service": "front"}, (), True),
        # Asked for by name, or with everything: kept.
        ({}, ("service.name",), True),
        ({}, ("all",), True),
        ({}, ("service.*",), True),
        # The default, on a segment named after the service: shown once, as its name.
        ({}, (), False),
    ],
)
def test_service_name_is_left_out_of_metadata_only_where_the_segment_name_shows_it(attributes, resource_metadata, kept):
    span = make_span(kind=SpanKind.SERVER, attributes=attributes, resource={"service.name": "shop", "team": "t"})
    doc = Translator(resource_metadata=resource_metadata).translate(span)
    assert ("otel.resource.service.name" in doc["metadata"]["default"]) is kept


def test_a_service_name_the_segment_name_changes_is_kept_in_metadata():
    doc = translate(parent=None, kind=SpanKind.SERVER, resource={"service.name": "shop (eu)"})
    assert doc["name"] == "shop eu" and doc["metadata"]["default"]["otel.resource.service.name"] == "shop (eu)"


def test_r93_indexed_resource_attribute_becomes_annotation():
    doc = translate(parent=None, kind=SpanKind.SERVER, resource={"service.name": "s"}, indexed=("otel.resource.service.name",))
    assert doc["annotations"] == {"otel.resource.service.name": "s"}


def test_r6_subsegments_carry_no_resource_metadata():
    doc = translate(resource={"service.name": "s", "team": "payments"})
    assert "metadata" not in doc


def test_r91_nothing_left_means_no_annotations_or_metadata():
    doc = translate({"http.method": "GET"})
    assert "annotations" not in doc and "metadata" not in doc


def test_r97_every_converted_value_is_strict_json():
    attributes = {"nan": math.nan, "inf": math.inf, "big": 2**80, "bytes": b"\xff", "surrogate": "\udc80", "none_in_list": [None, 1]}
    doc = Translator().translate(raw_span(attributes=attributes, kind=SpanKind.SERVER, parent=None))
    text = json.dumps(doc, allow_nan=False, ensure_ascii=False)
    default = json.loads(text.encode("utf-8"))["metadata"]["default"]  # encoding raises on a lone surrogate
    assert (default["nan"], default["inf"], default["big"]) == ("NaN", "Infinity", str(2**80))
    assert (default["bytes"], default["surrogate"], default["none_in_list"]) == ("/w==", "\ufffd", [None, 1])
