"""Shared by the framework entry points.

Internal to the entry points below it.
"""

from __future__ import annotations

from typing import Any, Callable, Optional


def naming_hook(recorder: Any, host_of: Callable[[Any], Optional[str]]) -> Optional[Callable[[Any, Any], None]]:
    """A request hook that names the segment as ``dynamic_naming`` says, or ``None`` without it."""
    naming = getattr(recorder, "dynamic_naming", None)
    if naming is None:
        return None

    def hook(span: Any, request: Any) -> None:
        if span is None or not span.is_recording():
            return
        name = naming.get_name(host_of(request))
        if name:
            span.set_attribute("aws.local.service", name)

    return hook
