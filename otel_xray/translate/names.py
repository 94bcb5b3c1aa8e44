"""Document names and namespaces: which attribute names a document, and making any name acceptable to X-Ray.

The naming chain is one table, :data:`NAME_CHAIN` (docs/mapping.md, "name"):
the first rule that applies to the span's kind and yields a name wins.
:data:`NAMING_KEYS`, the keys whose absence lets a span skip the chain, is
derived from it.

X-Ray accepts names of 1 to 200 characters made of Unicode letters, numbers
and spaces plus ``_ . : / % & # = + - @``; any other character makes the
service reject the whole document (``InvalidName``). Unlike the Collector,
which sanitises only span names and cuts at 200 *bytes*, every name here is
sanitised, cut at 200 characters without splitting one, and never empty.
"""

from __future__ import annotations

import re
import unicodedata
from typing import AbstractSet, Any, Callable, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Set, Tuple
from urllib.parse import urlsplit

from opentelemetry.trace import SpanKind

from ._attr import text
from .caches import BoundedCache
from .messaging import DESTINATION_KEYS
from .sql import DATABASE_KEYS, DATABASE_NAME_KEYS, database_name

__all__ = [
    "MAX_NAME_CHARS",
    "FALLBACK_NAME",
    "sanitize_name",
    "NameSanitizer",
    "NameRule",
    "NAME_CHAIN",
    "NAMING_KEYS",
    "NAME_KEYS",
    "NameSteps",
    "name_steps",
    "chain_steps",
    "planned_name",
]

MAX_NAME_CHARS = 200
FALLBACK_NAME = "span"
_ASCII_INVALID = re.compile(r"[^A-Za-z0-9 _.:/%&#=+\-@]")
_ALLOWED_SYMBOLS = frozenset("_.:/%&#=+-@")
_ALLOWED_CATEGORIES = frozenset(("Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No", "Zs", "Zl", "Zp"))

# Sanitised names per translator: names up to 1,000 characters are remembered, in 512 KiB.
NAME_CACHE_BYTES = 512 * 1024
NAME_CACHE_KEY_CHARS = 1000


def _allowed(ch: str) -> bool:
    # The published schema's name pattern lists Basic Multilingual Plane ranges only.
    return ch in _ALLOWED_SYMBOLS or (ord(ch) <= 0xFFFF and unicodedata.category(ch) in _ALLOWED_CATEGORIES)


def sanitize_name(name: Any) -> str:
    """Return ``name`` restricted to X-Ray's characters and length, or ``""`` if nothing is left."""
    if type(name) is not str:
        name = "" if name is None else str(name)
    if name.isascii():
        cleaned = _ASCII_INVALID.sub("", name)
    else:
        # Compose first so that "e" + combining accent survives as "é".
        cleaned = "".join(ch for ch in unicodedata.normalize("NFC", name) if _allowed(ch))
    return cleaned[:MAX_NAME_CHARS].strip()


class NameSanitizer:
    """:func:`sanitize_name` with a cache of its own: span and service names repeat endlessly."""

    __slots__ = ("cache",)

    def __init__(self, max_bytes: int = NAME_CACHE_BYTES) -> None:
        self.cache: BoundedCache[str, str] = BoundedCache(max_bytes, NAME_CACHE_KEY_CHARS)

    def __call__(self, name: str) -> str:
        cached = self.cache.get(name)
        if cached is None:
            cached = sanitize_name(name)
            self.cache.put(name, cached, len(name), len(cached))
        return cached


def _host_of(url: Any) -> str:
    if type(url) is not str or "//" not in url:
        return ""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


# ------------------------------------------------------------------ the chain
Picker = Callable[[Mapping[str, Any], str], str]  # (attributes, service name) -> name or ""


class NameRule(NamedTuple):
    kinds: FrozenSet[SpanKind]  # the span kinds the rule applies to
    reads: Tuple[str, ...]  # every attribute key the rule looks at
    pick: Optional[Picker] = None  # None: the first non-empty string among ``reads``
    namespace: Optional[str] = None  # the namespace a name from this rule implies
    # For a ``pick``: it yields nothing unless one of these keys is present (None: it may always).
    needs: Optional[FrozenSet[str]] = None


_CLIENT, _PRODUCER = SpanKind.CLIENT, SpanKind.PRODUCER  # looked up once: an Enum attribute costs ~0.1 us
_ALL = frozenset(SpanKind)
_SERVER = frozenset((SpanKind.SERVER,))
_NOT_SERVER = _ALL - _SERVER
_DEPENDENCY = frozenset((SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER))
_OUTGOING = frozenset((SpanKind.CLIENT, SpanKind.PRODUCER))


def _remote_service(attributes: Mapping[str, Any], _: str) -> str:
    name = text(attributes, "aws.remote.service")
    if name and attributes.get("rpc.system") == "aws-api":
        if name.startswith("AWS.SDK."):
            return name[len("AWS.SDK.") :]
        if name.startswith("AWS::"):
            return name[len("AWS::") :]
    return name


_URL_KEYS = ("url.full", "http.url")


def _url_host(attributes: Mapping[str, Any], _: str) -> str:
    for key in _URL_KEYS:
        host = _host_of(attributes.get(key))
        if host:
            return host
    return ""


