"""The http block (docs/mapping.md "http"; Collector rules R48-R62), old and stable conventions alike."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind

from otel_xray.translate import Translator

from .spans import make_span, span_context

PARENT = span_context()


def http_of(kind, attributes, events=(), keep_url_query=False):
    translator = Translator(keep_url_query=keep_url_query)
    doc = translator.translate(make_span(kind=kind, attributes=attributes, parent=PARENT, events=events))
    return doc.get("http"), doc.get("metadata", {}).get("default", {})


@pytest.mark.parametrize(
    "attributes",
    [
        {"http.method": "GET", "http.user_agent": "ua", "http.status_code": 200},
        {"http.request.method": "GET", "user_agent.original": "ua", "http.response.status_code": 200},
    ],
    ids=["old", "stable"],
)
def test_r49_method_user_agent_status_in_both_conventions(attributes):
    http, _ = http_of(SpanKind.SERVER, attributes)
    assert http == {"request": {"method": "GET", "user_agent": "ua"}, "response": {"status": 200}}


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"server.address": "a.example.com", "server.port": 443},
        {"net.peer.name": "db", "net.peer.port": 5432},
        {"client.address": "10.0.0.1"},
        {"network.peer.address": "10.0.0.1"},
    ],
)
def test_r48_no_http_block_without_an_http_key(attributes):
    assert http_of(SpanKind.CLIENT, attributes)[0] is None


def test_r55_network_keys_are_consumed_even_without_an_http_block():
    http, metadata = http_of(SpanKind.CLIENT, {"net.peer.name": "db", "net.peer.port": 5432, "client.address": "x"})
    assert http is None
    assert not {"net.peer.name", "net.peer.port", "client.address"} & set(metadata)


def test_r55_network_peer_port_is_not_consumed():
    _, metadata = http_of(SpanKind.CLIENT, {"http.request.method": "GET", "network.peer.port": 8080})
    assert metadata["network.peer.port"] == 8080


def test_r56_unmapped_http_keys_go_to_metadata():
    _, metadata = http_of(SpanKind.CLIENT, {"http.request.method": "GET", "http.route": "/a/{id}", "http.flavor": "1.1"})
    assert metadata == {"http.route": "/a/{id}", "http.flavor": "1.1"}


@pytest.mark.parametrize(
    "kind, attributes, url, url_with_query",
    [
        (SpanKind.SERVER, {"http.method": "GET", "http.url": "https://api.example.com/users/junit"}, "https://api.example.com/users/junit", None),
        (SpanKind.CLIENT, {"http.request.method": "GET", "url.full": "https://api.example.com/users/junit?v=1"}, "https://api.example.com/users/junit", "https://api.example.com/users/junit?v=1"),
        (SpanKind.CLIENT, {"http.request.method": "GET", "url.full": "https://api.example.com/a#frag"}, "https://api.example.com/a", "https://api.example.com/a#frag"),
        (SpanKind.SERVER, {"http.method": "GET", "http.scheme": "https", "http.host": "api.example.com", "http.target": "/users/junit"}, "https://api.example.com/users/junit", None),
        (SpanKind.SERVER, {"http.method": "GET", "http.scheme": "https", "http.host": "api.example.com", "http.target": "/?users=junit"}, "https://api.example.com/", "https://api.example.com/?users=junit"),
        (SpanKind.SERVER, {"http.method": "GET", "http.scheme": "http", "net.host.name": "kb234.example.com", "net.host.port": 8080, "http.target": "/users/junit"}, "http://kb234.example.com:8080/users/junit", None),
        (SpanKind.SERVER, {"http.request.method": "GET", "server.address": "localhost", "url.path": "/api", "url.query": "?version=test"}, "http://localhost/api", "http://localhost/api?version=test"),
        (SpanKind.SERVER, {"http.request.method": "GET", "url.scheme": "https", "server.address": "api.example.com", "server.port": 443, "url.path": "/x", "url.query": "a=1"}, "https://api.example.com/x", "https://api.example.com/x?a=1"),
        (SpanKind.SERVER, {"http.request.method": "GET", "url.scheme": "http", "server.address": "h", "server.port": 8080}, "http://h:8080/", None),
        (SpanKind.SERVER, {"http.method": "GET", "http.host": "h:1", "net.host.port": 9}, "http://h:1/", None),
        (SpanKind.CLIENT, {"http.method": "GET", "http.scheme": "http", "net.peer.name": "kb234.example.com", "net.peer.port": 8080, "http.target": "/users/junit"}, "http://kb234.example.com:8080/users/junit", None),
        (SpanKind.CLIENT, {"http.method": "GET", "http.scheme": "http", "net.peer.name": "kb234.example.com", "net.peer.port": "8080", "http.target": "/?users=junit"}, "http://kb234.example.com:8080/", "http://kb234.example.com:8080/?users=junit"),
        (SpanKind.CLIENT, {"http.method": "GET", "http.scheme": "https", "net.peer.ip": "2001:db8:85a3::8a2e:370:7334", "http.target": "/users/junit"}, "https://2001:db8:85a3::8a2e:370:7334/users/junit", None),
        # R54: server.port is never used for client URLs.
        (SpanKind.CLIENT, {"http.request.method": "GET", "server.address": "api.example.com", "server.port": 8443, "url.path": "/x"}, "http://api.example.com/x", None),
    ],
)
def test_r52_to_r54_url_without_query_string_unless_kept(kind, attributes, url, url_with_query):
    # Query strings carry tokens and personal data: left out unless OTEL_EXPORTER_XRAY_URL_QUERY=keep.
    assert http_of(kind, attributes)[0]["request"]["url"] == url
    assert http_of(kind, attributes, keep_url_query=True)[0]["request"]["url"] == (url_with_query or url)
    # Either way the query attributes are consumed: they never reach metadata.
    assert not {"url.query", "http.target", "url.full", "http.url"} & set(http_of(kind, attributes)[1])


@pytest.mark.parametrize(
    "attributes, client_ip, forwarded",
    [
        ({"http.method": "GET", "http.client_ip": "1.2.3.4"}, "1.2.3.4", True),
        ({"http.method": "GET", "client.address": "1.2.3.4"}, "1.2.3.4", True),
        ({"http.method": "GET", "client.address": "not-an-ip"}, None, False),
        ({"http.method": "GET", "net.peer.ip": "5.6.7.8"}, "5.6.7.8", False),
        ({"http.method": "GET", "network.peer.address": "5.6.7.8"}, "5.6.7.8", False),
        ({"http.method": "GET", "http.client_ip": "1.2.3.4", "net.peer.ip": "5.6.7.8"}, "1.2.3.4", False),
        ({"http.method": "GET", "net.peer.ip": "5.6.7.8", "client.address": "1.2.3.4"}, "1.2.3.4", False),
        ({"http.method": "GET", "client.address": "1.2.3.4", "http.client_ip": "9.9.9.9"}, "9.9.9.9", True),
    ],
)
def test_r50_r51_client_ip_and_x_forwarded_for(attributes, client_ip, forwarded):
    request = http_of(SpanKind.SERVER, attributes)[0]["request"]
    assert request.get("client_ip") == client_ip
    assert request.get("x_forwarded_for", False) is forwarded
    assert request.get("x_forwarded_for") is not False  # never sent as false


@pytest.mark.parametrize("kind", [SpanKind.SERVER, SpanKind.CLIENT])
def test_no_url_without_a_host(kind):
    # The Collector sends "http:///" here; a URL with no host tells the console nothing.
    http, _ = http_of(kind, {"http.method": "GET", "network.peer.address": "10.0.0.2", "http.target": "/a"})
    assert http["request"] == {"method": "GET", "client_ip": "10.0.0.2"}


def test_r58_http_block_on_subsegments_too():
    assert http_of(SpanKind.CLIENT, {"http.request.method": "POST"})[0]["request"]["method"] == "POST"


@pytest.mark.parametrize(
    "attributes, events, length",
    [
        # Unknown stays unknown: no invented 0.
        ({"http.method": "GET"}, (), None),
        ({"http.method": "GET", "message.type": "RECEIVED", "messaging.message_payload_size_bytes": 12}, (), 12),
        ({"http.method": "GET"}, [("message", {"message.type": "RECEIVED", "messaging.message_payload_size_bytes": 34})], 34),
        ({"http.method": "GET"}, [("message", {"message.type": "SENT", "messaging.message_payload_size_bytes": 34})], None),
        # Beyond the Collector: the HTTP body size attributes themselves, and a captured Content-Length header.
        ({"http.request.method": "GET", "http.response.body.size": 512}, (), 512),
        ({"http.method": "GET", "http.response_content_length": 77}, (), 77),
        ({"http.method": "GET", "http.response.header.content-length": ("1234",)}, (), 1234),
        ({"http.method": "GET", "http.response.header.content_length": ("99",)}, (), 99),
        ({"http.method": "GET", "http.response.header.content-length": ("n/a",)}, (), None),
        ({"http.method": "GET", "http.response.body.size": -1}, (), None),
        ({"http.method": "GET", "http.response.body.size": 5, "http.response.header.content-length": ("7",)}, (), 5),
    ],
)
def test_r60_content_length_only_when_known(attributes, events, length):
    http, metadata = http_of(SpanKind.CLIENT, attributes, events)
    assert http.get("response", {}).get("content_length") == length
    assert not any(key.startswith("http.response.header.content") for key in metadata)


@pytest.mark.parametrize(
    "attributes, client_ip, forwarded",
    [
        # The first address of a captured X-Forwarded-For, as aws-xray-sdk records it, even behind a peer IP.
        ({"http.method": "GET", "net.peer.ip": "10.0.0.2", "http.request.header.x_forwarded_for": ("203.0.113.9, 10.0.0.1",)}, "203.0.113.9", True),
        ({"http.method": "GET", "client.address": "10.0.0.2", "http.request.header.x-forwarded-for": ("2001:db8::7",)}, "2001:db8::7", True),
        ({"http.method": "GET", "http.request.header.x-forwarded-for": "198.51.100.4:5555, 10.0.0.1"}, "198.51.100.4", True),
        ({"http.method": "GET", "http.request.header.x-forwarded-for": ("[2001:db8::9]:443",)}, "2001:db8::9", True),
        # Not an address: ignored, the other attributes decide.
        ({"http.method": "GET", "net.peer.ip": "10.0.0.2", "http.request.header.x-forwarded-for": ("unknown",)}, "10.0.0.2", False),
    ],
)
def test_client_ip_from_a_captured_x_forwarded_for_header(attributes, client_ip, forwarded):
    http, metadata = http_of(SpanKind.SERVER, attributes)
    assert http["request"].get("client_ip") == client_ip
    assert http["request"].get("x_forwarded_for", False) is forwarded
    assert not any(key.startswith("http.request.header.x") for key in metadata)


@pytest.mark.parametrize("value, status", [(404, 404), ("503", 503), ("OK", None)])
def test_r61_status_types(value, status):
    response = http_of(SpanKind.SERVER, {"http.method": "GET", "http.status_code": value})[0].get("response", {})
    assert response.get("status") == status


def test_request_strings_are_cut_to_250_characters():
    long_url = "https://example.com/" + "a" * 400
    request = http_of(SpanKind.CLIENT, {"http.request.method": "GET", "url.full": long_url, "user_agent.original": "u" * 300})[0]["request"]
    assert request["url"] == long_url[:250]
    assert len(request["user_agent"]) == 250
