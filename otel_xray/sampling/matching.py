"""Which rule a request matches: globs, the request's facts, compiled rule matchers, explanations.

Globs (SP20): ``*`` matches any run of characters (none included), ``?``
exactly one, everything else itself, **ignoring case** (as the X-Ray SDKs for
Python, Go and Java match). ``*`` alone matches anything, even a value the
request does not have; every other pattern fails on a missing value (the
aws-xray-sdk counted a missing value as a match, aws-xray-sdk-python#323). An
empty pattern matches only empty text.

The facts a rule is matched against (SP19), from the attributes a span is
*started* with (the sampler sees nothing set later, such as ``http.route``)
and from the resource:

========== ==============================================================
URLPath    ``url.path``; else ``http.target`` without its query string;
           else the path of ``url.full`` / ``http.url``; else ``/``
HTTPMethod ``http.request.method`` (``_OTHER``: ``http.request.method_original``);
           else ``http.method``
Host       ``server.address``; else ``http.host``; else ``net.host.name``
ServiceName resource ``service.name``
ServiceType resource ``cloud.platform`` as an X-Ray type (``aws_ecs`` ->
           ``AWS::ECS::Container``, …)
ResourceARN resource ``aws.ecs.container.arn``; in Lambda ``cloud.resource_id``
           or ``faas.id`` (resource, then span)
Attributes each rule key must be a span attribute whose value matches
========== ==============================================================

Internal: the public names are those of ``otel_xray.sampling``, which imports
them from here.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from .rules import SamplingRule

#: Resource ``cloud.platform`` -> the X-Ray ``ServiceType`` it stands for.
CLOUD_PLATFORM_SERVICE_TYPES: Dict[str, str] = {
    "aws_ec2": "AWS::EC2::Instance",
    "aws_ecs": "AWS::ECS::Container",
    "aws_eks": "AWS::EKS::Container",
    "aws_elastic_beanstalk": "AWS::ElasticBeanstalk::Environment",
    "aws_lambda": "AWS::Lambda::Function",
}

#: A compiled glob: lower-cased text -> whether it matches.
Test = Callable[[str], bool]


class GlobShape(NamedTuple):
    """A glob reduced to one string operation on lower-cased text (``regex``: the rest)."""

    kind: str  # "equals", "prefix", "suffix", "contains" or "regex"
    operand: str  # lower-cased text, or the regular expression


def glob_shape(pattern: str) -> Optional[GlobShape]:
    """The operation a glob needs, or ``None`` for ``*`` (matches anything, even a missing value).

    The common shapes (a literal, ``prefix*``, ``*suffix``, ``*part*``) become
    string methods; only the rest needs a regular expression.
    """
    if pattern == "*":
        return None
    lowered = pattern.lower()
    if "?" not in lowered:
        inner = lowered.strip("*")
        if "*" not in inner:
            starts, ends = lowered.startswith("*"), lowered.endswith("*")
            if not starts and not ends:
                return GlobShape("equals", lowered)
            if not starts:
                return GlobShape("prefix", inner)
            if not ends:
                return GlobShape("suffix", inner)
            return GlobShape("contains", inner)
    return GlobShape("regex", "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in lowered))


def compile_glob(pattern: str) -> Optional[Test]:
    """A test for lower-cased text, or ``None`` for ``*``."""
    shape = glob_shape(pattern)
    if shape is None:
        return None
    operand = shape.operand
    if shape.kind == "equals":
        return operand.__eq__
    if shape.kind == "prefix":
        return lambda text: text.startswith(operand)
    if shape.kind == "suffix":
        return lambda text: text.endswith(operand)
    if shape.kind == "contains":
        return lambda text: operand in text
    fullmatch = re.compile(operand, re.DOTALL).fullmatch
    return lambda text: fullmatch(text) is not None


def glob_match(pattern: str, value: Optional[str]) -> bool:
    """Whether ``value`` (``None``: the request lacks it) matches ``pattern``, ignoring case."""
    test = compile_glob(pattern)
    if test is None:
        return True
    return value is not None and test(value.lower())


# -- facts -------------------------------------------------------------------
class ResourceFacts(NamedTuple):
    service_name: str
    service_type: str
    resource_arn: str
    #: In Lambda without an ARN on the resource, the span's ``cloud.resource_id``/``faas.id`` is the ARN.
    arn_from_span: bool = False


def resource_facts(attributes: Optional[Mapping[str, Any]]) -> ResourceFacts:
    """ServiceName, ServiceType and ResourceARN from resource attributes (missing -> ``""``)."""
    attributes = attributes or {}
    service_name = attributes.get("service.name")
    platform = attributes.get("cloud.platform")
    service_type = CLOUD_PLATFORM_SERVICE_TYPES.get(platform, "") if isinstance(platform, str) else ""
    arn = attributes.get("aws.ecs.container.arn")
    from_span = False
    if not isinstance(arn, str) or not arn:
        arn = ""
        if platform == "aws_lambda":
            for key in ("cloud.resource_id", "faas.id"):
                value = attributes.get(key)
                if isinstance(value, str) and value:
                    arn = value
                    break
            from_span = not arn
    return ResourceFacts(service_name if isinstance(service_name, str) else "", service_type, arn, from_span)


def _text(value: Any) -> Optional[str]:
    return value if type(value) is str else None


def request_values(attributes: Optional[Mapping[str, Any]]) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """``(path, method, host)`` of a span's start attributes, as given (not lower-cased; ``None``: missing)."""
    if not attributes:
        return "/", None, None
    get = attributes.get
    path: Optional[str] = _text(get("url.path"))
    if path is None:
        target = _text(get("http.target"))
        if target is not None:
            cut = min((i for i in (target.find("?"), target.find("#")) if i >= 0), default=-1)
            path = target if cut < 0 else target[:cut]
        else:
            url = _text(get("url.full")) or _text(get("http.url"))
            if url is None:
                path = "/"
            elif "://" in url:
                try:
                    path = urlsplit(url).path or "/"
                except ValueError:
                    path = None
    method = _text(get("http.request.method"))
    if method == "_OTHER":
        method = _text(get("http.request.method_original")) or method
    elif method is None:
        method = _text(get("http.method"))
    host = _text(get("server.address"))
    if host is None:
        host = _text(get("http.host")) or _text(get("net.host.name"))
    return path, method, host