NAME_CHAIN: Tuple[NameRule, ...] = (
    NameRule(_SERVER, ("aws.local.service",)),
    NameRule(_DEPENDENCY, ("aws.remote.service", "rpc.system"), _remote_service, needs=frozenset(("aws.remote.service",))),
    NameRule(_ALL, ("peer.service",)),
    NameRule(_ALL, ("aws.service",), namespace="aws"),
    # Databases by name (with host), else by system: never by statement or span name.
    NameRule(
        _NOT_SERVER,
        DATABASE_NAME_KEYS,
        lambda attributes, _: database_name(attributes),
        needs=frozenset(DATABASE_KEYS),
    ),
    NameRule(_SERVER, (), lambda _, service_name: service_name),
    NameRule(_ALL, ("rpc.service", "http.host", "net.peer.name")),
    # Beyond the Collector: the newer conventions name the remote side of outgoing calls too.
    NameRule(_OUTGOING, DESTINATION_KEYS + ("server.address",)),
    NameRule(_OUTGOING, _URL_KEYS, _url_host, needs=frozenset(_URL_KEYS)),
)

# Derived from the chain: every key some naming rule reads.
NAMING_KEYS = frozenset(key for rule in NAME_CHAIN for key in rule.reads)
RPC_SYSTEM, AWS_API = "rpc.system", "aws-api"
# What naming may consume: the keys whose value is taken as the name as it is, and rpc.system.
NAME_KEYS = frozenset(key for rule in NAME_CHAIN if rule.pick is None for key in rule.reads) | {RPC_SYSTEM}
# Per kind (by identity: an enum's hash is a Python call), the rules as plain tuples the loop unpacks cheaply.
_Step = Tuple[Tuple[str, ...], Optional[Picker], Optional[str], Optional[FrozenSet[str]]]
_CHAIN_BY_KIND: Dict[int, Tuple[_Step, ...]] = {
    id(kind): tuple((rule.reads, rule.pick, rule.namespace, rule.needs) for rule in NAME_CHAIN if kind in rule.kinds)
    for kind in SpanKind
}


def _named(
    steps: Tuple[_Step, ...],
    span_name: str,
    kind: SpanKind,
    attributes: Mapping[str, Any],
    service_name: str,
    sanitize: Callable[[str], str],
    consumed: Optional[Set[str]] = None,
) -> Tuple[str, Optional[str]]:
    name: Any = ""
    namespace: Optional[str] = None
    named_by: Optional[str] = None
    get = attributes.get
    for reads, pick, step_namespace, needs in steps:
        if pick is None:
            for key in reads:
                name = get(key)
                if type(name) is str and name:
                    named_by = key
                    break
            else:
                name = ""
        elif needs is None or not needs.isdisjoint(attributes):
            name = pick(attributes, service_name)
        else:
            continue
        if name:
            namespace = step_namespace
            break
    fixed = (sanitize(name) if name else "") or sanitize(span_name) or sanitize(service_name) or FALLBACK_NAME
    if consumed is not None and named_by is not None and fixed == name:
        # The attribute's value is the document's name, as it is: not repeated in metadata.
        consumed.add(named_by)
    # aws for AWS SDK calls, remote for other outgoing calls, else none.
    if get(RPC_SYSTEM) == AWS_API:
        if consumed is not None:
            consumed.add(RPC_SYSTEM)  # the namespace says it
        return fixed, namespace or "aws"
    if namespace is not None:
        return fixed, namespace
    if kind is _CLIENT or kind is _PRODUCER:
        return fixed, "remote"
    return fixed, None


NameSteps = Tuple[_Step, ...]


def name_steps(kind: SpanKind, keys: AbstractSet[str]) -> NameSteps:
    """The chain for ``kind`` restricted to what a span with the attribute ``keys`` can be named by.

    A rule that reads keys reads only those present; a rule whose ``needs``
    are absent is left out, and one whose ``needs`` are present no longer
    checks them. What is left decides exactly as the whole chain does: an
    absent key reads as ``None``, which names nothing.
    """
    steps: List[_Step] = []
    for reads, pick, namespace, needs in _CHAIN_BY_KIND[id(kind)]:
        if pick is None:
            present = tuple(key for key in reads if key in keys)
            if present:
                steps.append((present, None, namespace, None))
        elif needs is None or not needs.isdisjoint(keys):
            steps.append((reads, pick, namespace, None))
    return tuple(steps)


def chain_steps(kind: SpanKind) -> NameSteps:
    """The whole chain for ``kind``, as :func:`planned_name` takes it."""
    return _CHAIN_BY_KIND[id(kind)]


def planned_name(
    steps: NameSteps,
    span_name: str,
    kind: SpanKind,
    attributes: Mapping[str, Any],
    service_name: str,
    sanitize: Callable[[str], str] = sanitize_name,
    consumed: Optional[Set[str]] = None,
) -> Tuple[str, Optional[str]]:
    """The document's sanitised name and its namespace, by steps from :func:`name_steps` for the span's keys.

    ``consumed`` receives what the name and namespace show: the attribute whose value is the
    name as it is (:data:`NAME_KEYS`), and ``rpc.system`` when it is ``aws-api`` (the ``aws``
    namespace).
    """
    return _named(steps, span_name, kind, attributes, service_name, sanitize, consumed)


