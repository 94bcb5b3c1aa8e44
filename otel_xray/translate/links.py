"""``links`` from span links: X-Ray trace linking (docs/mapping.md, "links")."""

from __future__ import annotations

from typing import Any, Dict, List, MutableMapping, Optional, Sequence

from ..document import LinkLike, SpanLink
from ..ids import MAX_SPAN_ID, MAX_TRACE_ID, segment_id, xray_trace_id
from ..values import clean_str, json_value
from .dropped import LINKS_DROPPED, LINKS_INVALID, count

__all__ = ["MAX_LINKS", "make_links"]

# "Each trace segment can be linked to up to 20 traces" (X-Ray developer guide).
MAX_LINKS = 20


def make_links(links: Sequence[LinkLike], dropped: Optional[MutableMapping[str, int]] = None) -> Optional[List[SpanLink]]:
    """The first :data:`MAX_LINKS` valid links in X-Ray form, or ``None``; what is left out is counted in ``dropped``."""
    out: List[SpanLink] = []
    invalid = beyond = 0
    for link in links:
        context = link.context
        trace_id, span_id = context.trace_id, context.span_id
        if not 0 < trace_id <= MAX_TRACE_ID or not 0 < span_id <= MAX_SPAN_ID:
            invalid += 1
            continue
        if len(out) == MAX_LINKS:
            beyond += 1
            continue
        entry: SpanLink = {"trace_id": xray_trace_id(trace_id), "id": segment_id(span_id)}
        attributes = link.attributes
        if attributes:
            converted: Dict[str, Any] = {clean_str(str(k)): json_value(v) for k, v in attributes.items() if v is not None}
            entry["attributes"] = converted
        out.append(entry)
    count(dropped, LINKS_INVALID, invalid)
    count(dropped, LINKS_DROPPED, beyond)
    return out or None
