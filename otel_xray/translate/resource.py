"""Everything the document takes from the resource, computed once per resource (docs/mapping.md, "Resource").

A resource is shared by every span of a process, so the blocks it feeds
(``aws``, ``origin``, ``service``, the ``otel.resource.*`` metadata) are built
once and reused; they go on segments only.

Resource metadata leaves out, by default, what the document already carries
elsewhere on every segment (``cloud.platform`` in ``origin``, ``host.id`` in
``aws.ec2``, ``telemetry.sdk.*`` in ``aws.xray``, ``service.version`` in
``service``, ...) and what
changes with every process (``service.instance.id``, a random UUID the SDK
adds; ``process.pid``; ``process.command_args``, which may hold secrets). The
``resource_metadata`` setting keeps more (a list of keys, ``prefix.*``
patterns), everything (``all``, as the Collector does) or nothing (``none``).
"""

from __future__ import annotations

import platform
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from ..document import Aws, Service
from ..values import json_value
from ._attr import text
from .aws import resource_aws_block
from .names import sanitize_name
from .origin import ORIGIN_KEYS, origin

__all__ = [
    "ResourceInfo",
    "resource_info",
    "RESOURCE_PREFIX",
    "VOLATILE_RESOURCE_KEYS",
    "RESOURCE_METADATA_ALL",
    "RESOURCE_METADATA_NONE",
    "is_default_service_name",
]

RESOURCE_PREFIX = "otel.resource."
# Different in every process: noise in each segment, and a random ID defeats any grouping.
VOLATILE_RESOURCE_KEYS = frozenset(
    ("service.instance.id", "process.pid", "process.parent_pid", "process.command_args", "process.command_line")
)
RESOURCE_METADATA_ALL = "all"
RESOURCE_METADATA_NONE = "none"
_DEFAULT_SERVICE_NAME = "unknown_service"
_SERVICE_NAME_ENTRY = RESOURCE_PREFIX + "service.name"
# The running interpreter, for service.runtime when the resource does not say (read once).
_INTERPRETER = (platform.python_implementation(), platform.python_version())


class ResourceInfo(NamedTuple):
    attributes: Mapping[str, Any]
    service_name: str
    language: Optional[str]
    aws: Optional[Aws]
    origin: Optional[str]
    service: Optional[Service]
    # ("otel.resource.<key>", raw value, JSON-safe value, kept in metadata) for each resource attribute
    entries: Tuple[Tuple[str, Any, Any, bool], ...]
    # the kept ones as metadata: {"otel.resource.<key>": JSON-safe value}
    metadata: Dict[str, Any]
    # ``service.name`` as a segment named after it shows it (sanitised), when the default keeps it
    # in metadata: such a segment leaves it out. None: kept on every segment.
    shown_service_name: Optional[str] = None
    # entries and metadata for a segment named after the service (without ``service.name``)
    named_entries: Tuple[Tuple[str, Any, Any, bool], ...] = ()
    named_metadata: Optional[Dict[str, Any]] = None

    def for_segment(self, name: str) -> Tuple[Tuple[Tuple[str, Any, Any, bool], ...], Dict[str, Any]]:
        """``(entries, metadata)`` for a segment named ``name``."""
        if self.named_metadata is not None and name == self.shown_service_name:
            return self.named_entries, self.named_metadata
        return self.entries, self.metadata


def is_default_service_name(name: str) -> bool:
    """``unknown_service`` or ``unknown_service:<process>``: what the SDK sets when nobody named the service."""
    return name == _DEFAULT_SERVICE_NAME or name.startswith(_DEFAULT_SERVICE_NAME + ":")


def _service_name(attributes: Mapping[str, Any]) -> str:
    name = text(attributes, "service.name")
    if not name or is_default_service_name(name):
        # The AWS Lambda resource detector sets faas.name and no service.name.
        return text(attributes, "faas.name") or name
    return name


