"""Which rule decides: every matcher and wildcard case, served by the local daemon over TCP, decided by the sampler.

Each case serves one rule, ``probe`` (priority 1, samples everything), beside a
Default rule that samples nothing; the sampler fetches them from the daemon and
decides one root span. The rule that counted the request says which matched.
"""

from __future__ import annotations

from typing import Any, Dict

import pytest

from otel_xray.sampling import glob_match
from otel_xray.sampling.matching import request_values, resource_facts

from .sampling_helpers import SILENT_DEFAULT, counted, module_sampling_daemon, root_decision, rule  # noqa: F401

ECS = {"service.name": "checkout", "cloud.platform": "aws_ecs", "aws.ecs.container.arn": "arn:aws:ecs:us-east-1:1:container/c1"}
LAMBDA = {"service.name": "fn", "cloud.platform": "aws_lambda"}

CASES = [
    # id, rule fields, resource attributes, span start attributes, matches
    # -- URLPath, stable conventions (url.path) and old ones (http.target, http.url)
    ("path literal", {"url_path": "/health"}, None, {"url.path": "/health"}, True),
    ("path literal differs", {"url_path": "/health"}, None, {"url.path": "/healthz"}, False),
    ("path ignores case", {"url_path": "/Health"}, None, {"url.path": "/HEALTH"}, True),
    ("path prefix glob", {"url_path": "/orders/*"}, None, {"url.path": "/orders/42"}, True),
    ("path prefix glob needs the slash", {"url_path": "/orders/*"}, None, {"url.path": "/orders"}, False),
    ("path suffix glob", {"url_path": "*.png"}, None, {"url.path": "/img/a.png"}, True),
    ("path inner glob", {"url_path": "*admin*"}, None, {"url.path": "/x/admin/y"}, True),
    ("path star matches empty run", {"url_path": "/a*b"}, None, {"url.path": "/ab"}, True),
    ("path general glob", {"url_path": "/a*/b?/*.json"}, None, {"url.path": "/api/b1/x.json"}, True),
    ("path general glob differs", {"url_path": "/a*/b?/*.json"}, None, {"url.path": "/api/b12/x.json"}, False),
    ("question mark is one character", {"url_path": "/v?"}, None, {"url.path": "/v2"}, True),
    ("question mark is not zero characters", {"url_path": "/v?"}, None, {"url.path": "/v"}, False),
    ("regex characters are literal", {"url_path": "/a.c"}, None, {"url.path": "/abc"}, False),
    ("brackets are literal", {"url_path": "/[ab]"}, None, {"url.path": "/[ab]"}, True),
    ("old http.target without its query", {"url_path": "/search"}, None, {"http.target": "/search?q=1"}, True),
    ("old http.target without its fragment", {"url_path": "/doc"}, None, {"http.target": "/doc#top"}, True),
    ("url.path wins over http.target", {"url_path": "/new"}, None, {"url.path": "/new", "http.target": "/old"}, True),
    ("stable url.full gives the path", {"url_path": "/items/*"}, None, {"url.full": "https://h.example/items/7?x=1"}, True),
    ("old http.url gives the path", {"url_path": "/items/*"}, None, {"http.url": "http://h.example/items/7"}, True),
    ("url without a path is /", {"url_path": "/"}, None, {"url.full": "https://h.example"}, True),
    ("url without a scheme has no path", {"url_path": "/x"}, None, {"url.full": "h.example/x"}, False),
    ("url without a scheme, star still matches", {"url_path": "*"}, None, {"url.full": "h.example/x"}, True),
    ("no URL attribute at all is /", {"url_path": "/"}, None, {}, True),
    ("no URL attribute at all is not /x", {"url_path": "/x*"}, None, {}, False),
    # -- HTTPMethod
    ("stable http.request.method", {"http_method": "POST"}, None, {"http.request.method": "POST"}, True),
    ("old http.method", {"http_method": "POST"}, None, {"http.method": "POST"}, True),
    ("method ignores case", {"http_method": "get"}, None, {"http.request.method": "GET"}, True),
    ("method differs", {"http_method": "GET"}, None, {"http.request.method": "DELETE"}, False),
    ("_OTHER uses the original method", {"http_method": "PURGE"}, None, {"http.request.method": "_OTHER", "http.request.method_original": "PURGE"}, True),
    ("missing method fails a literal", {"http_method": "GET"}, None, {"url.path": "/"}, False),
    ("missing method passes *", {"http_method": "*"}, None, {"url.path": "/"}, True),
    ("method glob", {"http_method": "P*"}, None, {"http.method": "PATCH"}, True),
    # -- Host
    ("stable server.address", {"host": "api.example.com"}, None, {"server.address": "api.example.com"}, True),
    ("old http.host", {"host": "api.example.com"}, None, {"http.host": "api.example.com"}, True),
    ("old net.host.name", {"host": "api.example.com"}, None, {"net.host.name": "api.example.com"}, True),
    ("host glob", {"host": "*.example.com"}, None, {"server.address": "API.Example.com"}, True),
    ("host glob differs", {"host": "*.example.com"}, None, {"server.address": "example.org"}, False),
    ("old http.host keeps its port", {"host": "api.example.com"}, None, {"http.host": "api.example.com:8080"}, False),
    ("host with port glob", {"host": "api.example.com*"}, None, {"http.host": "api.example.com:8080"}, True),
    ("missing host fails a literal (aws-xray-sdk-python#323)", {"host": "api.example.com"}, None, {"url.path": "/"}, False),
    ("missing host fails an empty pattern", {"host": ""}, None, {"url.path": "/"}, False),
    # -- ServiceName (resource service.name)
    ("service name", {"service_name": "checkout"}, {"service.name": "checkout"}, {}, True),
    ("service name differs", {"service_name": "checkout"}, {"service.name": "billing"}, {}, False),
    ("service name glob", {"service_name": "check*"}, {"service.name": "Checkout-EU"}, {}, True),
    ("no service name fails a literal", {"service_name": "checkout"}, {}, {}, False),
    ("no service name is empty text", {"service_name": ""}, {}, {}, True),
    ("empty pattern only matches empty text", {"service_name": ""}, {"service.name": "checkout"}, {}, False),
    # -- ServiceType (resource cloud.platform)
    ("ECS service type", {"service_type": "AWS::ECS::Container"}, ECS, {}, True),
    ("EC2 service type", {"service_type": "AWS::EC2::Instance"}, {"cloud.platform": "aws_ec2"}, {}, True),
    ("EKS service type", {"service_type": "AWS::EKS::*"}, {"cloud.platform": "aws_eks"}, {}, True),
    ("Beanstalk service type", {"service_type": "AWS::ElasticBeanstalk::Environment"}, {"cloud.platform": "aws_elastic_beanstalk"}, {}, True),
    ("Lambda service type", {"service_type": "AWS::Lambda::Function"}, LAMBDA, {}, True),
    ("service type differs", {"service_type": "AWS::EC2::Instance"}, ECS, {}, False),
    ("unknown platform has no type", {"service_type": "AWS::*"}, {"cloud.platform": "gcp_compute_engine"}, {}, False),
    ("no platform passes *", {"service_type": "*"}, {}, {}, True),
    # -- ResourceARN
    ("ECS container ARN", {"resource_arn": "arn:aws:ecs:*:container/c1"}, ECS, {}, True),
    ("ECS container ARN differs", {"resource_arn": "arn:aws:ecs:*:container/c2"}, ECS, {}, False),
    ("Lambda ARN from resource cloud.resource_id", {"resource_arn": "arn:aws:lambda:*:function:fn"},
     {**LAMBDA, "cloud.resource_id": "arn:aws:lambda:us-east-1:1:function:fn"}, {}, True),
    ("Lambda ARN from resource faas.id", {"resource_arn": "*:function:fn"}, {**LAMBDA, "faas.id": "arn:aws:lambda:us-east-1:1:function:fn"}, {}, True),
    ("Lambda ARN from span cloud.resource_id", {"resource_arn": "*:function:fn"}, LAMBDA,
     {"cloud.resource_id": "arn:aws:lambda:us-east-1:1:function:fn"}, True),
    ("Lambda ARN from span faas.id", {"resource_arn": "*:function:fn"}, LAMBDA, {"faas.id": "arn:aws:lambda:us-east-1:1:function:fn"}, True),
    ("Lambda ARN from span differs", {"resource_arn": "*:function:fn"}, LAMBDA, {"faas.id": "arn:aws:lambda:us-east-1:1:function:other"}, False),
    ("no ARN fails a literal", {"resource_arn": "arn:aws:ecs:*"}, {"service.name": "checkout"}, {}, False),
    ("outside Lambda the span cannot give the ARN", {"resource_arn": "*:function:fn"}, {"cloud.platform": "aws_ec2"},
     {"faas.id": "arn:aws:lambda:us-east-1:1:function:fn"}, False),
    # -- Attributes (span start attributes)
    ("attribute", {"attributes": (("tenant", "acme"),)}, None, {"tenant": "acme"}, True),
    ("attribute glob, any case", {"attributes": (("tenant", "ac*"),)}, None, {"tenant": "ACME-eu"}, True),
    ("attribute differs", {"attributes": (("tenant", "acme"),)}, None, {"tenant": "other"}, False),
    ("attribute missing", {"attributes": (("tenant", "*"),)}, None, {"other": "acme"}, False),
    ("attribute * still needs the key", {"attributes": (("tenant", "*"),)}, None, {"tenant": "x"}, True),
    ("every attribute must match", {"attributes": (("a", "1"), ("b", "2"))}, None, {"a": "1", "b": "3"}, False),
    ("more rule attributes than the span has", {"attributes": (("a", "1"), ("b", "2"))}, None, {"a": "1"}, False),
    ("integer attribute by its text", {"attributes": (("tier", "2"),)}, None, {"tier": 2}, True),
    ("boolean attribute by its text", {"attributes": (("beta", "true"),)}, None, {"beta": True}, True),
    ("sequence attribute matches only *", {"attributes": (("tags", "a*"),)}, None, {"tags": ("a", "b")}, False),
    ("sequence attribute is present for *", {"attributes": (("tags", "*"),)}, None, {"tags": ("a", "b")}, True),
    # -- Version
    ("a rule of another Version is ignored", {"version": 2}, None, {}, False),
]


