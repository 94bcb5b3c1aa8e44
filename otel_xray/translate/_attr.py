"""Reading attribute values: the two helpers every rule module uses."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

__all__ = ["text", "first"]


def text(attributes: Mapping[str, Any], key: str) -> str:
    """The attribute's value if it is a string, else ``""`` (other types never name or fill a text field)."""
    value = attributes.get(key)
    return value if type(value) is str else ""


def first(attributes: Mapping[str, Any], keys: Iterable[str]) -> str:
    """The first non-empty string among ``keys`` (old and new semantic-convention names, in order)."""
    for key in keys:
        value = attributes.get(key)
        if type(value) is str and value:
            return value
    return ""
