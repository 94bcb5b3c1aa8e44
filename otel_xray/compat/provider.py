"""The tracer provider behind ``xray_recorder``: what ``configure(...)`` becomes in OpenTelemetry.

When no tracer provider has been set up elsewhere (by ``opentelemetry-instrument``
with the ``otel_xray`` distro, or in code), the recorder sets up one the first
time it is used:

- resource: ``service.name`` = the recorder's service; ``plugins`` add the
  matching AWS resource detectors (``opentelemetry-sdk-extension-aws``); in
  AWS Lambda, the function's resource;
- sampler: ``sampling=False`` samples every segment (parent-based always-on);
  otherwise the X-Ray rules sampler of :mod:`otel_xray.sampling` with
  ``sampling_rules`` as its fallback rules, when that module is installed;
- X-Ray trace IDs, the ``LocalRootSpanProcessor`` (segment annotations from
  nested code), and the X-Ray exporter to ``daemon_address``: batched, or in
  Lambda sent as each span ends (as the SDK sends subsegments there);
- propagators X-Ray + W3C trace context + baggage, unless ``OTEL_PROPAGATORS`` says otherwise.

When a provider exists already, it is used as it is, with the
``LocalRootSpanProcessor`` added; the settings above are then that set-up's
business, and one INFO line says which ``configure`` arguments were left to it.

Internal: the public names are those of ``otel_xray.compat``, which imports
them from here.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult

from opentelemetry.trace import get_current_span

from ..config import DaemonAddress

_logger = logging.getLogger("otel_xray.compat")

# aws-xray-sdk plugin (lower-cased, either spelling) -> detector class in opentelemetry-sdk-extension-aws.
PLUGIN_DETECTORS: Dict[str, Tuple[str, str]] = {
    "ec2plugin": ("opentelemetry.sdk.extension.aws.resource.ec2", "AwsEc2ResourceDetector"),
    "ec2_plugin": ("opentelemetry.sdk.extension.aws.resource.ec2", "AwsEc2ResourceDetector"),
    "ecsplugin": ("opentelemetry.sdk.extension.aws.resource.ecs", "AwsEcsResourceDetector"),
    "ecs_plugin": ("opentelemetry.sdk.extension.aws.resource.ecs", "AwsEcsResourceDetector"),
    "elasticbeanstalkplugin": ("opentelemetry.sdk.extension.aws.resource.beanstalk", "AwsBeanstalkResourceDetector"),
    "elasticbeanstalk_plugin": ("opentelemetry.sdk.extension.aws.resource.beanstalk", "AwsBeanstalkResourceDetector"),
}
PLUGINS_PACKAGE = "opentelemetry-sdk-extension-aws"


def validate_plugins(plugins: Sequence[str]) -> Tuple[str, ...]:
    """The plugin names, checked: an unknown one raises ``ValueError`` (the SDK fails to import it)."""
    if isinstance(plugins, str):
        plugins = (plugins,)
    names = tuple(plugins)
    for name in names:
        if not isinstance(name, str) or name.lower() not in PLUGIN_DETECTORS:
            raise ValueError(
                f"unknown X-Ray plugin {name!r}: the plugins are 'EC2Plugin', 'ECSPlugin' and 'ElasticBeanstalkPlugin'"
            )
    return names


def plugin_detectors(plugins: Sequence[str]) -> Tuple[List[Any], Optional[str]]:
    """Detector instances for the plugins, and a message when their package is missing."""
    import importlib

    detectors: List[Any] = []
    seen = set()
    for name in validate_plugins(plugins):
        module_name, class_name = PLUGIN_DETECTORS[name.lower()]
        if class_name in seen:
            continue
        seen.add(class_name)
        try:
            detectors.append(getattr(importlib.import_module(module_name), class_name)())
        except ImportError:
            return [], (
                f"otel_xray.compat: plugins={tuple(plugins)!r} need AWS resource detectors, which are not "
                f"installed: pip install {PLUGINS_PACKAGE}"
            )
    return detectors, None


def make_resource(service: Optional[str], plugins: Sequence[str], lambda_attributes: Optional[Dict[str, Any]]) -> Resource:
    attributes: Dict[str, Any] = dict(lambda_attributes or {})
    if service:
        attributes["service.name"] = service
    initial = Resource.create(attributes)
    if not plugins:
        return initial
    detectors, problem = plugin_detectors(plugins)
    if problem:
        _logger.warning(problem)
        return initial
    from opentelemetry.sdk.resources import get_aggregated_resources

    # Detectors that find nothing (not on EC2, say) add nothing; they never raise.
    detected = get_aggregated_resources(detectors, initial_resource=Resource.get_empty(), timeout=5)
    return initial.merge(detected)


# A decision that begin_segment(sampling=...) or an incoming header has already made.
FORCED_DECISION: "contextvars.ContextVar[Optional[str]]" = contextvars.ContextVar("otel_xray_compat_forced", default=None)
SAMPLE = "sample"
AS_ROOT = "root"


class CompatSampler(Sampler):
    """Wraps the sampler chosen by ``configure``; honours a decision made by the caller.

    ``begin_segment(sampling=1)`` (or a middleware that read ``Sampled=1``)
    samples; under a remote parent whose header made no decision, the rules
    decide as for a new trace (the SDK's middlewares do the same).
    """

    def __init__(self, delegate: Sampler, root: Sampler, parent_based: bool = False) -> None:
        self._delegate = delegate
        self._root = root
        # The delegate follows a local parent's decision: decide that here, without the call chain.
        self._parent_based = parent_based

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None, attributes: Any = None, links: Any = None, trace_state: Any = None) -> SamplingResult:
        forced = FORCED_DECISION.get()
        if forced is None:
            if self._parent_based:
                parent = get_current_span(parent_context).get_span_context()
                if parent.is_valid and not parent.is_remote:
                    if parent.trace_flags.sampled:
                        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, parent.trace_state)
                    return SamplingResult(Decision.DROP, None, parent.trace_state)
            return self._delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if forced == SAMPLE:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, trace_state)
        return self._root.should_sample(None, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"CompatSampler{{{self._delegate.get_description()}}}"


_sampler_notice = False


def make_sampler(
    sampling: bool, sampling_rules: Any, daemon: Optional[DaemonAddress], resource: Resource, in_lambda: bool
) -> Tuple[Sampler, Sampler]:
    """``(sampler, root sampler)`` for the provider: see the module docstring."""
    global _sampler_notice
    always = ParentBased(ALWAYS_ON)
    if not sampling or in_lambda:
        # In Lambda the function's own decision, in _X_AMZN_TRACE_ID, rules (the parent-based part).
        return always, ALWAYS_ON
    try:
        from ..sampling import XRayRemoteSampler  # type: ignore[import-not-found,attr-defined,unused-ignore]
    except ImportError:
        if not _sampler_notice:
            _sampler_notice = True
            _logger.info(
                "otel_xray.compat: X-Ray sampling rules need otel_xray.sampling, which this version lacks; "
                "every trace is sampled (parent-based always-on)%s",
                " and sampling_rules are not applied" if sampling_rules else "",
            )
        return always, ALWAYS_ON
    endpoint = f"http://{daemon.tcp_host}:{daemon.tcp_port}" if daemon is not None else None
    if daemon is not None and ":" in daemon.tcp_host:
        endpoint = f"http://[{daemon.tcp_host}]:{daemon.tcp_port}"
    sampler = XRayRemoteSampler(resource=resource, endpoint=endpoint, fallback_rules=sampling_rules or None)
    return sampler, sampler


def build_provider(
    service: Optional[str],
    plugins: Sequence[str],
    sampling: bool,
    sampling_rules: Any,
    daemon: Optional[DaemonAddress],
    in_lambda: bool,
    sampler: Optional[Sampler] = None,
) -> TracerProvider:
    """A tracer provider as ``configure`` describes it (see the module docstring)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from ..annotate import install_local_root_tracking
    from ..aws_lambda import lambda_resource_attributes
    from ..exporter import XRaySpanExporter
    from ..ids import XRayIdGenerator
    from ..processor import XRayBatchSpanProcessor

    resource = make_resource(service, plugins, lambda_resource_attributes() if in_lambda else None)
    if sampler is not None:  # an OpenTelemetry sampler given to configure(sampler=...)
        chosen, root, parent_based = sampler, sampler, False
    else:
        chosen, root = make_sampler(sampling, sampling_rules, daemon, resource, in_lambda)
        parent_based = True  # parent-based always-on, or the X-Ray rules sampler (parent-based too)
    provider = TracerProvider(
        resource=resource, sampler=CompatSampler(chosen, root, parent_based), id_generator=XRayIdGenerator()
    )
    exporter = XRaySpanExporter(endpoint=str(daemon) if daemon is not None else None)
    # In Lambda the process may be frozen right after the handler returns: send as
    # each span ends, as aws-xray-sdk sends each subsegment there.
    provider.add_span_processor(SimpleSpanProcessor(exporter) if in_lambda else XRayBatchSpanProcessor(exporter))
    install_local_root_tracking(provider)  # after the processor, which may track roots itself
    return provider


def install_propagators(in_lambda: bool) -> None:
    """X-Ray (Lambda's variant in Lambda), W3C trace context and baggage, as the global propagator."""
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagate import set_global_textmap
    from opentelemetry.propagators.aws import AwsXRayLambdaPropagator, AwsXRayPropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    xray = AwsXRayLambdaPropagator() if in_lambda else AwsXRayPropagator()
    set_global_textmap(CompositePropagator([xray, TraceContextTextMapPropagator(), W3CBaggagePropagator()]))
