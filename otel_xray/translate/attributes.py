"""Annotations and metadata: every rule about annotation keys and values lives here (docs/mapping.md, "Annotations and metadata").

X-Ray indexes ``annotations`` (scalar values under sanitised keys, at most
:data:`MAX_ANNOTATIONS_PER_TRACE` per trace) and stores ``metadata`` (any JSON,
grouped in namespaces) without indexing it. The rules follow the Collector's
``makeXRayAttributes`` with two deliberate differences: indexed or index-all
attributes whose values are not scalars go to metadata instead of being
dropped, and every value is made representable in strict JSON first (see
:func:`otel_xray.values.json_value`). The per-trace budget is applied after
translation, where the documents of a trace meet.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, Iterable, Mapping, Optional, Set, Tuple

from ..document import DEFAULT_NAMESPACE, MAX_ANNOTATIONS_PER_TRACE, AnnotationValue
from ..values import INT64_MAX, INT64_MIN, clean_str, json_value

__all__ = [
    "annotation_key",
    "annotation_value",
    "split_attributes",
    "split_attributes_general",
    "default_metadata",
    "listed_split",
    "split_mode",
    "SPLIT_DEFAULT",
    "SPLIT_LISTED",
    "SPLIT_GENERAL",
    "DEFAULT_NAMESPACE",
    "ANNOTATIONS_ATTRIBUTE",
    "METADATA_PREFIX",
    "MAX_ANNOTATIONS_PER_TRACE",
    "MAX_ANNOTATION_KEY_CHARS",
    "MAX_ANNOTATION_STRING_CHARS",
]

ANNOTATIONS_ATTRIBUTE = "aws.xray.annotations"
METADATA_PREFIX = "aws.xray.metadata."

MAX_ANNOTATION_KEY_CHARS = 500
MAX_ANNOTATION_STRING_CHARS = 1000
_ANNOTATION_KEY_INVALID = re.compile(r"[^A-Za-z0-9_.]")

Annotations = Dict[str, AnnotationValue]
Metadata = Dict[str, Dict[str, Any]]


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
        return value if INT64_MIN <= value <= INT64_MAX else _NOT_SCALAR
    if kind is float:
        return value if math.isfinite(value) else _NOT_SCALAR
    return _NOT_SCALAR


def _metadata_value(value: Any) -> Any:
    """``json_value`` with the common cases inline (this runs for nearly every attribute)."""
    kind = type(value)
    if kind is str:
        return value if value.isascii() else clean_str(value)
    if kind is bool or (kind is int and INT64_MIN <= value <= INT64_MAX):
        return value
    return json_value(value)


class _Split:
    """Annotations and metadata being assembled for one document."""

    __slots__ = ("annotations", "metadata", "default")

    def __init__(self) -> None:
        self.annotations: Annotations = {}
        self.default: Dict[str, Any] = {}
        self.metadata: Metadata = {}

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
        self.default[key] = _metadata_value(value)

    def build(self) -> Tuple[Optional[Annotations], Optional[Metadata]]:
        metadata: Optional[Metadata] = None
        if self.default or self.metadata:
            metadata = {}
            if self.default:
                metadata[DEFAULT_NAMESPACE] = self.default
            metadata.update(self.metadata)
        return (self.annotations or None), metadata


def _indexed_keys(attributes: Mapping[str, Any], configured: Iterable[str], index_all: bool) -> Tuple[Set[str], bool]:
    """The attribute names to index, and whether ``aws.xray.annotations`` was an array (consumed)."""
    keys: Set[str] = set() if index_all else set(configured)
    listed = attributes.get(ANNOTATIONS_ATTRIBUTE)
    if isinstance(listed, (list, tuple)):
        keys.update(item for item in listed if type(item) is str)
        return keys, True
    return keys, False


ResourceEntries = Iterable[Tuple[str, Any, Any, bool]]


def split_attributes_general(
    attributes: Mapping[str, Any],
    consumed: Set[str],
    configured_indexed: Tuple[str, ...],
    index_all: bool,
    resource_entries: Optional[ResourceEntries] = None,
) -> Tuple[Optional[Annotations], Optional[Metadata]]:
    """Annotations and metadata for one document, the general way (every rule, every attribute)."""
    indexed, listed_consumed = _indexed_keys(attributes, configured_indexed, index_all)
    split = _Split()

    # Attributes mapped to fields are annotated as well when named explicitly
    # in the configuration (the Collector's addSpecialAttributes).
    for key in configured_indexed:
        if key in consumed and key in attributes:
            split.annotate(key, attributes[key])

    if resource_entries is not None:
        for key, raw, safe, kept in resource_entries:
            if key in indexed:
                split.annotate(key, raw)
            elif not kept:
                continue
            elif index_all:
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


def _metadata_only(
    attributes: Mapping[str, Any], consumed: Set[str], resource_metadata: Optional[Dict[str, Any]]
) -> Optional[Dict[str, Any]]:
    """The common case, nothing indexed: every attribute left goes to ``default``, as ``add_metadata`` puts it.

    Returns ``None`` when an ``aws.xray.metadata.*`` attribute needs the general way.
    """
    default = dict(resource_metadata) if resource_metadata else {}
    for key, value in attributes.items():
        if value is None or key in consumed:
            continue
        # _metadata_value, inline: this runs for nearly every attribute of every span.
        kind = type(value)
        if kind is str:
            if key.startswith(METADATA_PREFIX):
                return None
            if not value.isascii():
                value = clean_str(value)
        elif kind is not bool and not (kind is int and INT64_MIN <= value <= INT64_MAX):
            value = json_value(value)
        default[key] = value
    return default


# How a span's attributes are split, by its keys and the settings (see split_mode).
SPLIT_DEFAULT, SPLIT_LISTED, SPLIT_GENERAL = 0, 1, 2


def split_mode(keys: Iterable[str], configured_indexed: Tuple[str, ...], index_all: bool) -> int:
    """How a span with these attribute keys is split: :data:`SPLIT_GENERAL` when something is
    indexed by the settings or an ``aws.xray.metadata.*`` namespace is present (every rule of
    :func:`split_attributes_general`); else :data:`SPLIT_LISTED` with an ``aws.xray.annotations``
    list (:func:`listed_split`); else :data:`SPLIT_DEFAULT` (:func:`default_metadata`)."""
    if index_all or configured_indexed:
        return SPLIT_GENERAL
    listed = False
    for key in keys:
        if key == ANNOTATIONS_ATTRIBUTE:
            listed = True
        elif key.startswith(METADATA_PREFIX):
            return SPLIT_GENERAL
    return SPLIT_LISTED if listed else SPLIT_DEFAULT


def listed_split(
    order: Iterable[Tuple[str, bool]],
    attributes: Mapping[str, Any],
    consumed: Set[str],
    resource_entries: Optional[ResourceEntries],
) -> Optional[Tuple[Optional[Annotations], Optional[Metadata]]]:
    """:func:`split_attributes_general` for :data:`SPLIT_LISTED` spans (nothing indexed by the settings, no
    metadata namespace): the keys the ``aws.xray.annotations`` list names are annotated, the rest goes to
    ``default``. ``None`` when the attribute is not a list (the general way decides)."""
    listed = attributes[ANNOTATIONS_ATTRIBUTE]
    if not isinstance(listed, (list, tuple)):
        return None
    indexed = {item for item in listed if type(item) is str}
    split = _Split()
    default = split.default
    if resource_entries is not None:
        for key, raw, safe, kept in resource_entries:
            if key in indexed:
                split.annotate(key, raw)
            elif kept:
                default[key] = safe
    for key, ruled in order:
        if ruled and key in consumed:
            continue
        value = attributes[key]
        if value is None or key == ANNOTATIONS_ATTRIBUTE:
            continue
        if key in indexed:
            split.annotate(key, value)
        else:
            default[key] = _metadata_value(value)
    return split.build()


def default_metadata(
    order: Iterable[Tuple[str, bool]],
    attributes: Mapping[str, Any],
    consumed: Set[str],
    resource_metadata: Optional[Dict[str, Any]],
) -> Optional[Metadata]:
    """The metadata when nothing is indexed (see :func:`needs_general_split`): every attribute not consumed
    goes to ``default``, the resource's first. ``order`` is the span's keys in attribute order, each with
    whether a rule may have consumed it (the others are not looked up in ``consumed``)."""
    default = dict(resource_metadata) if resource_metadata else {}
    for key, ruled in order:
        if ruled and key in consumed:
            continue
        value = attributes[key]
        # _metadata_value, inline: this runs for nearly every attribute of every span.
        kind = type(value)
        if kind is str:
            if not value.isascii():
                value = clean_str(value)
        elif kind is not bool and not (kind is int and INT64_MIN <= value <= INT64_MAX):
            if value is None:
                continue
            value = json_value(value)
        default[key] = value
    return {DEFAULT_NAMESPACE: default} if default else None


def split_attributes(
    attributes: Mapping[str, Any],
    consumed: Set[str],
    configured_indexed: Tuple[str, ...],
    index_all: bool,
    resource_entries: Optional[ResourceEntries] = None,
    resource_metadata: Optional[Dict[str, Any]] = None,
) -> Tuple[Optional[Annotations], Optional[Metadata]]:
    """Annotations and metadata for one document.

    ``consumed`` holds the attributes already mapped to document fields;
    ``resource_entries`` the ``(otel.resource.<key>, raw, JSON-safe, kept)``
    entries of the resource, and ``resource_metadata`` the kept ones as a
    dict (segments only). Nothing indexed is the common case and takes a
    short way with the same result as :func:`split_attributes_general`.
    """
    if not index_all and not configured_indexed and ANNOTATIONS_ATTRIBUTE not in attributes:
        fast = _metadata_only(attributes, consumed, resource_metadata)
        if fast is not None:
            return None, ({DEFAULT_NAMESPACE: fast} if fast else None)
    return split_attributes_general(attributes, consumed, configured_indexed, index_all, resource_entries)
