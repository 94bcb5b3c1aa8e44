"""The local daemon's HTTP side: JSON operations and pages on TCP at the UDP address, loopback only."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from otel_xray.daemon.http_api import ApiError, HttpRoutes, Page, is_loopback_host
from otel_xray.daemon.server import LocalDaemon


def _echo(request):
    if request.get("fail"):
        raise ApiError("asked to fail", "ThrottledException", 429)
    if request.get("crash"):
        raise RuntimeError("a bug")
    return {"Echo": request}


def _routes() -> HttpRoutes:
    return HttpRoutes(
        post_json={"/Echo": _echo},
        get={"/": lambda path, query: Page(b"<p>hello " + query.get("who", "").encode() + b"</p>")},
        headers={"Content-Security-Policy": "default-src 'none'"},
    )


@pytest.fixture
def api_daemon():
    with LocalDaemon("127.0.0.1", 0, http_routes=_routes()) as running:
        yield running


def _request(daemon, method, path, body=None, host=None):
    host_name, port = daemon.http.address
    connection = http.client.HTTPConnection(host_name, port, timeout=5)
    headers = {"Host": f"127.0.0.1:{port}" if host is None else host}
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_http_listens_on_tcp_at_the_udp_port(api_daemon):
    assert api_daemon.http.address == api_daemon.address


def test_json_operation_round_trip(api_daemon):
    status, headers, body = _request(api_daemon, "POST", "/Echo", json.dumps({"A": [1, "x"]}))
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"Echo": {"A": [1, "x"]}}


def test_an_empty_body_is_an_empty_request(api_daemon):
    status, _, body = _request(api_daemon, "POST", "/Echo", b"")
    assert (status, json.loads(body)) == (200, {"Echo": {}})


@pytest.mark.parametrize(
    "path, body, status, code",
    [
        ("/Echo", json.dumps({"fail": True}), 429, "ThrottledException"),
        ("/Echo", json.dumps({"crash": True}), 500, "InternalFailure"),
        ("/Echo", b"{not json", 400, "SerializationException"),
        ("/Echo", b"[1, 2]", 400, "SerializationException"),
        ("/Nowhere", b"{}", 404, "UnknownOperationException"),
    ],
)
def test_errors_have_the_api_shape(api_daemon, path, body, status, code):
    got_status, headers, got_body = _request(api_daemon, "POST", path, body)
    assert got_status == status
    assert headers["x-amzn-ErrorType"] == code
    assert json.loads(got_body)["__type"] == code


def test_pages_and_route_headers(api_daemon):
    status, headers, body = _request(api_daemon, "GET", "/?who=you")
    assert (status, body) == (200, b"<p>hello you</p>")
    assert headers["Content-Security-Policy"] == "default-src 'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert _request(api_daemon, "GET", "/missing")[0] == 404


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:2000", "10.0.0.1:80", ""])
def test_a_host_header_that_is_not_loopback_is_refused(api_daemon, host):
    for method, path in (("GET", "/"), ("POST", "/Echo")):
        status, _, body = _request(api_daemon, method, path, b"{}", host=host)
        assert status == 403, (method, host)
        assert b"loopback" in body


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("localhost", True), ("LOCALHOST:2000", True), ("app.localhost", True), ("127.0.0.1:2000", True),
        ("127.9.9.9", True), ("[::1]:2000", True), ("::1", True), ("0.0.0.0", False),
        ("example.com", False), ("localhost.example.com", False), ("[::ffff:10.0.0.1]", False), (None, False),
    ],
)
def test_loopback_host_names(host, loopback):
    assert is_loopback_host(host) is loopback


def test_udp_still_works_beside_http(api_daemon):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"garbage", api_daemon.address)
    api_daemon.wait_quiet(quiet=0.2)
    assert sum(api_daemon.rejected.values()) == 1
