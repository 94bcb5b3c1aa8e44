"""Span to X-Ray document translation: pure functions, no I/O (docs/mapping.md is the reference).

One module per concern, after the Collector's translator: ``segment`` (the
document and its kind), ``local_root`` (the service segment around a root
call), ``times``, ``names``, ``http``, ``sql``, ``aws``, ``origin``,
``flags``, ``cause`` with ``stacktrace``, ``attributes`` (annotations and
metadata), ``links``, ``messaging``; ``resource`` precomputes what a resource
feeds; ``dropped`` names what translation counts; ``caches`` bounds what a
translator remembers.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, MutableMapping, Optional, Sequence

from ..document import Document, ResourceLike, SpanLike
from .caches import BoundedCache
from .cause import new_stack_cache
from .dropped import COUNTER_NAMES, SpanDropped
from .names import NameSanitizer
from .options import TranslationOptions
from .resource import ResourceInfo, resource_info
from .._sdk import finished_span_fields
from .segment import Caches, document_of, make_document, new_plan_cache, plan_for

__all__ = [
    "Translator",
    "TranslationOptions",
    "ResourceInfo",
    "resource_info",
    "make_document",
    "SpanDropped",
    "COUNTER_NAMES",
]

_RESOURCE_CACHE_SIZE = 32
_USE_CWD = object()
# Formatted trace IDs (35 characters each): about 1,600 in 256 KiB.
TRACE_ID_CACHE_BYTES = 256 * 1024


class Translator:
    """Translates spans with fixed options, remembering what repeats (each memory bounded in bytes).

    Args:
        indexed_attributes, index_all_attributes: which attributes become annotations.
        lambda_mode: in AWS Lambda, spans with a parent are subsegments of Lambda's segment.
        keep_url_query: keep query strings in ``http.request.url`` (dropped by default).
        working_directory: Python stack paths under it are shown relative to it
            and it is sent as ``cause.working_directory``; default: the current
            directory when the translator is made; ``None`` leaves paths as they are.
        resource_metadata: which resource attributes go to segment metadata:
            ``()`` (the default: those not shown elsewhere and not volatile),
            ``("all",)``, ``("none",)``, or keys (``prefix.*`` patterns) kept as well.
        cache_bytes: the memory each cache may hold (names, stack traces, trace
            IDs, span plans); ``0`` turns caching off; ``None`` for the defaults.
    """

    def __init__(
        self,
        indexed_attributes: Iterable[str] = (),
        index_all_attributes: bool = False,
        lambda_mode: bool = False,
        keep_url_query: bool = False,
        *,
        working_directory: Any = _USE_CWD,
        resource_metadata: Sequence[str] = (),
        cache_bytes: Optional[int] = None,
    ) -> None:
        if working_directory is _USE_CWD:
            try:
                working_directory = os.getcwd()
            except OSError:  # the directory was removed
                working_directory = None
        self.options = TranslationOptions(
            tuple(indexed_attributes),
            bool(index_all_attributes),
            bool(lambda_mode),
            bool(keep_url_query),
            working_directory,
            tuple(resource_metadata),
        )
        if cache_bytes == 0:
            self._caches = Caches()
        else:
            self._caches = Caches(
                sanitize=NameSanitizer() if cache_bytes is None else NameSanitizer(cache_bytes),
                stacks=new_stack_cache() if cache_bytes is None else new_stack_cache(cache_bytes),
                trace_ids=BoundedCache(TRACE_ID_CACHE_BYTES if cache_bytes is None else cache_bytes, 40),
                plans=new_plan_cache() if cache_bytes is None else new_plan_cache(cache_bytes),
            )
        # id(resource) -> (resource, info); the resource is held so its id stays unique.
        self._resources: Dict[int, Any] = {}
        # The last one (a process has one resource): (resource, info).
        self._last: Any = (_USE_CWD, None)

    def resource(self, resource: Optional[ResourceLike]) -> ResourceInfo:
        last = self._last
        if last[0] is resource:
            info_: ResourceInfo = last[1]
            return info_
        info_ = self._resource(resource)
        self._last = (resource, info_)
        return info_

    def _resource(self, resource: Optional[ResourceLike]) -> ResourceInfo:
        key = id(resource)
        cached = self._resources.get(key)
        if cached is not None and cached[0] is resource:
            info: ResourceInfo = cached[1]
            return info
        info = resource_info(resource.attributes if resource is not None else None, self.options.resource_metadata)
        if len(self._resources) >= _RESOURCE_CACHE_SIZE:
            self._resources.clear()
        self._resources[key] = (resource, info)
        return info

    def translate(self, span: SpanLike, dropped: Optional[MutableMapping[str, int]] = None) -> Document:
        """The X-Ray document for one finished span.

        What translation leaves out or repairs is added to ``dropped`` under
        the names of :data:`COUNTER_NAMES`; a span that cannot become a valid
        document is counted there too and raises :class:`SpanDropped`.
        """
        fields = finished_span_fields(span)
        resource = fields[8]
        last = self._last
        info: ResourceInfo = last[1] if last[0] is resource else self.resource(resource)
        options, caches = self.options, self._caches
        return document_of(span, fields, plan_for(fields[3], fields[9], options, caches.plans), info, options, caches, dropped)

    def translate_general(self, span: SpanLike, dropped: Optional[MutableMapping[str, int]] = None) -> Document:
        """:meth:`translate` with every rule applied to every attribute, without the per-shape plans (for comparison)."""
        return make_document(span, self.resource(span.resource), self.options, self._caches, dropped, general=True)
