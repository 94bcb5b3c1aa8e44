"""Local-root calls: a service segment around a CLIENT or PRODUCER span that starts this service's trace (docs/mapping.md, "Local-root calls").

A script, a cron job or a worker that calls out with no incoming request
records a root CLIENT or PRODUCER span. Sent as it is, it would be a segment
named after the remote host, and the calling service would never appear in
the service map. The X-Ray SDKs record such work as a segment for the service
with the call as a remote (or ``aws``) subsegment inside it, and so does this:

* the subsegment keeps the span's ID (children of the span point at it), its
  name, namespace, ``http``, ``sql``, the call's ``aws`` fields, ``cause``,
  annotations, metadata and links; embedded, it carries no ``trace_id``,
  ``parent_id`` or ``type`` (the segment around it says them);
* the segment is named after the service (``aws.local.service`` if set, else
  ``service.name``), gets an ID derived from the span's (so exporting the span
  again gives the same document, and it never equals the span's), the span's
  parent if it has a remote one, its times and flags, and what a segment takes
  from the resource (``origin``, ``aws`` blocks, ``service``, resource
  metadata) and ``user``.

The AWS distribution's ``aws.span.kind = LOCAL_ROOT`` marks the same
situation and is honoured too (the Collector's split for it): such CONSUMER
spans are split the same way, and SERVER or INTERNAL ones are segments.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Set

from ..document import EMBEDDED_OMITS, Document, SpanLike
from ..ids import derived_segment_id
from ._attr import text
from .attributes import split_attributes
from .names import FALLBACK_NAME
from .options import TranslationOptions
from .resource import ResourceInfo

__all__ = ["LOCAL_ROOT_ATTRIBUTE", "is_local_root", "service_segment", "is_service_segment"]

LOCAL_ROOT_ATTRIBUTE = "aws.span.kind"
_LOCAL_ROOT = "LOCAL_ROOT"


def is_local_root(attributes: Mapping[str, Any], consumed: Set[str], lambda_mode: bool) -> bool:
    """Whether the span carries ``aws.span.kind = LOCAL_ROOT`` (then consumed: the document's shape says it).

    In AWS Lambda the function's segment is Lambda's own, so the mark changes nothing there.
    """
    if attributes.get(LOCAL_ROOT_ATTRIBUTE) != _LOCAL_ROOT:
        return False
    consumed.add(LOCAL_ROOT_ATTRIBUTE)
    return not lambda_mode


def service_segment(
    dependency: Document,
    span: SpanLike,
    attributes: Mapping[str, Any],
    resource: ResourceInfo,
    options: TranslationOptions,
    sanitize: Callable[[str], str],
) -> Document:
    """The service segment holding ``dependency`` (the span's own document, made a subsegment)."""
    segment_id = derived_segment_id(span.context.span_id)
    name = (
        sanitize(text(attributes, "aws.local.service"))
        or sanitize(resource.service_name)
        or sanitize(span.name or "")
        or FALLBACK_NAME
    )
    segment: Document = {"name": name, "id": segment_id, "trace_id": dependency["trace_id"], "start_time": dependency["start_time"]}
    parent_id = dependency.get("parent_id")
    if parent_id is not None:
        segment["parent_id"] = parent_id
    fields: Dict[str, Any] = dependency  # type: ignore[assignment]
    for key in EMBEDDED_OMITS:
        fields.pop(key, None)
    dependency.setdefault("namespace", "remote")
    if "end_time" in dependency:
        segment["end_time"] = dependency["end_time"]
    else:
        segment["in_progress"] = True
    if resource.origin is not None:
        segment["origin"] = resource.origin
    if dependency.get("error"):
        segment["error"] = True
    if dependency.get("fault"):
        segment["fault"] = True
    if dependency.get("throttle"):
        segment["throttle"] = True
    if resource.aws is not None:
        segment["aws"] = resource.aws.copy()
    if resource.service is not None:
        segment["service"] = resource.service
    user = dependency.pop("user", None)
    if user is not None:
        segment["user"] = user
    entries, resource_metadata = resource.for_segment(name)
    annotations, metadata = split_attributes(
        {}, set(), options.indexed_attributes, options.index_all_attributes, entries, resource_metadata
    )
    if annotations:
        segment["annotations"] = annotations
    if metadata:
        segment["metadata"] = metadata
    segment["subsegments"] = [dependency]
    return segment


def is_service_segment(doc: Document) -> bool:
    """Whether ``doc`` is a service segment made around a call: one span, two documents (for counting spans)."""
    subsegments = doc.get("subsegments")
    if not subsegments or "type" in doc:
        return False
    call_id = subsegments[0].get("id", "")
    try:
        return doc["id"] == derived_segment_id(int(call_id, 16))
    except ValueError:
        return False
