"""The one place that reads environment variables.

Precedence everywhere: constructor keyword arguments, then environment
variables, then defaults. Every value is validated here, at construction, so
that a bad setting fails loudly at start-up and never later inside an export.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Iterable, Mapping, NamedTuple, Optional, Tuple

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
PROTOCOLS = ("json", "otlp")

DEFAULT_DAEMON_ADDRESS = "127.0.0.1:2000"

_ACCEPTED_ADDRESS_FORMS = (
    "accepted forms: 'host:port', '[ipv6]:port', "
    "or 'tcp:host:port udp:host:port' (either order)"
)
# RFC 1123 host names: dot-separated labels of letters, digits and hyphens.
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$")


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
        if not _HOST_NAME.match(host):
            raise _address_error(setting, value, f"{host!r} is not a host name or IPv4 address")
    if not port_text.isdigit():
        raise _address_error(setting, value, f"port {port_text!r} is not a number")
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


def exporter_settings(
    endpoint: Optional[str] = None,
    indexed_attributes: Optional[Iterable[str]] = None,
    index_all_attributes: Optional[bool] = None,
    environ: Optional[Mapping[str, str]] = None,
    protocol: Optional[str] = None,
    url_query: Optional[str] = None,
    resource_metadata: Optional[Iterable[str]] = None,
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
        lambda_mode=bool(env.get(AWS_LAMBDA_FUNCTION_NAME, "").strip()),
        keep_url_query=query_choice.lower() == "keep",
        resource_metadata=_resource_metadata(resource_metadata, env),
    )


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
