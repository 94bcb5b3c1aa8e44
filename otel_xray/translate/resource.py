"""Everything the document takes from the resource, computed once per resource.

A resource is shared by every span of a process, so the blocks it feeds
(``aws``, ``origin``, ``service``, the ``otel.resource.*`` metadata) are built
once and reused; per-span work only copies what it then changes.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

from ..values import json_value
from .attributes import RESOURCE_PREFIX
from .aws import resource_aws_block
from .origin import origin

__all__ = ["ResourceInfo", "resource_info"]


class ResourceInfo(NamedTuple):
    attributes: Mapping[str, Any]
    service_name: str
    language: Optional[str]
    aws: Optional[Dict[str, Any]]
    origin: Optional[str]
    service: Optional[Dict[str, Any]]
    # ("otel.resource.<key>", raw value, JSON-safe value) for each resource attribute
    entries: Tuple[Tuple[str, Any, Any], ...]
    # the same as metadata: {"otel.resource.<key>": JSON-safe value}
    metadata: Dict[str, Any]


def _service_block(attributes: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    for key in ("service.version", "container.image.tag"):
        value = attributes.get(key)
        if type(value) is str and value:
            return {"version": value}
    return None


def resource_info(attributes: Optional[Mapping[str, Any]]) -> ResourceInfo:
    attributes = dict(attributes or {})
    service_name = attributes.get("service.name")
    language = attributes.get("telemetry.sdk.language")
    entries: List[Tuple[str, Any, Any]] = [
        (RESOURCE_PREFIX + key, value, json_value(value)) for key, value in attributes.items() if value is not None
    ]
    return ResourceInfo(
        attributes=attributes,
        service_name=service_name if type(service_name) is str else "",
        language=language if type(language) is str else None,
        aws=resource_aws_block(attributes),
        origin=origin(attributes),
        service=_service_block(attributes),
        entries=tuple(entries),
        metadata={key: safe for key, _, safe in entries},
    )
