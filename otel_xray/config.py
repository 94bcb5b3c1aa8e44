"""The one place that reads environment variables (internal; see ``otel_xray.__all__`` for the public API).

Precedence everywhere: constructor keyword arguments, then environment
variables, then defaults. Every value is validated here, at construction, so
that a bad setting fails loudly at start-up and never later inside an export.

Every reader takes an optional ``environ`` mapping (``os.environ`` when
omitted), so that callers and tests can pass the environment they mean. Other
modules ask here (:func:`in_lambda`, :func:`lambda_environment`,
:func:`propagator_names`, ...) instead of reading ``os.environ`` themselves.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Dict, Iterable, List, Mapping, MutableMapping, NamedTuple, Optional, Tuple

__all__ = [
    "AWS_XRAY_DAEMON_ADDRESS",
    "OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES",
    "OTEL_EXPORTER_XRAY_INDEX_ALL_ATTRIBUTES",
    "OTEL_EXPORTER_XRAY_PROTOCOL",
    "OTEL_EXPORTER_XRAY_URL_QUERY",
    "OTEL_EXPORTER_XRAY_RESOURCE_METADATA",
    "AWS_LAMBDA_FUNCTION_NAME",
    "DEFAULT_DAEMON_ADDRESS",
    "DaemonAddress",
    "ExporterSettings",
    "parse_daemon_address",
    "exporter_settings",
    "OTEL_EXPORTER_XRAY_TRANSPORT",
    "OTEL_EXPORTER_XRAY_ENDPOINT",
    "AWS_ENDPOINT_URL_XRAY",
    "TransportSettings",
    "transport_settings",
    "ComputeEnvironment",
    "compute_environment",
    "LAMBDA_TRACE_HEADER",
    "LambdaEnvironment",
    "in_lambda",
    "lambda_function_name",
    "lambda_environment",
    "lambda_trace_header",
    "service_name_configured",
    "propagator_names",
    "set_default",
    "user_cache_directory",
    "OTEL_TRACES_SAMPLER_ARG",
    "SamplerSettings",
    "parse_sampler_arg",
    "parse_sampler_endpoint",
    "sampler_settings",
    "parse_resource_metadata",
]

AWS_XRAY_DAEMON_ADDRESS = "AWS_XRAY_DAEMON_ADDRESS"
OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES = "OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES"
OTEL_EXPORTER_XRAY_INDEX_ALL_ATTRIBUTES = "OTEL_EXPORTER_XRAY_INDEX_ALL_ATTRIBUTES"
OTEL_EXPORTER_XRAY_PROTOCOL = "OTEL_EXPORTER_XRAY_PROTOCOL"
OTEL_EXPORTER_XRAY_URL_QUERY = "OTEL_EXPORTER_XRAY_URL_QUERY"
URL_QUERY_CHOICES = ("drop", "keep")
OTEL_EXPORTER_XRAY_RESOURCE_METADATA = "OTEL_EXPORTER_XRAY_RESOURCE_METADATA"
AWS_LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
# Set by Lambda for every invocation: Root=...;Parent=...;Sampled=...
LAMBDA_TRACE_HEADER = "_X_AMZN_TRACE_ID"
PROTOCOLS = ("json", "otlp")

DEFAULT_DAEMON_ADDRESS = "127.0.0.1:2000"

_ACCEPTED_ADDRESS_FORMS = (
    "accepted forms: 'host:port', '[ipv6]:port', "
    "or 'tcp:host:port udp:host:port' (either order)"
)
# RFC 1123 host names: dot-separated labels of ASCII letters, digits and hyphens
# (and underscores, which service discovery names use).
_HOST_NAME = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?")
# A label the resolver reads as a number (decimal, octal or hex, as inet_aton
# does): a host made only of such labels ("1.2.3", "999.999.999.999",
# "0x7f.1") would be taken as an IPv4 address, so it must be a valid one.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
# ASCII digits only: str.isdigit() also accepts "٢٠٠٠" and "²".
_PORT = re.compile(r"[0-9]{1,5}")


class DaemonAddress(NamedTuple):
    """Where the X-Ray daemon listens: UDP for segments, TCP for sampling."""

    udp_host: str
    udp_port: int
    tcp_host: str
    tcp_port: int

    @property
    def udp(self) -> Tuple[str, int]:
        return (self.udp_host, self.udp_port)

    def __str__(self) -> str:
        return f"udp:{_join(self.udp_host, self.udp_port)} tcp:{_join(self.tcp_host, self.tcp_port)}"


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _address_error(setting: str, value: str, why: str) -> ValueError:
    return ValueError(f"{setting}={value!r} is not a valid X-Ray daemon address ({why}); {_ACCEPTED_ADDRESS_FORMS}")


def _parse_host_port(token: str, setting: str, value: str) -> Tuple[str, int]:
    if token.startswith("["):
        close = token.find("]")
        if close < 0 or token[close + 1 : close + 2] != ":":
            raise _address_error(setting, value, "an IPv6 address must be written '[addr]:port'")
        host, port_text = token[1:close], token[close + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _address_error(setting, value, f"{host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = token.rpartition(":")
        if not sep or not host:
            raise _address_error(setting, value, "a host and a port are required")
        if ":" in host:
            raise _address_error(setting, value, "an IPv6 address must be in brackets")
        if all(_NUMERIC_LABEL.fullmatch(label) for label in host.rstrip(".").split(".")):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise _address_error(setting, value, f"{host!r} is not an IPv4 address") from None
        elif not _HOST_NAME.fullmatch(host):
            raise _address_error(setting, value, f"{host!r} is not a host name or IPv4 address")
    if not _PORT.fullmatch(port_text):
        raise _address_error(setting, value, f"port {port_text!r} is not a number (ASCII digits)")
    port = int(port_text)
    if not 0 < port < 65536:
        raise _address_error(setting, value, f"port {port} is outside 1-65535")
    return host, port


def parse_daemon_address(value: str, setting: str = AWS_XRAY_DAEMON_ADDRESS) -> DaemonAddress:
    """Parse a daemon address in any of the forms the X-Ray SDKs accept.

    ``setting`` names where the value came from, for the error message.
    """
    if not isinstance(value, str):
        raise TypeError(f"{setting} must be a string, not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise _address_error(setting, value, "it is empty")
    if "://" in text:
        raise _address_error(setting, value, "a URL is not an address; drop the scheme")
    tokens = text.split()
    if len(tokens) == 1:
        if tokens[0].lower().startswith(("tcp:", "udp:")):
            raise _address_error(setting, value, "the two-address form needs both 'tcp:' and 'udp:'")
        host, port = _parse_host_port(tokens[0], setting, value)
        return DaemonAddress(host, port, host, port)
    if len(tokens) != 2:
        raise _address_error(setting, value, "too many parts")
    found = {}
    for token in tokens:
        scheme, sep, rest = token.partition(":")
        scheme = scheme.lower()
        if not sep or scheme not in ("tcp", "udp"):
            raise _address_error(setting, value, f"{token!r} does not start with 'tcp:' or 'udp:'")
        if scheme in found:
            raise _address_error(setting, value, f"'{scheme}:' is given twice")
        found[scheme] = _parse_host_port(rest, setting, value)
    (udp_host, udp_port), (tcp_host, tcp_port) = found["udp"], found["tcp"]
    return DaemonAddress(udp_host, udp_port, tcp_host, tcp_port)


def parse_bool(value: str, setting: str) -> bool:
    text = value.strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"{setting}={value!r} is not a boolean; use 'true' or 'false'")


def parse_list(value: str) -> Tuple[str, ...]:
    """Comma-separated names; blanks around entries and empty entries are ignored."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


