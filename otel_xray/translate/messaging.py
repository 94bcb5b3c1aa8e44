"""Messaging spans: the destination that names a PRODUCER, and received message sizes.

The Collector's translator has no messaging block; what it takes from
messaging attributes is the queue URL (``messaging.url``, see ``aws.py``) and
the HTTP ``content_length`` from RECEIVED message events. Naming a producer
after its destination is an extension (docs/mapping.md, "name").
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from ..document import EventLike

__all__ = ["received_payload_size", "DESTINATION_KEYS"]

# The queue or topic a message is sent to, new convention first (they name PRODUCER spans).
DESTINATION_KEYS = ("messaging.destination.name", "messaging.destination")


def _payload_size(attributes: Mapping[str, Any]) -> Optional[int]:
    if attributes.get("message.type") == "RECEIVED":
        size = attributes.get("messaging.message_payload_size_bytes")
        if type(size) is int:
            return size
    return None


def received_payload_size(attributes: Mapping[str, Any], events: Sequence[EventLike]) -> Optional[int]:
    """Payload size of a RECEIVED message, from the span's attributes, else from its events."""
    size = _payload_size(attributes)
    if size is not None:
        return size
    for event in events:
        event_attributes = event.attributes
        if event_attributes:
            size = _payload_size(event_attributes)
            if size is not None:
                return size
    return None
