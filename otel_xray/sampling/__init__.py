"""X-Ray centralized sampling for OpenTelemetry: rules from the X-Ray console decide what is traced.

::

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from otel_xray.sampling import XRayRemoteSampler

    resource = Resource.create({"service.name": "checkout"})
    provider = TracerProvider(resource=resource, sampler=XRayRemoteSampler(resource=resource))

Or, under ``opentelemetry-instrument``, ``OTEL_TRACES_SAMPLER=xray`` (the
default with the ``otel_xray`` distro outside AWS Lambda). See docs/sampling.md.
"""

from .local import DEFAULT_LOCAL_RULES, LocalRule, LocalRules, load_local_rules
from .matching import RequestFacts, RuleVerdict, explain, glob_match
from .rules import SamplingRule, default_rule, load_rules_file, parse_rule, rules_from_document
from .sampler import XRayRemoteSampler, new_client_id, xray_sampler_from_arg

__all__ = [
    "XRayRemoteSampler",
    "xray_sampler_from_arg",
    "load_local_rules",
    "LocalRules",
    "LocalRule",
    "DEFAULT_LOCAL_RULES",
    "SamplingRule",
    "default_rule",
    "parse_rule",
    "load_rules_file",
    "rules_from_document",
    "RequestFacts",
    "RuleVerdict",
    "explain",
    "glob_match",
    "new_client_id",
]