class ExporterSettings(NamedTuple):
    daemon: DaemonAddress
    indexed_attributes: Tuple[str, ...]
    index_all_attributes: bool
    protocol: str = "json"
    lambda_mode: bool = False
    # Query strings carry tokens and personal data: dropped from http.request.url unless kept.
    keep_url_query: bool = False
    # Resource attributes in segment metadata: () default, ("all",), ("none",), or keys kept as well.
    resource_metadata: Tuple[str, ...] = ()
    # How documents travel: UDP to the daemon (the default), or the X-Ray API.
    transport: "TransportSettings" = None  # type: ignore[assignment]  # set by exporter_settings


def exporter_settings(
    endpoint: Optional[str] = None,
    indexed_attributes: Optional[Iterable[str]] = None,
    index_all_attributes: Optional[bool] = None,
    environ: Optional[Mapping[str, str]] = None,
    protocol: Optional[str] = None,
    url_query: Optional[str] = None,
    resource_metadata: Optional[Iterable[str]] = None,
    transport: Optional[str] = None,
    api_endpoint: Optional[str] = None,
    region: Optional[str] = None,
) -> ExporterSettings:
    """Resolve the exporter's settings: arguments, then environment, then defaults."""
    env = os.environ if environ is None else environ

    if endpoint is not None:
        daemon = parse_daemon_address(endpoint, "endpoint")
    elif env.get(AWS_XRAY_DAEMON_ADDRESS, "").strip():
        daemon = parse_daemon_address(env[AWS_XRAY_DAEMON_ADDRESS], AWS_XRAY_DAEMON_ADDRESS)
    else:
        daemon = parse_daemon_address(DEFAULT_DAEMON_ADDRESS, "default")

    if indexed_attributes is not None:
        if isinstance(indexed_attributes, str):
            raise TypeError("indexed_attributes must be a sequence of attribute names, not a string")
        indexed = tuple(indexed_attributes)
        for name in indexed:
            if not isinstance(name, str) or not name:
                raise ValueError(f"indexed_attributes entries must be non-empty strings, got {name!r}")
    else:
        indexed = parse_list(env.get(OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES, ""))

    if index_all_attributes is not None:
        index_all = bool(index_all_attributes)
    else:
        index_all = parse_bool(
            env.get(OTEL_EXPORTER_XRAY_INDEX_ALL_ATTRIBUTES, ""), OTEL_EXPORTER_XRAY_INDEX_ALL_ATTRIBUTES
        )
    if protocol is not None:
        chosen, source = protocol, "protocol"
    else:
        chosen, source = env.get(OTEL_EXPORTER_XRAY_PROTOCOL, "").strip() or "json", OTEL_EXPORTER_XRAY_PROTOCOL
    if not isinstance(chosen, str) or chosen.lower() not in PROTOCOLS:
        raise ValueError(f"{source}={chosen!r} is not a protocol; use 'json' (segment documents) or 'otlp' (OTLP over UDP)")
    if url_query is not None:
        query_choice, query_source = url_query, "url_query"
    else:
        query_choice = env.get(OTEL_EXPORTER_XRAY_URL_QUERY, "").strip() or "drop"
        query_source = OTEL_EXPORTER_XRAY_URL_QUERY
    if not isinstance(query_choice, str) or query_choice.lower() not in URL_QUERY_CHOICES:
        raise ValueError(
            f"{query_source}={query_choice!r} is not a choice; use 'drop' (the default: no query string in "
            "http.request.url) or 'keep'"
        )
    return ExporterSettings(
        daemon=daemon,
        indexed_attributes=indexed,
        index_all_attributes=index_all,
        protocol=chosen.lower(),
        lambda_mode=in_lambda(env),
        keep_url_query=query_choice.lower() == "keep",
        resource_metadata=_resource_metadata(resource_metadata, env),
        transport=transport_settings(transport, api_endpoint, region, protocol=chosen.lower(), environ=env),
    )


