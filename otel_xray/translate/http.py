"""The ``http`` block from HTTP and network attributes, old and stable conventions alike (docs/mapping.md, "http").

Every key of :data:`HTTP_KEYS` is consumed (it never reaches metadata), even
when no ``http`` block results, as the Collector does. Beyond the Collector:
the query string is left out of ``request.url`` unless the translator keeps
it, a captured ``X-Forwarded-For`` request header gives ``client_ip`` (its
first address, with ``x_forwarded_for: true``, as aws-xray-sdk records it), and
``content_length`` is written only when known, from the body-size attributes or
a captured ``Content-Length`` response header.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from ..document import EventLike, Http, HttpRequest, HttpResponse
from ..values import INT64_MAX, clean_str
from ._attr import first, text
from .flags import status_code
from .messaging import received_payload_size

__all__ = [
    "make_http_planned",
    "http_plan",
    "HttpPlan",
    "HTTP_KEYS",
    "HTTP_KEY_SET",
    "MAX_HTTP_STRING_CHARS",
]

# The schema limits these request fields to 250 characters.
MAX_HTTP_STRING_CHARS = 250


class KeyRole(NamedTuple):
    role: str
    sets_http: bool  # the key alone makes an http block
    sets_url: bool  # the key alone makes request.url


# The one table of this chain: attribute key -> what it contributes.
HTTP_KEYS: Dict[str, KeyRole] = {
    "http.method": KeyRole("method", True, False),
    "http.request.method": KeyRole("method", True, False),
    "http.user_agent": KeyRole("user_agent", True, False),
    "user_agent.original": KeyRole("user_agent", True, False),
    "http.status_code": KeyRole("status", True, False),
    "http.response.status_code": KeyRole("status", True, False),
    "http.url": KeyRole("url", True, True),
    "url.full": KeyRole("url", True, True),
    "http.scheme": KeyRole("scheme", True, False),
    "url.scheme": KeyRole("scheme", True, False),
    "http.host": KeyRole("http_host", True, True),
    "http.server_name": KeyRole("server_name", True, True),
    "net.host.name": KeyRole("net_host_name", False, True),
    "host.name": KeyRole("host_name", False, True),
    "net.peer.name": KeyRole("peer_name", False, True),
    "net.peer.ip": KeyRole("peer_ip", False, True),
    "server.address": KeyRole("server_address", False, True),
    "network.peer.address": KeyRole("network_peer_address", False, False),
    "net.host.port": KeyRole("host_port", True, False),
    "net.peer.port": KeyRole("peer_port", False, False),
    "server.port": KeyRole("server_port", False, False),
    "http.target": KeyRole("target", True, False),
    "url.path": KeyRole("path", True, False),
    "url.query": KeyRole("query", True, False),
    "http.client_ip": KeyRole("client_ip", True, False),
    "client.address": KeyRole("client_address", False, False),
    # Beyond the Collector: the response size attributes themselves, and captured headers
    # (OpenTelemetry Python names them with "_", the semantic conventions with "-").
    "http.response_content_length": KeyRole("content_length", False, False),
    "http.response.body.size": KeyRole("content_length", False, False),
    "http.response.header.content-length": KeyRole("content_length_header", False, False),
    "http.response.header.content_length": KeyRole("content_length_header", False, False),
    "http.request.header.x-forwarded-for": KeyRole("forwarded_for", False, False),
    "http.request.header.x_forwarded_for": KeyRole("forwarded_for", False, False),
}

# Derived from the table: a span with none of these keys has no http block and consumes nothing.
HTTP_KEY_SET = frozenset(HTTP_KEYS)
_CLIENT_ROLES = frozenset(("client_ip", "client_address", "peer_ip", "network_peer_address", "forwarded_for"))
_SERVER_HOSTS = ("http_host", "server_name", "net_host_name", "host_name", "server_address")
_SERVER_PORTS = ("host_port", "server_port")
# server.address closes the client chain as in the Collector's newest http.go;
# older versions built "http:///path" here.
_CLIENT_HOSTS = ("http_host", "peer_name", "peer_ip", "server_address")
_CLIENT_PORTS = ("peer_port",)


def _is_ip(value: Any) -> bool:
    if type(value) is not str:
        return False
    # inet_pton is a C call; ipaddress (far slower) settles what it refuses, e.g. scoped IPv6.
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, value)
            return True
        except (OSError, ValueError):
            pass
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _header_values(value: Any) -> List[str]:
    """A captured header: a sequence of strings in OpenTelemetry, sometimes a plain string."""
    if type(value) is str:
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if type(item) is str]
    return []


def forwarded_client(value: Any) -> Optional[str]:
    """The first address of an ``X-Forwarded-For`` header (the original client), if it is an IP address."""
    values = _header_values(value)
    if not values:
        return None
    address = values[0].split(",", 1)[0].strip()
    if _is_ip(address):
        return address
    # "[v6]:port" and "v4:port" forms appear behind some proxies.
    if address.startswith("[") and "]" in address:
        address = address[1 : address.index("]")]
    elif address.count(":") == 1:
        address = address.partition(":")[0]
    return address if _is_ip(address) else None


def _header_length(value: Any) -> Optional[int]:
    values = _header_values(value)
    if values:
        text = values[0].strip()
        if text.isascii() and text.isdigit() and len(text) <= 18:
            return int(text)
    return None


def _port(found: Mapping[str, Any], roles: Sequence[str]) -> str:
    for role in roles:
        value = found.get(role)
        if type(value) is int:
            return str(value)
        if type(value) is str and value:
            return value
    return ""


def _without_query(url: str) -> str:
    cut = len(url)
    for mark in ("?", "#"):
        index = url.find(mark)
        if 0 <= index < cut:
            cut = index
    return url[:cut]


def _path(found: Mapping[str, Any], keep_query: bool) -> str:
    target = found.get("target")
    if type(target) is str and target:
        return target if keep_query else _without_query(target)
    path = found.get("path")
    path = path if type(path) is str and path else "/"
    query = found.get("query")
    if keep_query and type(query) is str and query:
        path += query if query.startswith("?") else "?" + query
    return path


def _url(found: Mapping[str, Any], is_server: bool, keep_query: bool) -> str:
    """The request URL, or ``""`` when there is no host to build one with (the Collector sends ``http:///``)."""
    url = found.get("url")
    if type(url) is str and url:
        return url if keep_query else _without_query(url)
    hosts, ports = (_SERVER_HOSTS, _SERVER_PORTS) if is_server else (_CLIENT_HOSTS, _CLIENT_PORTS)
    host = first(found, hosts)
    if not host:
        return ""
    scheme = text(found, "scheme") or "http"
    # A port is appended only when the host did not come from http.host (which may carry one).
    port = "" if text(found, "http_host") else _port(found, ports)
    if port and not ((scheme == "http" and port == "80") or (scheme == "https" and port == "443")):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{_path(found, keep_query)}"


def _cut(value: Any) -> str:
    if type(value) is str and len(value) <= MAX_HTTP_STRING_CHARS and value.isascii():
        return value  # the common case
    text = value if type(value) is str else str(value)
    return clean_str(text[:MAX_HTTP_STRING_CHARS])


def _length(value: Any) -> Optional[int]:
    return value if type(value) is int and 0 <= value <= INT64_MAX else None


class HttpPlan(NamedTuple):
    """The http keys a span has, in its attribute order, with what each contributes."""

    keys: Tuple[str, ...]
    roles: Tuple[Tuple[str, str], ...]  # (key, role)
    has_http: bool  # a key that alone makes an http block is present
    has_url: bool  # a key that alone makes request.url is present


def http_plan(keys: Iterable[str]) -> Optional[HttpPlan]:
    """The plan for a span with these attribute keys (in order), or ``None`` when none is an http key."""
    specs = [(key, HTTP_KEYS[key]) for key in keys if key in HTTP_KEY_SET]
    if not specs:
        return None
    return HttpPlan(
        tuple(key for key, _ in specs),
        tuple((key, spec.role) for key, spec in specs),
        any(spec.sets_http for _, spec in specs),
        any(spec.sets_url for _, spec in specs),
    )


def make_http_planned(
    plan: HttpPlan,
    attributes: Mapping[str, Any],
    is_server: bool,
    events: Sequence[EventLike],
    consumed: Set[str],
    keep_url_query: bool = False,
) -> Optional[Http]:
    """The ``http`` block from the keys :func:`http_plan` found (all of them present in ``attributes``)."""
    consumed.update(plan.keys)
    if not plan.has_http:
        return None
    found: Dict[str, Any] = {}
    has_url = plan.has_url
    client_ip: Optional[str] = None
    forwarded: Optional[str] = None
    peer_ip_seen = False
    for key, role in plan.roles:
        value = attributes[key]
        if role not in _CLIENT_ROLES:
            found[role] = value
        elif role == "client_ip":
            client_ip = value if type(value) is str else str(value)
        elif role == "client_address":
            if _is_ip(value):
                client_ip = value
        elif role == "peer_ip":
            peer_ip_seen = True
            found[role] = value
            if client_ip is None and type(value) is str:
                client_ip = value
        elif role == "forwarded_for":
            forwarded = forwarded_client(value)
        elif _is_ip(value):  # network.peer.address
            peer_ip_seen = has_url = True
            if client_ip is None:
                client_ip = value

    request: HttpRequest = {}
    method = found.get("method")
    if method is not None:
        request["method"] = _cut(method)
    if forwarded is not None:
        # The client behind the proxies, as aws-xray-sdk's middlewares record it.
        request["client_ip"] = forwarded
    elif client_ip is not None:
        request["client_ip"] = _cut(client_ip)
    user_agent = found.get("user_agent")
    if user_agent is not None:
        request["user_agent"] = _cut(user_agent)
    if has_url:
        url = _url(found, is_server, keep_url_query)
        if url:
            request["url"] = _cut(url)
    if forwarded is not None or (client_ip is not None and not peer_ip_seen):
        request["x_forwarded_for"] = True

    response: HttpResponse = {}
    if "status" in found:
        status = status_code(found["status"])
        if status is not None:
            response["status"] = status
    length = _length(found.get("content_length"))
    if length is None and "content_length_header" in found:
        length = _header_length(found["content_length_header"])
    if length is None and (events or "message.type" in attributes):
        length = _length(received_payload_size(attributes, events))
    if length is not None:
        response["content_length"] = length

    http: Http = {}
    if request:
        http["request"] = request
    if response:
        http["response"] = response
    return http or None
