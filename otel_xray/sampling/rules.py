"""X-Ray sampling rules in the API's ``SamplingRule`` shape: parse, validate, order, serialise.

One definition serves the sampler (rules fetched from ``GetSamplingRules``,
read leniently: a malformed record is skipped, not fatal), the local daemon
and the ``sampling explain`` command (rules files, read strictly: a bad file is
a ``ValueError`` that names the rule and the field).

A rule file holds, in the API's shape, any of: a list of ``SamplingRule``
objects (or of ``SamplingRuleRecord`` objects, each ``{"SamplingRule": …}``),
the output of ``aws xray get-sampling-rules`` (``{"SamplingRuleRecords": […]}``)
or a single ``{"SamplingRule": …}``. A file in the aws-xray-sdk local format
(``{"version": 1|2, …}``) is read by :func:`otel_xray.sampling.local.load_local_rules`;
:func:`load_rules_file` accepts both.

Internal: the public names are those of ``otel_xray.sampling``, which imports
them from here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from ..values import json_int, json_number

DEFAULT_RULE_NAME = "Default"
#: The built-in rule's priority, outside the 1-9999 users can set, so that it sorts last.
DEFAULT_PRIORITY = 10000

# The API model's limits (SamplingRule): field -> maximum length.
_STRING_LIMITS = {
    "ResourceARN": 500,
    "ServiceName": 64,
    "ServiceType": 64,
    "Host": 64,
    "HTTPMethod": 10,
    "URLPath": 128,
}
# The matchers, in the API model's order: the API's member -> the SamplingRule field.
_MATCHERS = {
    "ServiceName": "service_name",
    "ServiceType": "service_type",
    "Host": "host",
    "HTTPMethod": "http_method",
    "URLPath": "url_path",
    "ResourceARN": "resource_arn",
}
_KNOWN_FIELDS = frozenset(
    ("RuleName", "RuleARN", "ResourceARN", "Priority", "FixedRate", "ReservoirSize", "Version", "Attributes", "SamplingRateBoost")
    + tuple(_MATCHERS)
)


@dataclass(frozen=True)
class SamplingRule:
    """One sampling rule, as the X-Ray API defines it (field names in snake case).

    Matchers are globs (``*`` any run of characters, ``?`` one character).
    ``attributes`` is a sorted tuple of ``(key, glob)`` pairs so that rules
    compare and hash by value: a rule equal in every field to one already held
    keeps its reservoir state when rules are replaced.
    """

    rule_name: str
    priority: int
    fixed_rate: float
    reservoir_size: int
    service_name: str = "*"
    service_type: str = "*"
    host: str = "*"
    http_method: str = "*"
    url_path: str = "*"
    resource_arn: str = "*"
    version: int = 1
    attributes: Tuple[Tuple[str, str], ...] = ()
    rule_arn: str = ""
    #: ``SamplingRateBoost`` as given (adaptive sampling), carried through but not acted on.
    sampling_rate_boost: Optional[Tuple[Tuple[str, Any], ...]] = None

    @property
    def is_default(self) -> bool:
        return self.rule_name == DEFAULT_RULE_NAME

    @property
    def sort_key(self) -> Tuple[int, str]:
        """Rules are tried by ascending priority, ties broken by name (plain string order)."""
        return (self.priority, self.rule_name)

    def to_api(self, region: str = "us-east-1", account: str = "000000000000") -> Dict[str, Any]:
        """The rule as the API returns it (``SamplingRule``), every member present."""
        document: Dict[str, Any] = {
            "RuleName": self.rule_name,
            "RuleARN": self.rule_arn or f"arn:aws:xray:{region}:{account}:sampling-rule/{self.rule_name}",
            "ResourceARN": self.resource_arn,
            "Priority": self.priority,
            "FixedRate": self.fixed_rate,
            "ReservoirSize": self.reservoir_size,
            "ServiceName": self.service_name,
            "ServiceType": self.service_type,
            "Host": self.host,
            "HTTPMethod": self.http_method,
            "URLPath": self.url_path,
            "Version": self.version,
            "Attributes": dict(self.attributes),
        }
        if self.sampling_rate_boost is not None:
            document["SamplingRateBoost"] = dict(self.sampling_rate_boost)
        return document

    def matchers(self) -> Dict[str, str]:
        """The rule's globs by API member name (``ServiceName``, ``ServiceType``, ``Host``, ...)."""
        return {member: getattr(self, field) for member, field in _MATCHERS.items()}

    def describe(self) -> str:
        """One line: what the rule samples."""
        reservoir = f"reservoir {self.reservoir_size}/s" if self.reservoir_size else "no reservoir"
        return f"{reservoir}, then {self.fixed_rate * 100:.4g}% (FixedRate {self.fixed_rate:.4g})"


