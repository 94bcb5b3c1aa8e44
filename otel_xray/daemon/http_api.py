"""The local daemon's HTTP side: X-Ray API operations (and pages) on its TCP address.

The real X-Ray daemon listens on TCP at the same address as on UDP and proxies
any request there to the X-Ray API (the SDKs' samplers post
``/GetSamplingRules`` and ``/SamplingTargets`` to it). The local daemon answers
such requests itself. Features register their operations in an
:class:`HttpRoutes`: JSON operations by path (``POST``, rest-json, as
botocore's X-Ray client sends them) and read-only pages by path (``GET``).

Errors are answered as the service answers them, so that botocore raises the
right exception: the HTTP status, an ``x-amzn-ErrorType`` header and a body
``{"__type": code, "message": text}``.

A request whose ``Host`` header does not name a loopback address is refused
(DNS rebinding: a web page must not reach this server through a name that
resolves to 127.0.0.1), unless the server was started with ``allow_remote``.
A ``POST`` that a browser sends from another origin is refused too (``Origin``
or ``Sec-Fetch-Site`` say so), so that no web page can write into the store.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Mapping, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from ..values import json_number

# PutTraceSegments carries up to 50 documents of 64 kB each (and their JSON quoting).
MAX_REQUEST_BYTES = 8 * 1024 * 1024


class ApiError(Exception):
    """An error answered in the X-Ray API's shape (``InvalidRequestException`` is a 400)."""

    def __init__(self, message: str, code: str = "InvalidRequestException", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def epoch_seconds(value: Any) -> Optional[float]:
    """A timestamp in a request body as epoch seconds, or ``None`` when ``value`` is not one.

    The forms X-Ray API clients send: a number of epoch seconds (botocore's
    rest-json), the same as a decimal string, or an ISO 8601 date-time (``Z``
    or an offset; none means UTC). Every operation that reads a time reads it here.
    """
    if not isinstance(value, str):
        return json_number(value)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


@dataclass
class Page:
    """A response to a ``GET``."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: Dict[str, str] = field(default_factory=dict)


#: ``POST`` operation: the parsed JSON request body (``{}`` when empty) -> the JSON response body.
JsonOperation = Callable[[Dict[str, Any]], Dict[str, Any]]
#: ``GET`` page: ``(path, query parameters)`` -> a page. Must not change any state.
PageHandler = Callable[[str, Mapping[str, Any]], Page]


@dataclass
class HttpRoutes:
    """What the server answers. Paths are exact (``/GetSamplingRules``); ``get_prefixes`` match a prefix."""

    post_json: Dict[str, JsonOperation] = field(default_factory=dict)
    get: Dict[str, PageHandler] = field(default_factory=dict)
    get_prefixes: Dict[str, PageHandler] = field(default_factory=dict)
    #: Headers added to every response (a Content-Security-Policy, say).
    headers: Dict[str, str] = field(default_factory=dict)

    def merge(self, other: "HttpRoutes") -> "HttpRoutes":
        """Add ``other``'s routes to these (``other`` wins on the same path); returns ``self``."""
        self.post_json.update(other.post_json)
        self.get.update(other.get)
        self.get_prefixes.update(other.get_prefixes)
        self.headers.update(other.headers)
        return self


def is_loopback_host(host_header: Optional[str]) -> bool:
    """Whether a ``Host`` header names this machine's loopback (``localhost``, ``127.x.y.z``, ``[::1]``)."""
    if not host_header:
        return False
    host = host_header.strip()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"
    server_version = "otel-xray-daemon"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the daemon prints what it receives its own way

    # -- helpers -----------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, headers: Optional[Mapping[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in {**self.server.routes.headers, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, error: ApiError) -> None:
        body = json.dumps({"__type": error.code, "message": error.message}).encode("utf-8")
        self._send(error.status, body, "application/x-amz-json-1.1", {"x-amzn-ErrorType": error.code})

    def _host_allowed(self) -> bool:
        if self.server.allow_remote or is_loopback_host(self.headers.get("Host")):
            return True
        self.close_connection = True
        message = "the Host header must name a loopback address"
        if self.command == "POST":
            self._error(ApiError(message, "AccessDeniedException", 403))
        else:  # a page, as a browser shows it
            self._send(403, (message + "\n").encode(), "text/plain; charset=utf-8")
        return False

    def _same_origin(self) -> bool:
        """Refuse a POST a browser sends from another site (a form or fetch aimed at localhost).

        API clients send no ``Origin``; a browser sends it (and ``Sec-Fetch-Site``)
        on cross-origin POSTs, which must not put data into the store.
        """
        origin = self.headers.get("Origin")
        site = self.headers.get("Sec-Fetch-Site")
        if (origin is None or origin == f"http://{self.headers.get('Host', '')}") and site in (None, "same-origin", "none"):
            return True
        self.close_connection = True
        self._error(ApiError("cross-origin requests are refused", "AccessDeniedException", 403))
        return False

    # -- methods -----------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 - the base class's naming
        if not self._host_allowed() or not self._same_origin():
            return
        path = urlsplit(self.path).path
        operation = self.server.routes.post_json.get(path)
        length_text = self.headers.get("Content-Length") or "0"
        length = int(length_text) if length_text.isdigit() else -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self.close_connection = True
            self._error(ApiError(f"request body must be 0 to {MAX_REQUEST_BYTES} bytes", status=413))
            return
        raw = self.rfile.read(length) if length else b""
        if operation is None:
            self._error(ApiError(f"no operation at {path}", "UnknownOperationException", 404))
            return
        try:
            request = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, ValueError) as exc:
            self._error(ApiError(f"the request body is not JSON: {exc}", "SerializationException"))
            return
        if not isinstance(request, dict):
            self._error(ApiError("the request body must be a JSON object", "SerializationException"))
            return
        try:
            response = operation(request)
        except ApiError as exc:
            self._error(exc)
            return
        except Exception as exc:  # a bug in one operation must not take the server down
            self._error(ApiError(f"internal error: {type(exc).__name__}", "InternalFailure", 500))
            return
        self._send(200, json.dumps(response, ensure_ascii=False).encode("utf-8"), "application/json")

    def do_GET(self) -> None:  # noqa: N802
        if not self._host_allowed():
            return
        parts = urlsplit(self.path)
        routes = self.server.routes
        handler = routes.get.get(parts.path)
        if handler is None:
            for prefix, candidate in routes.get_prefixes.items():
                if parts.path.startswith(prefix):
                    handler = candidate
                    break
        if handler is None:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")
            return
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            page = handler(parts.path, query)
        except ApiError as exc:
            self._error(exc)
            return
        except Exception as exc:
            self._send(500, f"internal error: {type(exc).__name__}\n".encode(), "text/plain; charset=utf-8")
            return
        self._send(page.status, page.body, page.content_type, page.headers)

    do_HEAD = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    routes: HttpRoutes
    allow_remote: bool

    def __init__(self, address: Tuple[str, int], family: int) -> None:
        self.address_family = family
        super().__init__(address, _Handler)


class DaemonHttpServer:
    """A threaded HTTP server on ``(host, port)`` answering ``routes``; ``start`` and ``stop`` it."""

    def __init__(self, host: str, port: int, routes: HttpRoutes, allow_remote: bool = False) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = _Server((host, port), family)
        self._server.routes = routes
        self._server.allow_remote = allow_remote
        self.address: Tuple[str, int] = self._server.server_address[:2]  # type: ignore[assignment]
        self._thread: Optional[threading.Thread] = None

    @property
    def routes(self) -> HttpRoutes:
        return self._server.routes

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> "DaemonHttpServer":
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="otel-xray-daemon-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