@pytest.mark.parametrize("fields, resource, attributes, matches", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_matching(module_sampling_daemon, fields: Dict[str, Any], resource, attributes, matches: bool) -> None:
    module_sampling_daemon.service.set_rules([rule("probe", **fields), SILENT_DEFAULT])
    sampler = module_sampling_daemon.sampler(resource if resource is not None else {"service.name": "checkout"})
    assert sampler.fetch_rules()
    assert root_decision(sampler, attributes) is matches
    assert counted(sampler) == ({"probe": (1, 1, 0)} if matches else {"Default": (1, 0, 0)})


def test_rules_are_tried_by_priority_then_name(module_sampling_daemon) -> None:
    module_sampling_daemon.service.set_rules(
        [rule("b-second", priority=5), rule("a-first", priority=5), rule("zero", priority=1, url_path="/never"), SILENT_DEFAULT]
    )
    sampler = module_sampling_daemon.sampler()
    assert sampler.fetch_rules()
    assert [r.rule_name for r in sampler.rules] == ["zero", "a-first", "b-second", "Default"]
    assert root_decision(sampler, {"url.path": "/x"})
    assert counted(sampler) == {"a-first": (1, 1, 0)}


def test_default_decides_when_nothing_else_matches(module_sampling_daemon) -> None:
    module_sampling_daemon.service.set_rules([rule("orders", url_path="/orders/*"), SILENT_DEFAULT])
    sampler = module_sampling_daemon.sampler()
    assert sampler.fetch_rules()
    assert not root_decision(sampler, {"url.path": "/health"})
    assert counted(sampler) == {"Default": (1, 0, 0)}


@pytest.mark.parametrize(
    "pattern, text, matches",
    [
        ("*", None, True), ("", "", True), ("", "x", False), ("a", None, False), ("A?c", "abc", True),
        ("a*", "A", True), ("*a*b*", "xxaYYb", True), ("*a*b*", "xxbYYa", False), ("\\d", "\\d", True),
        ("a+b", "aab", False), ("(x)", "(x)", True), ("**", "", True), ("?*", "", False),
    ],
)
def test_glob_table(pattern, text, matches):
    assert glob_match(pattern, text) is matches


def test_request_values_prefer_stable_conventions():
    both = {
        "url.path": "/new", "http.target": "/old", "http.request.method": "GET", "http.method": "POST",
        "server.address": "new.example", "http.host": "old.example",
    }
    assert request_values(both) == ("/new", "GET", "new.example")
    assert request_values(None) == ("/", None, None)


def test_resource_facts_without_attributes_are_empty():
    assert resource_facts({}) == ("", "", "", False)
    assert resource_facts(LAMBDA).arn_from_span is True
