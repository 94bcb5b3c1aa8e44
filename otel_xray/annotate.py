"""Indexed annotations on the segment from anywhere in a request: ``otel_xray.annotate(key, value)``.

X-Ray indexes ``annotations`` (searchable with filter expressions); what a
document carries as annotations comes from the span attributes that its
``aws.xray.annotations`` array attribute names. OpenTelemetry only hands code
the *current* span, which deep in a request is some nested span, while the
thing worth indexing ("customer tier", "order id") belongs on the request's
segment: the span that starts this service's part of the trace.

:class:`LocalRootSpanProcessor` remembers, as spans start, which span each one
belongs under: a span without a local parent, or a SERVER or CONSUMER span
(both become segments), is its own root; any other span inherits its parent's.
:func:`annotate` looks the current span up there and puts the annotation on
that root, so it lands in the segment's ``annotations`` however deeply it is
called. The processor is installed by the ``otel_xray`` configurator and by
:mod:`otel_xray.compat`; in a hand-made set-up add it yourself::

    provider.add_span_processor(LocalRootSpanProcessor())

The attribute conventions used here work without this module, for any span:

- ``aws.xray.annotations``: a string array naming attributes of the same span to index;
- ``aws.xray.metadata.<namespace>``: a string holding a JSON object, sent as ``metadata.<namespace>``.

Internal, apart from :func:`annotate`, public as ``otel_xray.annotate``.
"""

from __future__ import annotations

import json
import logging
import math
import weakref
from typing import Any, Dict, Mapping, Optional

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind

from ._sdk import span_processors

ANNOTATIONS_ATTRIBUTE = "aws.xray.annotations"
METADATA_PREFIX = "aws.xray.metadata."

_logger = logging.getLogger(__name__)

# span ID -> the span that starts its segment, for every open span of every
# provider that runs a LocalRootSpanProcessor. Span IDs are random 64-bit
# numbers, so one table serves all providers. Plain dict operations are atomic
# under the GIL; entries go when their span ends.
_ROOTS: Dict[int, Any] = {}
_installed = False
_warned_not_installed = False


# SERVER and CONSUMER spans start segments wherever they are (the translator's rule).
_SEGMENT_KINDS = frozenset((SpanKind.SERVER, SpanKind.CONSUMER))


class LocalRootSpanProcessor(SpanProcessor):
    """Tracks, for every open span, the span that starts its segment (see the module docstring).

    Cost: one dict lookup and one insert when a span starts, one removal when
    it ends. Add it to a provider once; more instances share one table.
    """

    tracks_local_roots = True

    def __init__(self) -> None:
        tracking_installed()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        root_started(span)

    def on_end(self, span: ReadableSpan) -> None:
        root_ended(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def tracking_installed() -> None:
    """Say that some processor tracks local roots (``XRayBatchSpanProcessor`` and
    ``InvocationSpanProcessor`` do it themselves, so ``annotate`` works with them too)."""
    global _installed
    _installed = True


def root_started(span: Any) -> None:
    """Note, as ``span`` starts, the span that starts its segment."""
    parent = span.parent
    if parent is None or parent.is_remote or span.kind in _SEGMENT_KINDS:
        _ROOTS[span.context.span_id] = span
        return
    # A parent we never saw start (another provider, or started before
    # tracking began) is the best root we know.
    _ROOTS[span.context.span_id] = _ROOTS.get(parent.span_id, span)


def root_ended(span: Any) -> None:
    _ROOTS.pop(span.context.span_id, None)


_tracked_providers: "weakref.WeakSet[Any]" = weakref.WeakSet()


def install_local_root_tracking(provider: Any) -> bool:
    """Add a :class:`LocalRootSpanProcessor` to ``provider`` unless this function added one already.

    Returns ``False`` when ``provider`` takes no span processors (the API's no-op provider).
    """
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        return False
    if provider in _tracked_providers:
        return True
    # XRayBatchSpanProcessor and InvocationSpanProcessor track roots themselves: a second
    # tracker would note every span twice.
    if not any(getattr(processor, "tracks_local_roots", False) for processor in span_processors(provider) or ()):
        add(LocalRootSpanProcessor())
    _tracked_providers.add(provider)
    return True


def local_root_span(span: Optional[Any] = None) -> Any:
    """The span that starts the segment ``span`` (default: the current span) belongs to.

    Returns ``span`` itself when it is untracked (no :class:`LocalRootSpanProcessor`
    saw it start), and the invalid span when there is no current span.
    """
    if span is None:
        span = trace.get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return span
    root = _ROOTS.get(context.span_id)
    if root is not None:
        return root
    global _warned_not_installed
    if not _installed and not _warned_not_installed and span.is_recording():
        _warned_not_installed = True
        _logger.warning(
            "otel_xray: no LocalRootSpanProcessor is installed, so annotations meant for the segment go on the "
            "current span; add one with provider.add_span_processor(otel_xray.annotate.LocalRootSpanProcessor())"
        )
    return span


def _attributes_of(span: Any) -> Mapping[str, Any]:
    attributes = getattr(span, "attributes", None)
    return attributes if attributes is not None else {}


def add_annotation_keys(span: Any, keys: Any) -> None:
    """Add ``keys`` to the span's ``aws.xray.annotations`` array, keeping the keys already listed."""
    listed = _attributes_of(span).get(ANNOTATIONS_ATTRIBUTE)
    if listed:
        current = list(listed)
        present = set(current)
        added = [key for key in keys if key not in present]
        if not added:
            return
        span.set_attribute(ANNOTATIONS_ATTRIBUTE, current + added)
    else:
        span.set_attribute(ANNOTATIONS_ATTRIBUTE, list(dict.fromkeys(keys)))


def merge_metadata(span: Any, namespace: str, values: Mapping[Any, Any]) -> None:
    """Merge ``values`` into the JSON object held by the span's ``aws.xray.metadata.<namespace>``.

    Values that JSON cannot hold are written as their ``str()``, as aws-xray-sdk writes them.
    """
    key = METADATA_PREFIX + namespace
    existing = _attributes_of(span).get(key)
    merged: Dict[Any, Any] = {}
    if type(existing) is str:
        try:
            parsed = json.loads(existing)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            merged = parsed
    merged.update(values)
    span.set_attribute(key, json.dumps(merged, default=str))


def _valid_value(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool or kind is int:
        return True
    return kind is float and math.isfinite(value)


def annotate(key: str, value: Any, span: Optional[Any] = None) -> bool:
    """Put an indexed annotation on the segment of the current span (or of ``span``).

    ``value`` must be a string, a number or a boolean: X-Ray indexes nothing
    else. Keys may use ``[A-Za-z0-9_.]``; other characters are sent as ``_``.
    Never raises: a bad key or value is logged at WARNING and ignored, and
    with no recording span there is nothing to annotate. Returns whether the
    annotation was recorded.
    """
    if type(key) is not str or not key:
        _logger.warning("otel_xray.annotate: ignoring annotation with key %r: keys are non-empty strings", key)
        return False
    if not _valid_value(value):
        _logger.warning(
            "otel_xray.annotate: ignoring annotation %r of type %s: values are strings, numbers and booleans",
            key,
            type(value).__name__,
        )
        return False
    root = local_root_span(span)
    if not root.is_recording():
        return False
    root.set_attribute(key, value)
    add_annotation_keys(root, (key,))
    return True
