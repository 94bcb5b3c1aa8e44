"""Translation planned per span shape gives the document the rules give, applied one after another to every attribute.

``Translator.translate`` compiles a plan per span kind and attribute keys
(the rule tables restricted to the keys present) and remembers it;
``translate_general`` applies every rule chain to every attribute, as the
rules are written. These properties draw spans from every key any rule reads
(plus others, and the keys that switch to the general split) and compare the
two, through a fresh plan and through the remembered one.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_xray.translate import Translator
from otel_xray.translate.attributes import ANNOTATIONS_ATTRIBUTE, METADATA_PREFIX
from otel_xray.translate.aws import CALL_KEYS
from otel_xray.translate.flags import FLAG_ATTRIBUTES, STATUS_CODE_KEYS
from otel_xray.translate.http import HTTP_KEY_SET
from otel_xray.translate.local_root import LOCAL_ROOT_ATTRIBUTE
from otel_xray.translate.names import NAMING_KEYS
from otel_xray.translate.segment import CONSUMABLE_KEYS, IN_PROGRESS_ATTRIBUTE, USER_ATTRIBUTE, compile_plan
from otel_xray.translate.sql import DATABASE_NAME_KEYS, SQL_KEYS

from .spans import make_span, raw_span, span_context

RULE_KEYS = sorted(
    NAMING_KEYS
    | HTTP_KEY_SET
    | CALL_KEYS
    | set(SQL_KEYS)
    | set(DATABASE_NAME_KEYS)
    | FLAG_ATTRIBUTES
    | set(STATUS_CODE_KEYS)
    | CONSUMABLE_KEYS
    | {LOCAL_ROOT_ATTRIBUTE, IN_PROGRESS_ATTRIBUTE, USER_ATTRIBUTE, "message.type", "messaging.message_payload_size_bytes"}
)
OTHER_KEYS = ["http.route", "custom.key", "messaging.system", "network.protocol.version", "app.count"]
GENERAL_KEYS = [METADATA_PREFIX + "ns", ANNOTATIONS_ATTRIBUTE]
VALUES = st.one_of(
    st.sampled_from(
        ["", "aws-api", "GET", "db.internal", "https://h.example.com/p?q=1", "10.0.0.1", "AWS::DynamoDB", '{"k": 1}',
         "sqlite", "postgresql", "LOCAL_ROOT", "RECEIVED", "payments", "503"]
    ),
    st.text(max_size=8),
    st.integers(min_value=-5, max_value=70_000),
    st.booleans(),
    st.floats(allow_nan=True),
    st.lists(st.sampled_from(["a", "b", "custom.key"]), max_size=3).map(tuple),
)
ATTRIBUTES = st.one_of(
    st.dictionaries(st.sampled_from(RULE_KEYS + OTHER_KEYS), VALUES, max_size=10),
    st.dictionaries(st.sampled_from(RULE_KEYS + OTHER_KEYS + GENERAL_KEYS), VALUES, max_size=6),
)
PARENTS = st.sampled_from([None, span_context(remote=False), span_context(remote=True)])
STATUSES = st.sampled_from([Status(StatusCode.UNSET), Status(StatusCode.OK), Status(StatusCode.ERROR, "boom"), Status(StatusCode.ERROR)])
RESOURCES = {
    "aws": Resource.create({"service.name": "svc", "cloud.provider": "aws", "cloud.platform": "aws_ecs", "deployment.environment": "prod"}),
    "gcp": Resource.create({"service.name": "svc", "cloud.provider": "gcp"}),
}
TRANSLATORS = {
    "default": lambda: Translator(),
    "indexed": lambda: Translator(indexed_attributes=("http.route", "db.system", "custom.key")),
    "index all": lambda: Translator(index_all_attributes=True),
    "lambda": lambda: Translator(lambda_mode=True),
    "keep query": lambda: Translator(keep_url_query=True),
    "no caches": lambda: Translator(cache_bytes=0),
}
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def _without_random_ids(doc: Dict[str, Any]) -> Dict[str, Any]:
    """The document with the random IDs of exception records (new per translation) left out."""
    doc = copy.deepcopy(doc)
    pending = [doc]
    while pending:
        entity = pending.pop()
        for exception in (entity.get("cause") or {}).get("exceptions", ()):
            exception.pop("id", None)
            exception.pop("cause", None)
        pending.extend(entity.get("subsegments", ()))
    return doc


def _both(translator: Translator, span: Any) -> Any:
    dropped_planned: Dict[str, int] = {}
    dropped_general: Dict[str, int] = {}
    try:
        planned: Optional[Dict[str, Any]] = dict(translator.translate(span, dropped_planned))
    except ValueError as exc:
        planned = {"dropped": str(exc)}
    try:
        general: Optional[Dict[str, Any]] = dict(translator.translate_general(span, dropped_general))
    except ValueError as exc:
        general = {"dropped": str(exc)}
    return _without_random_ids(planned), _without_random_ids(general), dropped_planned, dropped_general


@SETTINGS
@given(
    attributes=ATTRIBUTES,
    kind=st.sampled_from(list(SpanKind)),
    parent=PARENTS,
    status=STATUSES,
    resource=st.sampled_from(sorted(RESOURCES)),
    options=st.sampled_from(sorted(TRANSLATORS)),
    name=st.sampled_from(["", "GET /x", "(bad)"]),
)
def test_the_planned_document_is_the_general_one(attributes, kind, parent, status, resource, options, name):
    translator = TRANSLATORS[options]()
    span = raw_span(name=name, kind=kind, attributes=attributes, parent=parent, status=status, resource=RESOURCES[resource])
    planned, general, dropped_planned, dropped_general = _both(translator, span)
    assert planned == general
    assert dropped_planned == dropped_general
    # Once more, now through the plan remembered for this shape.
    again, general, _, _ = _both(translator, span)
    assert again == general


@SETTINGS
@given(attributes=st.dictionaries(st.sampled_from(RULE_KEYS + OTHER_KEYS), VALUES, max_size=10), kind=st.sampled_from(list(SpanKind)))
def test_a_plan_is_made_of_the_keys_present_only(attributes, kind):
    plan = compile_plan(kind, tuple(attributes), Translator().options)
    assert [key for key, _ in plan.order] == list(attributes)
    assert all(ruled == (key in CONSUMABLE_KEYS) for key, ruled in plan.order)
    # A rule that takes the first of its keys reads those present; one with a picker keeps its own reads.
    assert all(key in attributes for reads, pick, _, _ in plan.name_steps if pick is None for key in reads)
    if plan.http is not None:
        assert set(plan.http.keys) == HTTP_KEY_SET & set(attributes)
    assert (plan.call is None) == CALL_KEYS.isdisjoint(attributes)


@pytest.mark.parametrize("kind", list(SpanKind))
def test_sdk_spans_with_events_translate_alike_both_ways(kind):
    span = make_span(
        "GET /orders/{id}",
        kind=kind,
        parent=span_context(),
        attributes={"http.request.method": "GET", "url.full": "https://shop.example.com/o?x=1", "db.system": "mysql",
                    "db.name": "shop", "server.address": "db", "aws.xray.fault": True, "custom": 1},
        events=[("exception", {"exception.type": "E", "exception.message": "m", "exception.stacktrace": "Traceback..."})],
        status=(StatusCode.ERROR, "failed"),
    )
    translator = Translator()
    planned, general, _, _ = _both(translator, span)
    assert planned == general
    # Every mapped key is consumed; the one nothing maps stays in metadata (beside the resource's, on segments).
    assert {key for key in planned["metadata"]["default"] if not key.startswith("otel.resource.")} == {"custom"}


def test_plans_are_remembered_within_their_budget():
    translator = Translator(cache_bytes=64 * 1024)
    plans = translator._caches.plans
    assert plans is not None
    for index in range(2000):  # distinct shapes: a key of its own each
        translator.translate(raw_span(attributes={f"key.{index}": 1, "http.request.method": "GET"}))
    assert 0 < len(plans) < 2000
    assert plans.bytes_held <= 64 * 1024
    # A shape seen again is planned once: the cache holds one entry for it.
    before = len(plans)
    for _ in range(3):
        translator.translate(raw_span(attributes={"key.1999": 1, "http.request.method": "GET"}))
    assert len(plans) == before