def _attribute_text(value: Any) -> Optional[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None  # sequences never match a glob


class RequestFacts(NamedTuple):
    """Everything a rule looks at, for :func:`explain`."""

    service_name: str = ""
    service_type: str = ""
    resource_arn: str = ""
    host: Optional[str] = None
    method: Optional[str] = None
    path: Optional[str] = "/"
    attributes: Mapping[str, Any] = {}


# -- compiled rules ----------------------------------------------------------
#: ``extra`` check of a compiled rule: span start attributes -> whether they match.
ExtraCheck = Callable[[Mapping[str, Any]], bool]


class CompiledRule(NamedTuple):
    """A rule turned into tests, for a given resource.

    ``resource_ok`` says whether ServiceName, ServiceType and ResourceARN match
    the resource (fixed for a process, so decided once); ``path``, ``method``
    and ``host`` are the operations on the request's lower-cased values
    (``None`` = ``*``); ``extra`` checks rule Attributes (and a ResourceARN read
    from span attributes in Lambda), ``None`` when the rule has neither.
    """

    rule: SamplingRule
    resource_ok: bool
    path: Optional[GlobShape]
    method: Optional[GlobShape]
    host: Optional[GlobShape]
    extra: Optional[ExtraCheck]
    #: Attribute keys the span must have for ``extra`` to pass (checked first: cheap, and usually decisive).
    required_keys: Tuple[str, ...] = ()


#: ``(lower-cased path, method, host, span start attributes)`` -> index of the first matching rule, or -1.
Matcher = Callable[[Optional[str], Optional[str], Optional[str], Mapping[str, Any]], int]


def compile_matcher(rules: Sequence[CompiledRule]) -> Matcher:
    """One function trying ``rules`` in order, each rule's tests inline.

    Generated Python source (one ``if`` per rule, string operands as literals
    written with ``repr``, regular expressions and attribute checks passed by
    name) runs the decisions' hot loop about three times faster than walking a
    list of test functions; it is rebuilt whenever the rules change.
    """
    namespace: Dict[str, Any] = {}
    lines = ["def match(path, method, host, attributes):"]
    for index, rule in enumerate(rules):
        conditions = []  # (cost rank, source): the cheapest tests first
        for name, shape in (("path", rule.path), ("method", rule.method), ("host", rule.host)):
            if shape is None:
                continue
            if shape.kind == "equals":
                rank, test = 0, f"{name} == {shape.operand!r}"
            elif shape.kind == "prefix":
                rank, test = 1, f"{name}.startswith({shape.operand!r})"
            elif shape.kind == "suffix":
                rank, test = 1, f"{name}.endswith({shape.operand!r})"
            elif shape.kind == "contains":
                rank, test = 1, f"{shape.operand!r} in {name}"
            else:
                namespace[f"_regex{index}_{name}"] = re.compile(shape.operand, re.DOTALL).fullmatch
                rank, test = 2, f"_regex{index}_{name}({name}) is not None"
            conditions.append((rank, f"{name} is not None and {test}"))
        for key in rule.required_keys:
            conditions.append((0, f"{key!r} in attributes"))
        if rule.extra is not None:
            namespace[f"_extra{index}"] = rule.extra
            conditions.append((3, f"_extra{index}(attributes)"))
        source = " and ".join(test for _, test in sorted(conditions, key=lambda c: c[0])) or "True"
        lines.append(f"    if {source}:\n        return {index}")
    lines.append("    return -1")
    exec(compile("\n".join(lines), "<otel_xray sampling rules>", "exec"), namespace)  # noqa: S102 - see docstring
    match: Matcher = namespace["match"]
    return match


def _attributes_check(tests: Sequence[Tuple[str, Optional[Test]]], arn: Optional[Test]) -> ExtraCheck:
    def check(attributes: Mapping[str, Any]) -> bool:
        for key, test in tests:
            if key not in attributes:
                return False
            if test is not None:
                text = _attribute_text(attributes[key])
                if text is None or not test(text.lower()):
                    return False
        if arn is not None:
            value = attributes.get("cloud.resource_id") or attributes.get("faas.id")
            if not isinstance(value, str) or not arn(value.lower()):
                return False
        return True

    return check


def compile_rule(rule: SamplingRule, resource: ResourceFacts) -> CompiledRule:
    arn_test = compile_glob(rule.resource_arn)
    arn_from_span = resource.arn_from_span and arn_test is not None
    resource_ok = (
        rule.version == 1
        and glob_match(rule.service_name, resource.service_name)
        and glob_match(rule.service_type, resource.service_type)
        and (arn_from_span or glob_match(rule.resource_arn, resource.resource_arn))
    )
    attribute_tests = [(key, compile_glob(pattern)) for key, pattern in rule.attributes]
    extra = _attributes_check(attribute_tests, arn_test if arn_from_span else None) if attribute_tests or arn_from_span else None
    return CompiledRule(
        rule=rule,
        resource_ok=resource_ok,
        path=glob_shape(rule.url_path),
        method=glob_shape(rule.http_method),
        host=glob_shape(rule.host),
        extra=extra,
        required_keys=tuple(key for key, _ in rule.attributes),
    )


# -- explanations ------------------------------------------------------------
class RuleVerdict(NamedTuple):
    rule: SamplingRule
    matches: bool
    #: Why it does not match (empty when it does).
    reasons: Tuple[str, ...]


def _field_reason(member: str, pattern: str, value: Optional[str]) -> Optional[str]:
    if glob_match(pattern, value):
        return None
    if value is None:
        return f"{member} {pattern!r}: the request has no {member}"
    return f"{member} {pattern!r} does not match {value!r}"


def explain(rules: Sequence[SamplingRule], facts: RequestFacts) -> List[RuleVerdict]:
    """Every rule, in the order tried (priority, then name), with why it does or does not match."""
    verdicts: List[RuleVerdict] = []
    for rule in sorted(rules, key=lambda r: r.sort_key):
        reasons: List[str] = []
        if rule.version != 1:
            reasons.append(f"ignored: Version {rule.version} (the SDKs use only Version 1 rules)")
        for member, pattern, value in (
            ("ServiceName", rule.service_name, facts.service_name),
            ("ServiceType", rule.service_type, facts.service_type),
            ("ResourceARN", rule.resource_arn, facts.resource_arn),
            ("Host", rule.host, facts.host),
            ("HTTPMethod", rule.http_method, facts.method),
            ("URLPath", rule.url_path, facts.path),
        ):
            reason = _field_reason(member, pattern, value)
            if reason is not None:
                reasons.append(reason)
        for key, pattern in rule.attributes:
            if key not in facts.attributes:
                reasons.append(f"Attributes {key}={pattern!r}: the request has no attribute {key!r}")
                continue
            text = _attribute_text(facts.attributes[key])
            if not glob_match(pattern, text):
                reasons.append(f"Attributes {key}={pattern!r} does not match {facts.attributes[key]!r}")
        verdicts.append(RuleVerdict(rule, not reasons, tuple(reasons)))
    return verdicts
