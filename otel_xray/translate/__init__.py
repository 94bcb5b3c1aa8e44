"""Span to X-Ray document translation: pure functions, no I/O.

One module per concern, after the Collector's translator: ``segment`` (the
document and its kind), ``names``, ``http``, ``sql``, ``aws``, ``origin``,
``cause`` with ``stacktrace``, ``attributes`` (annotations and metadata),
``links``, ``messaging``; ``resource`` precomputes what a resource feeds.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

from .resource import ResourceInfo, resource_info
from .segment import TranslationOptions, is_segment, make_document

__all__ = ["Translator", "TranslationOptions", "ResourceInfo", "resource_info", "is_segment", "make_document"]

_RESOURCE_CACHE_SIZE = 32


class Translator:
    """Translates spans with fixed options, caching what each resource contributes."""

    def __init__(
        self,
        indexed_attributes: Iterable[str] = (),
        index_all_attributes: bool = False,
        lambda_mode: bool = False,
        keep_url_query: bool = False,
    ) -> None:
        self.options = TranslationOptions(
            tuple(indexed_attributes), bool(index_all_attributes), bool(lambda_mode), bool(keep_url_query)
        )
        # id(resource) -> (resource, info); the resource is held so its id stays unique.
        self._resources: Dict[int, Any] = {}

    def resource(self, resource: Optional[Any]) -> ResourceInfo:
        key = id(resource)
        cached = self._resources.get(key)
        if cached is not None and cached[0] is resource:
            return cached[1]
        info = resource_info(resource.attributes if resource is not None else None)
        if len(self._resources) >= _RESOURCE_CACHE_SIZE:
            self._resources.clear()
        self._resources[key] = (resource, info)
        return info

    def translate(self, span: Any) -> Dict[str, Any]:
        """The X-Ray document for one finished ``ReadableSpan``."""
        return make_document(span, self.resource(span.resource), self.options)
