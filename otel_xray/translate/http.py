"""The ``http`` block from HTTP and network attributes, old and stable conventions alike (R48-R62).

Every key this module recognises is consumed (it never reaches metadata),
even when no ``http`` block results: that is the reference's behaviour.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ..values import clean_str
from .messaging import received_payload_size

__all__ = ["make_http", "MAX_HTTP_STRING_CHARS"]

# The schema limits these request fields to 250 characters.
MAX_HTTP_STRING_CHARS = 250

# key -> (role, sets has_http, sets has_url)
_KEYS = {
    "http.method": ("method", True, False),
    "http.request.method": ("method", True, False),
    "http.user_agent": ("user_agent", True, False),
    "user_agent.original": ("user_agent", True, False),
    "http.status_code": ("status", True, False),
    "http.response.status_code": ("status", True, False),
    "http.url": ("url", True, True),
    "url.full": ("url", True, True),
    "http.scheme": ("scheme", True, False),
    "url.scheme": ("scheme", True, False),
    "http.host": ("http_host", True, True),
    "http.server_name": ("server_name", True, True),
    "net.host.name": ("net_host_name", False, True),
    "host.name": ("host_name", False, True),
    "net.peer.name": ("peer_name", False, True),
    "net.peer.ip": ("peer_ip", False, True),
    "server.address": ("server_address", False, True),
    "network.peer.address": ("network_peer_address", False, False),
    "net.host.port": ("host_port", True, False),
    "net.peer.port": ("peer_port", False, False),
    "server.port": ("server_port", False, False),
    "http.target": ("target", True, False),
    "url.path": ("path", True, False),
    "url.query": ("query", True, False),
    "http.client_ip": ("client_ip", True, False),
    "client.address": ("client_address", False, False),
    # Beyond the reference: the response size attributes themselves.
    "http.response_content_length": ("content_length", False, False),
    "http.response.body.size": ("content_length", False, False),
}


_KEY_SET = frozenset(_KEYS)
_CLIENT_ROLES = frozenset(("client_ip", "client_address", "peer_ip", "network_peer_address"))


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


def status_code(value: Any) -> Optional[int]:
    """An HTTP status code as an int; numeric strings count too (the reference reads them as 0)."""
    if type(value) is int:
        return value
    if type(value) is str and value.isdigit():
        return int(value)
    return None


def _port(value: Any) -> str:
    if type(value) is int:
        return str(value)
    if type(value) is str:
        return value
    return ""


def _text_value(value: Any) -> str:
    return value if type(value) is str else ""


def _first(found: Mapping[str, Any], roles: Sequence[str], convert: Any) -> str:
    """The first non-empty of ``roles``, converted to text."""
    for role in roles:
        text = convert(found.get(role))
        if text:
            return text
    return ""


def _path(found: Mapping[str, Any]) -> str:
    target = found.get("target")
    if type(target) is str and target:
        return target
    path = found.get("path")
    path = path if type(path) is str and path else "/"
    query = found.get("query")
    if type(query) is str and query:
        path += query if query.startswith("?") else "?" + query
    return path


def _url(found: Mapping[str, Any], is_server: bool) -> Optional[str]:
    url = found.get("url")
    if type(url) is str and url:
        return url
    scheme = _text_value(found.get("scheme")) or "http"
    candidates: Tuple[str, ...]
    ports: Tuple[str, ...]
    if is_server:
        candidates = ("http_host", "server_name", "net_host_name", "host_name", "server_address")
        ports = ("host_port", "server_port")
    else:
        # server.address closes the chain as in the Collector's newest http.go;
        # older versions built "http:///path" here.
        candidates = ("http_host", "peer_name", "peer_ip", "server_address")
        ports = ("peer_port",)
    host = _first(found, candidates, _text_value)
    # A port is appended only when the host did not come from http.host (which may carry one).
    port = "" if _text_value(found.get("http_host")) else _first(found, ports, _port)
    if port and not ((scheme == "http" and port == "80") or (scheme == "https" and port == "443")):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{_path(found)}"


def _cut(value: Any) -> str:
    if type(value) is str and len(value) <= MAX_HTTP_STRING_CHARS and value.isascii():
        return value  # the common case
    text = value if type(value) is str else str(value)
    return clean_str(text[:MAX_HTTP_STRING_CHARS])


def make_http(
    attributes: Mapping[str, Any], is_server: bool, events: Sequence[Any], consumed: Set[str]
) -> Optional[Dict[str, Any]]:
    """Return the ``http`` block, or ``None``; add the recognised keys to ``consumed``."""
    if _KEY_SET.isdisjoint(attributes):
        return None
    found: Dict[str, Any] = {}
    has_http = has_url = False
    client_ip: Optional[str] = None
    peer_ip_seen = False
    keys: List[str] = []
    for key, value in attributes.items():
        spec = _KEYS.get(key)
        if spec is None:
            continue
        keys.append(key)
        role, sets_http, sets_url = spec
        if sets_http:
            has_http = True
        if sets_url:
            has_url = True
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
        elif _is_ip(value):  # network.peer.address
            peer_ip_seen = has_url = True
            if client_ip is None:
                client_ip = value
    consumed.update(keys)
    if not has_http:
        return None

    request: Dict[str, Any] = {}
    method = found.get("method")
    if method is not None:
        request["method"] = _cut(method)
    if client_ip is not None:
        request["client_ip"] = _cut(client_ip)
    user_agent = found.get("user_agent")
    if user_agent is not None:
        request["user_agent"] = _cut(user_agent)
    if has_url:
        url = _url(found, is_server)
        if url:
            request["url"] = _cut(url)
    if client_ip is not None and not peer_ip_seen:
        request["x_forwarded_for"] = True

    response: Dict[str, Any] = {}
    if "status" in found:
        status = status_code(found["status"])
        if status is not None:
            response["status"] = status
    length = found.get("content_length")
    if type(length) is not int and (events or "message.type" in attributes):
        length = received_payload_size(attributes, events)
    response["content_length"] = length if type(length) is int else 0
    return {"request": request, "response": response}
