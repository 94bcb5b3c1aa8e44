"""Segment names: which attribute names a document, and making any name acceptable to X-Ray.

X-Ray accepts names of 1 to 200 characters made of Unicode letters, numbers
and spaces plus ``_ . : / % & # = + - @``; any other character makes the
service reject the whole document (``InvalidName``). Unlike the Collector,
which sanitises only span names and cuts at 200 *bytes*, every name here is
sanitised, cut at 200 characters without splitting one, and never empty.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from opentelemetry.trace import SpanKind

from .messaging import destination_name

__all__ = ["MAX_NAME_CHARS", "FALLBACK_NAME", "sanitize_name", "document_name"]

MAX_NAME_CHARS = 200
FALLBACK_NAME = "span"
_ASCII_INVALID = re.compile(r"[^A-Za-z0-9 _.:/%&#=+\-@]")
_ALLOWED_SYMBOLS = frozenset("_.:/%&#=+-@")
_ALLOWED_CATEGORIES = frozenset(("Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No", "Zs", "Zl", "Zp"))


def _allowed(ch: str) -> bool:
    # The published schema's name pattern lists Basic Multilingual Plane ranges only.
    return ch in _ALLOWED_SYMBOLS or (ord(ch) <= 0xFFFF and unicodedata.category(ch) in _ALLOWED_CATEGORIES)


# Span and service names repeat endlessly (instrumentations name spans by
# route or operation), so sanitised names are cached; the cache is bounded.
_CACHE: Dict[str, str] = {}
_CACHE_SIZE = 4096


def sanitize_name(name: Any) -> str:
    """Return ``name`` restricted to X-Ray's characters and length, or ``""`` if nothing is left."""
    if type(name) is not str:
        name = "" if name is None else str(name)
    cached = _CACHE.get(name)
    if cached is not None:
        return cached
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    result = _CACHE[name] = _sanitize(name)
    return result


def _sanitize(name: str) -> str:
    if name.isascii():
        cleaned = _ASCII_INVALID.sub("", name)
    else:
        # Compose first so that "e" + combining accent survives as "é".
        cleaned = "".join(ch for ch in unicodedata.normalize("NFC", name) if _allowed(ch))
    return cleaned[:MAX_NAME_CHARS].strip()


def _host_of(url: Any) -> str:
    if type(url) is not str or "//" not in url:
        return ""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _text(attributes: Mapping[str, Any], key: str) -> str:
    value = attributes.get(key)
    return value if type(value) is str else ""


def _database_name(attributes: Mapping[str, Any]) -> str:
    name = _text(attributes, "db.name") or _text(attributes, "db.namespace")
    if not name:
        return ""
    connection = _text(attributes, "db.connection_string")
    if connection:
        host = _host_of(connection[5:] if connection.startswith("jdbc:") else connection)
        if host:
            return f"{name}@{host}"
    return name


def _trim_aws_prefix(name: str, attributes: Mapping[str, Any]) -> str:
    if attributes.get("rpc.system") == "aws-api":
        if name.startswith("AWS.SDK."):
            return name[len("AWS.SDK.") :]
        if name.startswith("AWS::"):
            return name[len("AWS::") :]
    return name


_DEPENDENCY_KINDS = (SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER)
_LAST_NAMING_KEYS = ("rpc.service", "http.host", "net.peer.name")
# Every attribute that can name a span or set its namespace.
_NAMING_KEYS = frozenset(
    (
        "aws.local.service", "aws.remote.service", "peer.service", "aws.service", "db.name", "db.namespace",
        "rpc.service", "rpc.system", "http.host", "net.peer.name", "messaging.destination.name",
        "messaging.destination", "server.address", "url.full", "http.url",
    )
)


def document_name(
    span_name: str, kind: SpanKind, attributes: Mapping[str, Any], service_name: str
) -> Tuple[str, Optional[str]]:
    """Choose and sanitise the document's name, and its namespace (R17-R32 plus README extensions).

    The namespace is ``aws`` for AWS SDK calls (``rpc.system`` ``aws-api``, or a
    name taken from ``aws.service``), ``remote`` for other CLIENT and PRODUCER
    spans, and absent otherwise.
    """
    if _NAMING_KEYS.isdisjoint(attributes):
        # No attribute names this span (most INTERNAL spans): the short way.
        if kind is SpanKind.SERVER:
            fixed = sanitize_name(service_name)
        else:
            fixed = sanitize_name(span_name)
        fixed = fixed or sanitize_name(span_name) or sanitize_name(service_name) or FALLBACK_NAME
        return fixed, ("remote" if kind is SpanKind.CLIENT or kind is SpanKind.PRODUCER else None)
    name = ""
    if kind is SpanKind.SERVER:
        name = _text(attributes, "aws.local.service")
    if kind in _DEPENDENCY_KINDS:
        remote = _text(attributes, "aws.remote.service")
        if remote:
            name = _trim_aws_prefix(remote, attributes)
    name = name or _text(attributes, "peer.service")
    from_aws_service = False
    if not name:
        name = _text(attributes, "aws.service")
        from_aws_service = bool(name)
    name = name or _database_name(attributes) or (service_name if kind is SpanKind.SERVER else "")
    if not name:
        get = attributes.get
        for key in _LAST_NAMING_KEYS:
            value = get(key)
            if type(value) is str and value:
                name = value
                break
    if not name and kind in (SpanKind.CLIENT, SpanKind.PRODUCER):
        # Beyond the reference: new semantic conventions name the remote side too.
        name = (
            destination_name(attributes)
            or _text(attributes, "server.address")
            or _host_of(attributes.get("url.full"))
            or _host_of(attributes.get("http.url"))
        )
    fixed = sanitize_name(name) if name else ""
    fixed = fixed or sanitize_name(span_name) or sanitize_name(service_name) or FALLBACK_NAME

    if from_aws_service or attributes.get("rpc.system") == "aws-api":
        return fixed, "aws"
    if kind is SpanKind.CLIENT or kind is SpanKind.PRODUCER:
        return fixed, "remote"
    return fixed, None
