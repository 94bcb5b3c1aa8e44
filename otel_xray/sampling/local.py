"""The aws-xray-sdk local sampling rules file (``sampling_rules.json``, versions 1 and 2).

::

    {"version": 2,
     "rules": [{"description": "health checks", "host": "*", "http_method": "GET",
                "url_path": "/health", "fixed_target": 0, "rate": 0.0}],
     "default": {"fixed_target": 1, "rate": 0.05}}

Rules are tried in file order, the first match wins, else ``default``.
``fixed_target`` is a reservoir of that many requests per second *in this
process*; beyond it ``rate`` of the requests are sampled. Version 1 names the
host field ``service_name`` (and matches it against the request's host, as the
SDK does). Checks are the SDK's: a supported version, a ``default`` without
matchers, every other rule with all three matchers, non-negative numbers; and
one more, since a percentage there is a common slip: ``rate`` is at most 1.

:meth:`LocalRules.to_sampling_rules` maps the file onto the API's rule shape
(host -> Host, http_method -> HTTPMethod, url_path -> URLPath, rate ->
FixedRate, fixed_target -> ReservoirSize, priority = position in the file,
``default`` -> ``Default``), for the local daemon and the rule explainer.

Internal: the public names are those of ``otel_xray.sampling``, which imports
them from here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Set, Tuple, Union

from ..values import json_int
from .rules import DEFAULT_PRIORITY, DEFAULT_RULE_NAME, SamplingRule, fraction, read_json_file

SUPPORTED_VERSIONS = (1, 2)


@dataclass(frozen=True)
class LocalRule:
    """One rule of a local file (the default rule has ``*`` matchers)."""

    host: str
    http_method: str
    url_path: str
    fixed_target: int
    rate: float
    description: str = ""


@dataclass(frozen=True)
class LocalRules:
    """A parsed local rules file: ``rules`` in file order, then ``default``."""

    version: int
    rules: Tuple[LocalRule, ...]
    default: LocalRule
    source: str = "built-in"

    def to_sampling_rules(self) -> Tuple[SamplingRule, ...]:
        """The same rules in the API's shape (names made up: descriptions may exceed 32 characters)."""
        converted: List[SamplingRule] = []
        used = {DEFAULT_RULE_NAME}
        for position, rule in enumerate(self.rules, start=1):
            name = _rule_name(rule.description, position, used)
            used.add(name)
            converted.append(
                SamplingRule(
                    rule_name=name,
                    priority=min(position, 9999),
                    fixed_rate=rule.rate,
                    reservoir_size=rule.fixed_target,
                    host=rule.host,
                    http_method=rule.http_method,
                    url_path=rule.url_path,
                )
            )
        converted.append(
            SamplingRule(DEFAULT_RULE_NAME, DEFAULT_PRIORITY, self.default.rate, self.default.fixed_target)
        )
        return tuple(converted)

    def describe(self) -> str:
        text = f"{self.default.fixed_target}/s + {self.default.rate * 100:.4g}%"
        return text if not self.rules else f"{len(self.rules)} local rule(s), default {text}"


def _rule_name(description: str, position: int, used: Set[str]) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", description).strip("-")[:32].strip("-")
    name = slug or f"rule-{position}"
    suffix = 2
    while name in used:
        tail = f"-{suffix}"
        name = (slug or f"rule-{position}")[: 32 - len(tail)] + tail
        suffix += 1
    return name


def _parse_rule(data: Any, version: int, where: str, default: bool) -> LocalRule:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a JSON object")
    host_key = "host" if version == 2 else "service_name"
    fixed_target = json_int(data.get("fixed_target"))
    rate = fraction(data.get("rate"))
    if fixed_target is None or fixed_target < 0:
        raise ValueError(f"{where}: fixed_target must be an integer >= 0 (requests per second), got {data.get('fixed_target')!r}")
    if rate is None:
        raise ValueError(f"{where}: rate must be a fraction from 0 to 1 (0.05 is 5%), got {data.get('rate')!r}")
    matchers: Dict[str, Any] = {key: data.get(key) for key in (host_key, "http_method", "url_path")}
    if default:
        given = [key for key, value in matchers.items() if value]
        if given:
            raise ValueError(f"{where}: the default rule must not have {', '.join(given)}")
        return LocalRule("*", "*", "*", fixed_target, rate, "default")
    missing = [key for key, value in matchers.items() if not isinstance(value, str) or not value]
    if missing:
        raise ValueError(f"{where}: every rule other than the default needs {', '.join(missing)} (non-empty strings)")
    description = data.get("description", "")
    return LocalRule(
        host=str(matchers[host_key]),
        http_method=str(matchers["http_method"]),
        url_path=str(matchers["url_path"]),
        fixed_target=fixed_target,
        rate=rate,
        description=description if isinstance(description, str) else str(description),
    )


def _parse(document: Any, source: str) -> LocalRules:
    if not isinstance(document, Mapping):
        hint = " (a list looks like rules in the X-Ray API's shape, which the daemon serves, not a local file)"
        raise ValueError(
            "a local sampling rules file is a JSON object with 'version' and 'default'" + (hint if isinstance(document, list) else "")
        )
    version = document.get("version")
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise ValueError(f"version {version!r} is not supported; use 1 or 2")
    version = int(version)
    if "default" not in document:
        raise ValueError("a 'default' rule is required")
    default = _parse_rule(document["default"], version, "default", default=True)
    items = document.get("rules")
    items = [] if items is None else items
    if not isinstance(items, list):
        raise ValueError("'rules' must be a list")
    rules = tuple(_parse_rule(item, version, f"rules[{index}]", default=False) for index, item in enumerate(items))
    return LocalRules(version=version, rules=rules, default=default, source=source)


def load_local_rules(source: Union[str, "os.PathLike[str]", Mapping[str, Any], LocalRules]) -> LocalRules:
    """A local rules file (a path, or the already-parsed dict) -> :class:`LocalRules`.

    Raises ``ValueError`` saying which file, rule and field is wrong.
    """
    if isinstance(source, LocalRules):
        return source
    if isinstance(source, Mapping):
        return _parse(source, "dict")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"local sampling rules must be a path or a dict, not {type(source).__name__}")
    path = os.fspath(source)
    return read_json_file(path, "local sampling rules file", lambda document: _parse(document, path))


#: The SDK's built-in file: version 2, no rules, default 1 request/s + 5%.
DEFAULT_LOCAL_RULES: LocalRules = _parse({"version": 2, "default": {"fixed_target": 1, "rate": 0.05}}, "built-in")