def default_rule(reservoir_size: int = 1, fixed_rate: float = 0.05) -> SamplingRule:
    """X-Ray's built-in ``Default`` rule: every matcher ``*``; out of the box 1 request/s plus 5%."""
    return SamplingRule(DEFAULT_RULE_NAME, DEFAULT_PRIORITY, fixed_rate, reservoir_size)


def _where(rule: Mapping[str, Any], index: Optional[int]) -> str:
    name = rule.get("RuleName")
    if isinstance(name, str) and name:
        return f"rule {name!r}"
    return f"rule #{index + 1}" if index is not None else "rule"


def fraction(value: Any) -> Optional[float]:
    """``value`` as a fraction from 0 to 1, or ``None`` when it is not one."""
    number = json_number(value)
    return number if number is not None and 0 <= number <= 1 else None


def parse_rule(data: Any, index: Optional[int] = None, strict: bool = True) -> SamplingRule:
    """A ``SamplingRule`` object (or a ``SamplingRuleRecord`` holding one) -> :class:`SamplingRule`.

    ``strict`` (rules files): the API model's limits apply, unknown members are
    refused (a typo would otherwise silently mean ``*``), and matchers left out
    default to ``*``. Not strict (rules from the service): the members the
    algorithm needs must be present and of the right type; limits are the
    service's business. Raises ``ValueError`` naming the rule and the member.
    """
    if isinstance(data, Mapping) and isinstance(data.get("SamplingRule"), Mapping):
        data = data["SamplingRule"]
    if not isinstance(data, Mapping):
        raise ValueError(f"rule #{(index or 0) + 1}: a rule must be a JSON object, not {type(data).__name__}")
    where = _where(data, index)

    def fail(message: str) -> ValueError:
        return ValueError(f"{where}: {message}")

    if strict:
        unknown = sorted(set(data) - _KNOWN_FIELDS)
        if unknown:
            raise fail(f"unknown member(s) {', '.join(unknown)}; a SamplingRule has {', '.join(sorted(_KNOWN_FIELDS))}")
    name = data.get("RuleName")
    if not isinstance(name, str) or not name:
        arn = data.get("RuleARN")
        if isinstance(arn, str) and "/" in arn:
            name = arn.rsplit("/", 1)[1]  # the API names a rule by RuleName or by RuleARN
        if not isinstance(name, str) or not name:
            raise fail("RuleName is required (a non-empty string)")
    if strict and len(name) > 32:
        raise fail("RuleName must be 1-32 characters")

    priority = json_int(data.get("Priority"))
    if priority is None:
        raise fail("Priority is required (an integer, 1-9999)")
    if strict and not (1 <= priority <= 9999 or (name == DEFAULT_RULE_NAME and priority == DEFAULT_PRIORITY)):
        raise fail(f"Priority {priority} is outside 1-9999 (only the Default rule has {DEFAULT_PRIORITY})")

    fixed_rate = fraction(data.get("FixedRate"))
    if fixed_rate is None:
        raise fail(f"FixedRate is required, a fraction from 0 to 1 (0.05 is 5%), got {data.get('FixedRate')!r}")

    reservoir = json_int(data.get("ReservoirSize"))
    if reservoir is None or reservoir < 0:
        raise fail(f"ReservoirSize is required, an integer >= 0 (requests per second), got {data.get('ReservoirSize')!r}")

    matchers: Dict[str, str] = {}
    for member, field in _MATCHERS.items():
        value = data.get(member, "*" if strict else None)
        if not isinstance(value, str):
            raise fail(f"{member} must be a string (a glob; '*' matches anything), got {value!r}")
        if strict and len(value) > _STRING_LIMITS[member]:
            raise fail(f"{member} is longer than {_STRING_LIMITS[member]} characters")
        matchers[field] = value

    version = json_int(data.get("Version", 1 if strict else None))
    if version is None or version < 1:
        raise fail(f"Version must be an integer >= 1, got {data.get('Version')!r}")

    raw_attributes = data.get("Attributes") or {}
    if not isinstance(raw_attributes, Mapping):
        raise fail("Attributes must be an object of key -> glob")
    attributes: List[Tuple[str, str]] = []
    for key, value in raw_attributes.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise fail(f"Attributes {key!r}: keys and values must be strings")
        if strict and not (1 <= len(key) <= 32 and 1 <= len(value) <= 32):
            raise fail(f"Attributes {key!r}: keys and values must be 1-32 characters")
        attributes.append((key, value))
    if strict and len(attributes) > 5:
        raise fail("Attributes may hold at most 5 entries")

    rule_arn = data.get("RuleARN") or ""
    if not isinstance(rule_arn, str):
        raise fail("RuleARN must be a string")
    boost = data.get("SamplingRateBoost")
    if boost is not None and not isinstance(boost, Mapping):
        raise fail("SamplingRateBoost must be an object")

    return SamplingRule(
        rule_name=name,
        priority=priority,
        fixed_rate=fixed_rate,
        reservoir_size=reservoir,
        **matchers,
        version=version,
        attributes=tuple(sorted(attributes)),
        rule_arn=rule_arn,
        sampling_rate_boost=None if boost is None else tuple(sorted(boost.items())),
    )