# ---------------------------------------------------------------------------
# aws-xray-sdk's own variables, for otel_xray.compat. The SDK's precedence is
# the reverse of the exporter's: a variable that is set beats the value given
# in code (``configure(service=...)``), and the code beats the default.

AWS_XRAY_TRACING_NAME = "AWS_XRAY_TRACING_NAME"
AWS_XRAY_SDK_ENABLED = "AWS_XRAY_SDK_ENABLED"
AWS_XRAY_CONTEXT_MISSING = "AWS_XRAY_CONTEXT_MISSING"
CONTEXT_MISSING_CHOICES = ("RUNTIME_ERROR", "LOG_ERROR", "IGNORE_ERROR")
DEFAULT_CONTEXT_MISSING = "LOG_ERROR"
_SDK_TRUE = ("y", "yes", "t", "true", "on", "1")
_SDK_FALSE = ("n", "no", "f", "false", "off", "0")


class XRaySdkSetting(NamedTuple):
    """A resolved aws-xray-sdk setting, where it came from, and why a given value was not used."""

    value: object
    source: str  # the variable's name, "code" or "default"
    problem: Optional[str] = None


def xray_sdk_tracing_name(code: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> XRaySdkSetting:
    """The default segment name: ``AWS_XRAY_TRACING_NAME``, else ``code``, else ``None``."""
    env = os.environ if environ is None else environ
    if env.get(AWS_XRAY_TRACING_NAME):
        return XRaySdkSetting(env[AWS_XRAY_TRACING_NAME], AWS_XRAY_TRACING_NAME)
    if code:
        return XRaySdkSetting(code, "code")
    return XRaySdkSetting(None, "default")


def xray_sdk_enabled(code: Optional[bool] = None, environ: Optional[Mapping[str, str]] = None) -> XRaySdkSetting:
    """Whether tracing is on: ``AWS_XRAY_SDK_ENABLED`` when set, else ``code``, else on.

    As in the SDK, the variable takes true/false words (``y``, ``yes``, ``t``,
    ``true``, ``on``, ``1`` and their negatives, any case); any other value
    means enabled and is reported as a problem.
    """
    env = os.environ if environ is None else environ
    if AWS_XRAY_SDK_ENABLED in env:
        text = env[AWS_XRAY_SDK_ENABLED].strip().lower()
        if text in _SDK_TRUE:
            return XRaySdkSetting(True, AWS_XRAY_SDK_ENABLED)
        if text in _SDK_FALSE:
            return XRaySdkSetting(False, AWS_XRAY_SDK_ENABLED)
        return XRaySdkSetting(
            True,
            AWS_XRAY_SDK_ENABLED,
            f"{AWS_XRAY_SDK_ENABLED}={env[AWS_XRAY_SDK_ENABLED]!r} is not a true/false word; tracing stays enabled",
        )
    if code is not None:
        if type(code) is bool:
            return XRaySdkSetting(code, "code")
        return XRaySdkSetting(True, "code", f"set_sdk_enabled({code!r}) takes a bool; tracing stays enabled")
    return XRaySdkSetting(True, "default")


def xray_sdk_context_missing(code: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> XRaySdkSetting:
    """What to do when there is no segment: ``AWS_XRAY_CONTEXT_MISSING``, else ``code``, else ``LOG_ERROR``.

    A value that is not one of ``RUNTIME_ERROR``, ``LOG_ERROR`` or
    ``IGNORE_ERROR`` is ignored (the next source is used), as in the SDK.
    """
    env = os.environ if environ is None else environ
    problems: List[str] = []
    candidates = ((env.get(AWS_XRAY_CONTEXT_MISSING), AWS_XRAY_CONTEXT_MISSING), (code, "code"))
    for value, source in candidates:
        if not value:
            continue
        if value in CONTEXT_MISSING_CHOICES:
            return XRaySdkSetting(value, source, "; ".join(problems) or None)
        problems.append(f"{source} gives context_missing={value!r}, not one of {', '.join(CONTEXT_MISSING_CHOICES)}")
    return XRaySdkSetting(DEFAULT_CONTEXT_MISSING, "default", "; ".join(problems) or None)


def xray_sdk_daemon_address(code: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> XRaySdkSetting:
    """The daemon's address: ``AWS_XRAY_DAEMON_ADDRESS``, else ``code``, else ``None`` (the exporter's default).

    The value is a parsed :class:`DaemonAddress`; a malformed one raises
    ``ValueError`` naming its source, as the SDK raises for it.
    """
    env = os.environ if environ is None else environ
    if env.get(AWS_XRAY_DAEMON_ADDRESS, "").strip():
        return XRaySdkSetting(parse_daemon_address(env[AWS_XRAY_DAEMON_ADDRESS]), AWS_XRAY_DAEMON_ADDRESS)
    if code:
        return XRaySdkSetting(parse_daemon_address(code, "daemon_address"), "code")
    return XRaySdkSetting(None, "default")


def otel_propagators_configured(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether ``OTEL_PROPAGATORS`` chooses the propagators (otherwise a set-up may choose them)."""
    env = os.environ if environ is None else environ
    return bool(env.get("OTEL_PROPAGATORS", "").strip())


# ---------------------------------------------------------------- transport
# Which transport carries the documents, and where the X-Ray API is. Kept apart
# from ExporterSettings so that it can be resolved, tested and merged on its own.

OTEL_EXPORTER_XRAY_TRANSPORT = "OTEL_EXPORTER_XRAY_TRANSPORT"
OTEL_EXPORTER_XRAY_ENDPOINT = "OTEL_EXPORTER_XRAY_ENDPOINT"
# The AWS SDKs' standard service-specific endpoint variable, and the switch that turns it off.
AWS_ENDPOINT_URL_XRAY = "AWS_ENDPOINT_URL_XRAY"
AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
# Set by Lambda, ECS, App Runner and CodeBuild, and read by most AWS SDKs (botocore
# itself reads only AWS_DEFAULT_REGION and the profile, which it still does when this is unset).
AWS_REGION = "AWS_REGION"
TRANSPORTS = ("udp", "api")

# Region names as botocore accepts them (letters, digits, inner hyphens).
_REGION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


class TransportSettings(NamedTuple):
    """How documents leave the process: ``udp`` to a daemon, or ``api`` straight to X-Ray."""

    transport: str = "udp"
    #: The X-Ray API endpoint URL; ``None``: botocore's endpoint rules for the region.
    api_endpoint: Optional[str] = None
    #: Where ``api_endpoint`` came from (an argument or a variable name), for messages.
    api_endpoint_source: Optional[str] = None
    #: The AWS Region; ``None``: botocore's own chain (``AWS_DEFAULT_REGION``, the profile).
    region: Optional[str] = None


def _api_endpoint(value: str, source: str) -> str:
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    host = rest.split("/", 1)[0]
    if not sep or scheme.lower() not in ("http", "https") or not host or any(c.isspace() for c in text):
        raise ValueError(
            f"{source}={value!r} is not an X-Ray API endpoint; use a URL such as "
            "'https://xray.us-east-1.amazonaws.com' or 'http://127.0.0.1:4566'"
        )
    return text


def transport_settings(
    transport: Optional[str] = None,
    api_endpoint: Optional[str] = None,
    region: Optional[str] = None,
    protocol: str = "json",
    environ: Optional[Mapping[str, str]] = None,
) -> TransportSettings:
    """Resolve the transport settings: arguments, then environment, then defaults.

    ``protocol`` is the exporter's resolved protocol: OTLP datagrams exist only
    for Lambda's UDP endpoint, so ``otlp`` with the ``api`` transport is refused.
    """
    env = os.environ if environ is None else environ
    if transport is not None:
        chosen, source = transport, "transport"
    else:
        chosen, source = env.get(OTEL_EXPORTER_XRAY_TRANSPORT, "").strip() or "udp", OTEL_EXPORTER_XRAY_TRANSPORT
    if not isinstance(chosen, str) or chosen.strip().lower() not in TRANSPORTS:
        raise ValueError(
            f"{source}={chosen!r} is not a transport; use 'udp' (datagrams to an X-Ray daemon or agent, the "
            "default) or 'api' (PutTraceSegments straight to X-Ray; needs pip install 'otel-xray[api]')"
        )
    name = chosen.strip().lower()
    if name == "api" and str(protocol).lower() == "otlp":
        raise ValueError(
            "the 'otlp' protocol sends OTLP datagrams, which only Lambda's X-Ray UDP endpoint accepts; "
            "the 'api' transport sends X-Ray segment documents: use protocol 'json' with it"
        )

    endpoint: Optional[str] = None
    endpoint_source: Optional[str] = None
    if api_endpoint is not None:
        endpoint, endpoint_source = _api_endpoint(api_endpoint, "api_endpoint"), "api_endpoint"
    elif env.get(OTEL_EXPORTER_XRAY_ENDPOINT, "").strip():
        endpoint = _api_endpoint(env[OTEL_EXPORTER_XRAY_ENDPOINT], OTEL_EXPORTER_XRAY_ENDPOINT)
        endpoint_source = OTEL_EXPORTER_XRAY_ENDPOINT
    elif env.get(AWS_ENDPOINT_URL_XRAY, "").strip() and not parse_bool(
        env.get(AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, ""), AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
    ):
        endpoint = _api_endpoint(env[AWS_ENDPOINT_URL_XRAY], AWS_ENDPOINT_URL_XRAY)
        endpoint_source = AWS_ENDPOINT_URL_XRAY

    if region is not None:
        resolved_region: Optional[str] = region.strip() if isinstance(region, str) else region
        region_source = "region"
    else:
        resolved_region, region_source = env.get(AWS_REGION, "").strip() or None, AWS_REGION
    if resolved_region is not None and (not isinstance(resolved_region, str) or not _REGION_NAME.match(resolved_region)):
        raise ValueError(f"{region_source}={resolved_region!r} is not an AWS Region name; use one such as 'us-east-1'")
    return TransportSettings(
        transport=name, api_endpoint=endpoint, api_endpoint_source=endpoint_source, region=resolved_region
    )


# -- where the process runs (for choosing AWS resource detectors) -----------------------------
OTEL_EXPERIMENTAL_RESOURCE_DETECTORS = "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"
ECS_CONTAINER_METADATA_URI = "ECS_CONTAINER_METADATA_URI"
ECS_CONTAINER_METADATA_URI_V4 = "ECS_CONTAINER_METADATA_URI_V4"
KUBERNETES_SERVICE_HOST = "KUBERNETES_SERVICE_HOST"
# botocore's switch for the EC2 instance metadata service, honoured by the detection too.
AWS_EC2_METADATA_DISABLED = "AWS_EC2_METADATA_DISABLED"


class ComputeEnvironment(NamedTuple):
    """What environment variables tell about the platform the process runs on."""

    # OTEL_EXPERIMENTAL_RESOURCE_DETECTORS as the user set it; None when unset or blank.
    resource_detectors: Optional[str]
    lambda_function: bool  # AWS_LAMBDA_FUNCTION_NAME: an AWS Lambda function
    ecs: bool  # ECS_CONTAINER_METADATA_URI(_V4): an ECS task (on EC2 or Fargate)
    kubernetes: bool  # KUBERNETES_SERVICE_HOST: a Kubernetes pod (EKS or not)
    ec2_metadata_disabled: bool  # AWS_EC2_METADATA_DISABLED=true


def compute_environment(environ: Optional[Mapping[str, str]] = None) -> ComputeEnvironment:
    """Read the variables that say where the process runs; never raises (none of them is ours)."""
    env = os.environ if environ is None else environ
    detectors = env.get(OTEL_EXPERIMENTAL_RESOURCE_DETECTORS, "").strip()
    return ComputeEnvironment(
        resource_detectors=detectors or None,
        lambda_function=bool(env.get(AWS_LAMBDA_FUNCTION_NAME, "").strip()),
        ecs=bool(env.get(ECS_CONTAINER_METADATA_URI_V4, "").strip() or env.get(ECS_CONTAINER_METADATA_URI, "").strip()),
        kubernetes=bool(env.get(KUBERNETES_SERVICE_HOST, "").strip()),
        ec2_metadata_disabled=env.get(AWS_EC2_METADATA_DISABLED, "").strip().lower() == "true",
    )


def _environ(environ: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    return os.environ if environ is None else environ


# ---------------------------------------------------------------- AWS Lambda
def lambda_function_name(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The Lambda function's name (``AWS_LAMBDA_FUNCTION_NAME``), or ``None`` outside Lambda."""
    return _environ(environ).get(AWS_LAMBDA_FUNCTION_NAME, "").strip() or None


def in_lambda(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether this process is an AWS Lambda function: ``AWS_LAMBDA_FUNCTION_NAME`` is set and not blank.

    The one rule for the whole package (exporter, distro, Lambda helpers).
    """
    return lambda_function_name(environ) is not None


def lambda_trace_header(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """This invocation's ``_X_AMZN_TRACE_ID`` (``Root=...;Parent=...;Sampled=...``), if set."""
    return _environ(environ).get(LAMBDA_TRACE_HEADER) or None


class LambdaEnvironment(NamedTuple):
    """What Lambda's runtime variables say about the function (``None``: not set)."""

    function_name: Optional[str]
    function_version: Optional[str]
    region: Optional[str]
    log_stream_name: Optional[str]
    log_group_name: Optional[str]
    memory_mb: Optional[int]


def lambda_environment(environ: Optional[Mapping[str, str]] = None) -> LambdaEnvironment:
    """Lambda's runtime variables, blanks read as unset."""
    env = _environ(environ)

    def text(name: str) -> Optional[str]:
        return env.get(name, "").strip() or None

    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
    return LambdaEnvironment(
        function_name=text(AWS_LAMBDA_FUNCTION_NAME),
        function_version=text("AWS_LAMBDA_FUNCTION_VERSION"),
        region=text("AWS_REGION"),
        log_stream_name=text("AWS_LAMBDA_LOG_STREAM_NAME"),
        log_group_name=text("AWS_LAMBDA_LOG_GROUP_NAME"),
        memory_mb=int(memory) if memory.isascii() and memory.isdigit() else None,
    )


# ---------------------------------------------------------------- OpenTelemetry's own variables
def service_name_configured(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether the user named the service (``OTEL_SERVICE_NAME``, or ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``)."""
    env = _environ(environ)
    if env.get("OTEL_SERVICE_NAME", "").strip():
        return True
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip() == "service.name" and value.strip():
            return True
    return False


def propagator_names(environ: Optional[Mapping[str, str]] = None) -> Tuple[str, ...]:
    """The entries of ``OTEL_PROPAGATORS``, without blanks and ``none``."""
    return tuple(name for name in parse_list(_environ(environ).get("OTEL_PROPAGATORS", "")) if name.lower() != "none")


def set_default(name: str, value: str, environ: Optional[MutableMapping[str, str]] = None) -> str:
    """Set an environment variable unless it is already set; return the value in effect.

    The distro sets OpenTelemetry's variables this way, so that the user's win.
    """
    env = os.environ if environ is None else environ
    return env.setdefault(name, value)


# -- where the local daemon keeps its files ----------------------------------------------------
def user_cache_directory(environ: Optional[Mapping[str, str]] = None) -> str:
    """The user's cache directory: ``$XDG_CACHE_HOME``, ``%LOCALAPPDATA%`` on Windows, else ``~/.cache``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or (env.get("LOCALAPPDATA") if os.name == "nt" else None)
    return base or os.path.join(os.path.expanduser("~"), ".cache")


# -- sampling (otel_xray.sampling) ---------------------------------------------
OTEL_TRACES_SAMPLER_ARG = "OTEL_TRACES_SAMPLER_ARG"
#: Seconds between GetSamplingRules polls, as the X-Ray SDKs poll (plus up to 5 s of jitter).
DEFAULT_SAMPLING_RULES_INTERVAL = 300.0
SAMPLER_ARG_KEYS = ("endpoint", "polling_interval", "fallback_rules")


class SamplerSettings(NamedTuple):
    """Where the X-Ray remote sampler polls, and how often."""

    host: str
    port: int
    polling_interval: float

    @property
    def url(self) -> str:
        return f"http://{_join(self.host, self.port)}"


def parse_sampler_endpoint(value: str, setting: str = "endpoint") -> Tuple[str, int]:
    """``http://host:port``, ``host:port`` or ``[ipv6]:port`` -> ``(host, port)`` (the daemon's TCP proxy)."""
    if not isinstance(value, str):
        raise TypeError(f"{setting} must be a string, not {type(value).__name__}")
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() != "http":
            raise ValueError(
                f"{setting}={value!r}: only http:// is supported; the sampler talks to the X-Ray daemon's (or the "
                "CloudWatch agent's) TCP proxy, which signs the requests it forwards to X-Ray"
            )
        text = rest
        if text.endswith("/"):
            text = text[:-1]
        if "/" in text or "?" in text:
            raise ValueError(f"{setting}={value!r}: give only the scheme, host and port (no path)")
    address = parse_daemon_address(text, setting)
    return (address.tcp_host, address.tcp_port)


def parse_sampler_arg(value: Optional[str], setting: str = OTEL_TRACES_SAMPLER_ARG) -> "dict[str, object]":
    """``OTEL_TRACES_SAMPLER_ARG`` for ``OTEL_TRACES_SAMPLER=xray``: ``key=value,...`` -> keyword arguments.

    Keys: ``endpoint`` (``http://host:port``), ``polling_interval`` (seconds),
    ``fallback_rules`` (path to an aws-xray-sdk local rules file). The SDK hands
    the raw string to the sampler's factory; an unknown key or bad value is a
    ``ValueError`` naming it.
    """
    arguments: "dict[str, object]" = {}
    if value is None or not value.strip():
        return arguments
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise ValueError(f"{setting}={value!r}: {item.strip()!r} is not key=value; keys: {', '.join(SAMPLER_ARG_KEYS)}")
        if key not in SAMPLER_ARG_KEYS:
            raise ValueError(f"{setting}={value!r}: unknown key {key!r}; keys: {', '.join(SAMPLER_ARG_KEYS)}")
        if key in arguments:
            raise ValueError(f"{setting}={value!r}: {key!r} is given twice")
        if key == "polling_interval":
            arguments[key] = _positive_seconds(text, f"{setting} polling_interval")
        elif key == "endpoint":
            parse_sampler_endpoint(text, f"{setting} endpoint")  # fail here, naming the variable
            arguments[key] = text
        else:
            if not text:
                raise ValueError(f"{setting}={value!r}: fallback_rules needs a file path")
            arguments[key] = text
    return arguments


def _positive_seconds(value: object, setting: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{setting}={value!r} is not a number of seconds") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{setting}={value!r} must be a positive number of seconds")
    return seconds


def sampler_settings(
    endpoint: Optional[str] = None,
    polling_interval: Optional[float] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> SamplerSettings:
    """Resolve the sampler's settings: arguments, then the ``tcp`` part of ``AWS_XRAY_DAEMON_ADDRESS``, then defaults."""
    env = os.environ if environ is None else environ
    if endpoint is not None:
        host, port = parse_sampler_endpoint(endpoint, "endpoint")
    elif env.get(AWS_XRAY_DAEMON_ADDRESS, "").strip():
        address = parse_daemon_address(env[AWS_XRAY_DAEMON_ADDRESS], AWS_XRAY_DAEMON_ADDRESS)
        host, port = address.tcp_host, address.tcp_port
    else:
        address = parse_daemon_address(DEFAULT_DAEMON_ADDRESS, "default")
        host, port = address.tcp_host, address.tcp_port
    interval = (
        DEFAULT_SAMPLING_RULES_INTERVAL
        if polling_interval is None
        else _positive_seconds(polling_interval, "polling_interval")
    )
    return SamplerSettings(host, port, interval)


def parse_resource_metadata(value: str, setting: str = OTEL_EXPORTER_XRAY_RESOURCE_METADATA) -> Tuple[str, ...]:
    """``all``, ``none``, or comma-separated resource attribute keys (``prefix.*`` allowed) kept in metadata too.

    Empty means the default: resource attributes not shown elsewhere in the
    document and not different in every process (see docs/mapping.md).
    """
    keys = parse_list(value)
    if len(keys) == 1 and keys[0].lower() in ("all", "none"):
        return (keys[0].lower(),)
    for key in keys:
        if key.lower() in ("all", "none"):
            raise ValueError(f"{setting}={value!r}: '{key}' cannot be combined with attribute keys")
        if "*" in key[:-1] or (key.endswith("*") and not key.endswith(".*")):
            raise ValueError(f"{setting}={value!r}: '{key}' is not a key or a 'prefix.*' pattern")
    return keys


def _resource_metadata(argument: Optional[Iterable[str]], env: Mapping[str, str]) -> Tuple[str, ...]:
    if argument is None:
        return parse_resource_metadata(env.get(OTEL_EXPORTER_XRAY_RESOURCE_METADATA, ""))
    if isinstance(argument, str):
        return parse_resource_metadata(argument, "resource_metadata")
    return parse_resource_metadata(",".join(argument), "resource_metadata")


def child_process_environment(pythonpath_first: str, environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """This process's environment for a helper process of the package, with ``pythonpath_first``
    first on ``PYTHONPATH`` (so that the child imports this very copy of the package)."""
    env = dict(os.environ if environ is None else environ)
    env["PYTHONPATH"] = os.pathsep.join(path for path in (pythonpath_first, env.get("PYTHONPATH")) if path)
    return env
