"""``links`` from span links (R102): X-Ray trace linking."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ..ids import segment_id, xray_trace_id
from ..values import json_value

__all__ = ["MAX_LINKS", "make_links"]

# "Each trace segment can be linked to up to 20 traces" (X-Ray developer guide).
MAX_LINKS = 20


def make_links(links: Sequence[Any]) -> Optional[List[Dict[str, Any]]]:
    """The first :data:`MAX_LINKS` valid links in X-Ray form, or ``None`` when there are none."""
    out: List[Dict[str, Any]] = []
    for link in links:
        context = link.context
        if not context.trace_id or not context.span_id:
            continue
        entry: Dict[str, Any] = {"trace_id": xray_trace_id(context.trace_id), "id": segment_id(context.span_id)}
        if link.attributes:
            entry["attributes"] = {str(k): json_value(v) for k, v in link.attributes.items() if v is not None}
        out.append(entry)
        if len(out) == MAX_LINKS:
            break
    return out or None