def sort_rules(rules: Iterable[SamplingRule]) -> Tuple[SamplingRule, ...]:
    return tuple(sorted(rules, key=lambda rule: rule.sort_key))


def parse_rules(items: Sequence[Any], strict: bool = True) -> Tuple[SamplingRule, ...]:
    """Rules in the API's shape, sorted; refuses two rules of the same name."""
    rules = [parse_rule(item, index, strict) for index, item in enumerate(items)]
    seen: Dict[str, int] = {}
    for index, rule in enumerate(rules):
        if rule.rule_name in seen:
            raise ValueError(f"rule {rule.rule_name!r} is defined twice (#{seen[rule.rule_name] + 1} and #{index + 1})")
        seen[rule.rule_name] = index
    return sort_rules(rules)


def rules_from_document(document: Any, with_default: bool = True) -> Tuple[SamplingRule, ...]:
    """Rules from a parsed rules file in either format (see the module docstring), sorted.

    ``with_default``: a set without a ``Default`` rule gets X-Ray's built-in
    one (1/s + 5%), as the service always has it.
    """
    from .local import load_local_rules

    if isinstance(document, Mapping) and "version" in document:
        rules = list(load_local_rules(document).to_sampling_rules())
    else:
        if isinstance(document, Mapping) and "SamplingRuleRecords" in document:
            items = document["SamplingRuleRecords"]
        elif isinstance(document, Mapping) and "SamplingRule" in document:
            items = [document]
        else:
            items = document
        if not isinstance(items, list):
            raise ValueError(
                "expected a list of SamplingRule objects, {\"SamplingRuleRecords\": [...]} as "
                "'aws xray get-sampling-rules' prints it, or an aws-xray-sdk local rules file ({\"version\": 2, ...})"
            )
        rules = list(parse_rules(items, strict=True))
    if with_default and not any(rule.is_default for rule in rules):
        rules.append(default_rule())
    return sort_rules(rules)


def load_rules_file(path: Union[str, "os.PathLike[str]"], with_default: bool = True) -> Tuple[SamplingRule, ...]:
    """Read a rules file (the API's shape or the aws-xray-sdk local format); ``ValueError`` naming the file."""
    return read_json_file(path, "sampling rules file", lambda document: rules_from_document(document, with_default))


_Parsed = TypeVar("_Parsed")


def read_json_file(path: Union[str, "os.PathLike[str]"], what: str, parse: Callable[[Any], _Parsed]) -> _Parsed:
    """``parse`` applied to the JSON in the file at ``path``; every ``ValueError`` names ``what`` and the file.

    Both rules file readers (this module's and :mod:`otel_xray.sampling.local`'s) use it.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as exc:
        raise ValueError(f"cannot read {what} {name!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"{what} {name!r} is not JSON: {exc}") from None
    try:
        return parse(document)
    except ValueError as exc:
        raise ValueError(f"{what} {name!r}: {exc}") from None

