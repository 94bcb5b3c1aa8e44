"""Attribute values as JSON, and the split of attributes into annotations and metadata.

X-Ray indexes ``annotations`` (scalar values under sanitised keys) and stores
``metadata`` (any JSON, grouped in namespaces) without indexing it. The rules
follow the Collector's ``makeXRayAttributes`` with two deliberate differences,
both listed in the README's mapping table: indexed or index-all attributes
whose values are not scalars go to metadata instead of being dropped, and
every value is made representable in strict JSON first (see :func:`json_value`).
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any, Dict, Iterable, Mapping, Optional, Set, Tuple

__all__ = [
    "json_value",
    "clean_str",
    "annotation_key",
    "annotation_value",
    "AnnotationSplit",
    "split_attributes",
    "DEFAULT_NAMESPACE",
    "RESOURCE_PREFIX",
]

DEFAULT_NAMESPACE = "default"
RESOURCE_PREFIX = "otel.resource."
ANNOTATIONS_ATTRIBUTE = "aws.xray.annotations"
METADATA_PREFIX = "aws.xray.metadata."

# Nesting deeper than this is replaced by a marker string: it bounds the work
# done on a pathological (or self-referencing) value.
MAX_NESTING = 16
NESTING_MARKER = "[nested too deep]"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

MAX_ANNOTATION_KEY_CHARS = 500
MAX_ANNOTATION_STRING_CHARS = 1000
_ANNOTATION_KEY_INVALID = re.compile(r"[^A-Za-z0-9_.]")


def clean_str(value: str) -> str:
    """Return ``value`` as text that encodes to valid UTF-8.

    A Python ``str`` can hold lone surrogates (from ``surrogateescape`` decoding
    or careless slicing); they become U+FFFD, as Go's encoder does for invalid
    UTF-8 in the reference.
    """
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def json_value(value: Any, depth: int = 0) -> Any:
    """Convert an attribute value to something strict JSON can carry exactly.

    ===================  ===============================================
    in                   out
    ===================  ===============================================
    str                  the same text; lone surrogates become U+FFFD
    bool, None           JSON true/false, null
    int in int64 range   JSON number
    int beyond int64     decimal string (no JSON parser would keep it)
    finite float         JSON number
    NaN, +Inf, -Inf      the strings "NaN", "Infinity", "-Infinity"
    bytes                standard base64 text, as the Collector emits
    sequence, set        JSON array (sets in iteration order)
    mapping              JSON object; keys converted with ``str``
    anything else        ``str(value)``
    nesting > 16         the string "[nested too deep]"
    ===================  ===============================================
    """
    kind = type(value)
    if kind is str:
        return value if value.isascii() else clean_str(value)
    if kind is bool or value is None:
        return value
    if kind is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if kind is float:
        return _float(value)
    if depth >= MAX_NESTING:
        return NESTING_MARKER
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_value(item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        return {clean_str(str(k)): json_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    # Subclasses of the scalar types, then anything else.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return json_value(int(value), depth)
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, str):
        return clean_str(str.__str__(value))
    try:
        return clean_str(str(value))
    except Exception:  # a broken __str__ must not break the export
        return f"<unprintable {kind.__name__}>"


def annotation_key(key: str) -> str:
    """Sanitise an annotation key: ``[A-Za-z0-9_.]`` are kept, every other character becomes ``_``.

    X-Ray accepts dots in annotation keys since 2024 (the Collector's
    ``exporter.xray.allowDot`` gate, on by default), so they are kept.
    Keys are cut to X-Ray's 500-character limit.
    """
    return _ANNOTATION_KEY_INVALID.sub("_", key[:MAX_ANNOTATION_KEY_CHARS])


_NOT_SCALAR = object()


def annotation_value(value: Any) -> Any:
    """The value as an annotation (string, number or boolean), or ``_NOT_SCALAR``."""
    kind = type(value)
    if kind is str:
        text = value if value.isascii() else clean_str(value)
        return text[:MAX_ANNOTATION_STRING_CHARS]
    if kind is bool:
        return value
    if kind is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else _NOT_SCALAR
    if kind is float:
        return value if math.isfinite(value) else _NOT_SCALAR
    return _NOT_SCALAR


class AnnotationSplit:
    """Annotations and metadata being assembled for one document."""

    __slots__ = ("annotations", "metadata", "default")

    def __init__(self, default: Optional[Dict[str, Any]] = None) -> None:
        self.annotations: Dict[str, Any] = {}
        self.default: Dict[str, Any] = {} if default is None else default
        self.metadata: Dict[str, Dict[str, Any]] = {}

    def annotate(self, key: str, value: Any) -> bool:
        """Add an annotation; on a non-scalar value or a key collision, keep it in metadata."""
        scalar = annotation_value(value)
        if scalar is not _NOT_SCALAR:
            fixed = annotation_key(key)
            if fixed and fixed not in self.annotations:
                self.annotations[fixed] = scalar
                return True
        self.default[key] = json_value(value)
        return False

    def add_metadata(self, key: str, value: Any) -> None:
        if value is None:
            return
        if key.startswith(METADATA_PREFIX) and type(value) is str:
            namespace = key[len(METADATA_PREFIX) :]
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict) and namespace:
                parsed = json_value(parsed)
                if namespace.lower() == DEFAULT_NAMESPACE:
                    self.default.update(parsed)
                else:
                    self.metadata.setdefault(clean_str(namespace), {}).update(parsed)
                return
        self.default[key] = json_value(value)

    def build(self) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Dict[str, Any]]]]:
        metadata: Optional[Dict[str, Dict[str, Any]]] = None
        if self.default or self.metadata:
            metadata = {}
            if self.default:
                metadata[DEFAULT_NAMESPACE] = self.default
            metadata.update(self.metadata)
        return (self.annotations or None), metadata


def indexed_keys(
    attributes: Mapping[str, Any], configured: Iterable[str], index_all: bool
) -> Tuple[Set[str], bool]:
    """The attribute names to index, and whether ``aws.xray.annotations`` was an array (consumed)."""
    keys: Set[str] = set() if index_all else set(configured)
    listed = attributes.get(ANNOTATIONS_ATTRIBUTE)
    if isinstance(listed, (list, tuple)):
        keys.update(item for item in listed if type(item) is str)
        return keys, True
    return keys, False


def _metadata_only(
    attributes: Mapping[str, Any], consumed: Set[str], resource_metadata: Optional[Dict[str, Any]]
) -> Optional[Dict[str, Any]]:
    """The common case, nothing indexed: everything left goes to ``default``.

    Returns ``None`` when an ``aws.xray.metadata.*`` attribute needs the general path.
    """
    default = dict(resource_metadata) if resource_metadata else {}
    for key, value in attributes.items():
        if value is None or key in consumed:
            continue
        kind = type(value)
        if kind is str:
            if key.startswith(METADATA_PREFIX):
                return None
            if not value.isascii():
                value = clean_str(value)
        elif kind is not bool and not (kind is int and _INT64_MIN <= value <= _INT64_MAX):
            value = json_value(value)
        default[key] = value
    return default


def split_attributes(
    attributes: Mapping[str, Any],
    consumed: Set[str],
    configured_indexed: Tuple[str, ...],
    index_all: bool,
    resource_entries: Optional[Iterable[Tuple[str, Any, Any]]] = None,
    resource_metadata: Optional[Dict[str, Any]] = None,
) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Dict[str, Any]]]]:
    """Annotations and metadata for one document.

    ``consumed`` holds the attributes already mapped to document fields;
    ``resource_entries`` the ``(otel.resource.<key>, raw, JSON-safe)``
    triples of the resource, and ``resource_metadata`` the same as a dict
    (segments only).
    """
    if not index_all and not configured_indexed and ANNOTATIONS_ATTRIBUTE not in attributes:
        fast = _metadata_only(attributes, consumed, resource_metadata)
        if fast is not None:
            return None, ({DEFAULT_NAMESPACE: fast} if fast else None)
    indexed, listed_consumed = indexed_keys(attributes, configured_indexed, index_all)
    split = AnnotationSplit()

    # Attributes mapped to fields are annotated as well when named explicitly
    # in the configuration (the Collector's addSpecialAttributes).
    for key in configured_indexed:
        if key in consumed and key in attributes:
            split.annotate(key, attributes[key])

    if resource_entries is not None:
        for key, raw, safe in resource_entries:
            if index_all or key in indexed:
                split.annotate(key, raw)
            else:
                split.default[key] = safe  # converted once per resource

    for key, value in attributes.items():
        if key in consumed or value is None:
            continue
        if listed_consumed and key == ANNOTATIONS_ATTRIBUTE:
            continue
        if index_all or key in indexed:
            split.annotate(key, value)
        else:
            split.add_metadata(key, value)
    return split.build()