def _service_block(attributes: Mapping[str, Any], language: Optional[str], used: Set[str]) -> Optional[Service]:
    service: Service = {}
    for key in ("service.version", "container.image.tag"):
        version = text(attributes, key)
        if version:
            service["version"] = version
            used.add(key)
            break
    runtime = text(attributes, "process.runtime.name")
    runtime_version = text(attributes, "process.runtime.version")
    if runtime or runtime_version:
        used.update(("process.runtime.name", "process.runtime.version"))
    elif language in (None, "python"):
        # Spans this process made ran on this interpreter.
        runtime, runtime_version = _INTERPRETER
    if runtime:
        service["runtime"] = runtime
    if runtime_version:
        service["runtime_version"] = runtime_version
    return service or None


def _kept(keep: Sequence[str]) -> Tuple[Optional[bool], FrozenSet[str], Tuple[str, ...]]:
    """``(everything or nothing or None, exact keys, prefixes)`` from the ``resource_metadata`` setting."""
    if RESOURCE_METADATA_ALL in keep:
        return True, frozenset(), ()
    if RESOURCE_METADATA_NONE in keep:
        return False, frozenset(), ()
    exact = frozenset(key for key in keep if not key.endswith("*"))
    prefixes = tuple(key[:-1] for key in keep if key.endswith("*"))
    return None, exact, prefixes


def _region_in_zone(attributes: Mapping[str, Any], aws: Optional[Aws], used: Set[str]) -> None:
    """``cloud.region`` is shown when an ``aws`` block shows an availability zone in it (``us-east-1a``)."""
    region = text(attributes, "cloud.region")
    zone = text(attributes, "cloud.availability_zone")
    if not (region and zone.startswith(region) and aws is not None):
        return
    blocks: Mapping[str, Any] = aws
    if any(isinstance(block, dict) and block.get("availability_zone") == zone for block in blocks.values()):
        used.add("cloud.region")


def resource_info(
    attributes: Optional[Mapping[str, Any]],
    resource_metadata: Sequence[str] = (),
    sanitize: Callable[[str], str] = sanitize_name,
) -> ResourceInfo:
    attributes = dict(attributes or {})
    used: Set[str] = set()
    service_name = _service_name(attributes)
    language = attributes.get("telemetry.sdk.language")
    language = language if type(language) is str else None
    aws = resource_aws_block(attributes, used)
    found_origin = origin(attributes)
    if found_origin is not None:
        used.update(ORIGIN_KEYS)
    elif aws is not None and "cloud.provider" in attributes:
        used.add("cloud.provider")
    _region_in_zone(attributes, aws, used)
    service = _service_block(attributes, language, used)

    everything, exact, prefixes = _kept(resource_metadata)
    entries: List[Tuple[str, Any, Any, bool]] = []
    by_default: Set[str] = set()  # kept only because the default keeps them (nothing asked for them)
    for key, value in attributes.items():
        if value is None:
            continue
        if everything is not None:
            kept = everything
        else:
            asked = key in exact or key.startswith(prefixes)
            kept = asked or (key not in used and key not in VOLATILE_RESOURCE_KEYS)
            if kept and not asked:
                by_default.add(key)
        entries.append((RESOURCE_PREFIX + key, value, json_value(value), kept))
    info = ResourceInfo(
        attributes=attributes,
        service_name=service_name,
        language=language,
        aws=aws,
        origin=found_origin,
        service=service,
        entries=tuple(entries),
        metadata={key: safe for key, _, safe, kept in entries if kept},
    )
    # A segment named after the service shows service.name as its name: the default leaves it out there.
    shown = text(attributes, "service.name")
    if "service.name" in by_default and shown and sanitize(shown) == shown:
        named = tuple(entry if entry[0] != _SERVICE_NAME_ENTRY else entry[:3] + (False,) for entry in entries)
        info = info._replace(
            shown_service_name=shown,
            named_entries=named,
            named_metadata={key: safe for key, _, safe, kept in named if kept},
        )
    return info
