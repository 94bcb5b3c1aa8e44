"""``otel-xray sampling explain``: which rule a request matches, and why every other rule does not.

Internal: the public names are those of ``otel_xray.sampling``, which imports
them from here.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from .matching import CLOUD_PLATFORM_SERVICE_TYPES, RequestFacts, explain
from .rules import SamplingRule


def request_facts(
    service: str = "",
    service_type: str = "",
    resource_arn: str = "",
    method: Optional[str] = None,
    path: Optional[str] = None,
    host: Optional[str] = None,
    url: Optional[str] = None,
    attributes: Optional[Mapping[str, str]] = None,
) -> RequestFacts:
    """A request described by hand. ``url`` supplies the path and host not given;
    ``service_type`` may be an X-Ray type (``AWS::ECS::Container``) or a ``cloud.platform`` (``aws_ecs``)."""
    if url:
        parts = urlsplit(url if "://" in url else "http://" + url)
        path = path if path is not None else (parts.path or "/")
        host = host if host is not None else parts.hostname
    return RequestFacts(
        service_name=service,
        service_type=CLOUD_PLATFORM_SERVICE_TYPES.get(service_type, service_type),
        resource_arn=resource_arn,
        host=host,
        method=method,
        path="/" if path is None else path,
        attributes=dict(attributes or {}),
    )


def _describe_request(facts: RequestFacts) -> str:
    parts = [
        f"ServiceName {facts.service_name!r}",
        f"ServiceType {facts.service_type!r}",
        f"ResourceARN {facts.resource_arn!r}",
        f"Host {facts.host!r}" if facts.host is not None else "no Host",
        f"HTTPMethod {facts.method!r}" if facts.method is not None else "no HTTPMethod",
        f"URLPath {facts.path!r}",
    ]
    parts.extend(f"attribute {key}={value!r}" for key, value in facts.attributes.items())
    return ", ".join(parts)


def format_explanation(rules: Sequence[SamplingRule], facts: RequestFacts, source: str = "") -> str:
    """The explanation as text: every rule in the order tried, the one that decides, and what it does."""
    lines: List[str] = [f"request: {_describe_request(facts)}"]
    lines.append(f"rules{f' from {source}' if source else ''}, in the order they are tried (priority, then name):")
    winner: Optional[SamplingRule] = None
    for position, verdict in enumerate(explain(rules, facts), start=1):
        rule = verdict.rule
        head = f"  {position}. {rule.rule_name} (priority {rule.priority})"
        if verdict.matches and winner is None:
            winner = rule
            lines.append(f"{head}: MATCHES -> {rule.describe()}")
        elif verdict.matches:
            lines.append(f"{head}: would match, but {winner.rule_name!r} comes first")  # type: ignore[union-attr]
        else:
            lines.append(f"{head}: no")
            lines.extend(f"       {reason}" for reason in verdict.reasons)
    if winner is None:
        lines.append(
            "decision: no rule matches; the sampler's fallback decides (by default 1 request/s, then 5%)"
        )
    else:
        lines.append(
            f"decision: rule {winner.rule_name!r}: {_sampling_words(winner)}"
        )
    lines.append("(globs ignore case; '*' matches anything, even a missing value; other patterns fail on a missing value)")
    return "\n".join(lines)


def _sampling_words(rule: SamplingRule) -> str:
    rate = f"{rule.fixed_rate * 100:.4g}%"
    if rule.reservoir_size:
        return (
            f"up to {rule.reservoir_size} request(s)/s across all clients (each client borrows 1/s until X-Ray "
            f"assigns its share), then {rate} of the rest"
        )
    return f"{rate} of requests (no reservoir)"


def parse_attributes(items: Iterable[str]) -> Dict[str, str]:
    """``k=v`` strings -> a dict; ``ValueError`` for an item without ``=``."""
    attributes: Dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--attr {item!r}: expected key=value")
        attributes[key] = value
    return attributes
