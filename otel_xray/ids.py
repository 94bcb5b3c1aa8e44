"""Trace and segment IDs in the forms X-Ray uses.

X-Ray trace IDs are ``1-<8 hex>-<24 hex>``: a version, then 32 bits that X-Ray
has traditionally read as the request's epoch seconds, then 96 random bits.
Since October 2023 the service no longer validates the time part, so any
128-bit OpenTelemetry trace ID converts losslessly; the generator below still
puts the time first so that traces sort and age correctly in older tooling.

Internal, apart from :class:`XRayIdGenerator`, public as
``otel_xray.XRayIdGenerator`` (and the ID generator ``otel_xray`` of
``opentelemetry-instrument``).
"""

from __future__ import annotations

import random
import threading
import time
from typing import Dict, List, Optional

from opentelemetry.context import Context, create_key, get_value, set_value
from opentelemetry.sdk.trace.id_generator import IdGenerator

_TRACE_ID_RANDOM_BITS = 96
_SPAN_ID_BITS = 64
MAX_SPAN_ID = 2**64 - 1
MAX_TRACE_ID = 2**128 - 1
_MASK64 = MAX_SPAN_ID


_TRACE_TO_JOIN = create_key("otel_xray.trace_to_join")


class _TraceToJoin:
    """A trace ID that the next root span started in this context takes, once."""

    __slots__ = ("_ids", "_lock")

    def __init__(self, trace_id: int) -> None:
        self._ids: List[int] = [trace_id]
        self._lock = threading.Lock()

    def take(self) -> Optional[int]:
        with self._lock:
            return self._ids.pop() if self._ids else None


def with_trace_to_join(trace_id: int, context: Optional[Context] = None) -> Context:
    """A context in which the next root span joins ``trace_id`` (with no parent).

    For an ``X-Amzn-Trace-Id`` header that names a trace but no parent segment
    (``Root=`` without ``Parent=``, as an Application Load Balancer sends it):
    the SDK starts a span without a valid parent as a new root and asks the ID
    generator for its trace ID, so :class:`XRayIdGenerator` answers with this
    one when the context is current at that moment (server instrumentations
    attach the extracted context before starting their span). Only the first
    root span takes it; the sampler decides as for any new trace.
    """
    if not 0 < trace_id < 1 << 128:
        raise ValueError(f"not a 128-bit trace ID: {trace_id!r}")
    return set_value(_TRACE_TO_JOIN, _TraceToJoin(trace_id), context)


class XRayIdGenerator(IdGenerator):
    """An ``IdGenerator`` whose trace IDs start with the current epoch seconds.

    The high 32 bits of each trace ID are ``int(time.time())``, the low 96
    bits random; span IDs are 64 random bits, never zero. A root span started
    in a context made by :func:`with_trace_to_join` takes that trace ID instead.
    """

    def generate_span_id(self) -> int:
        span_id = random.getrandbits(_SPAN_ID_BITS)
        while span_id == 0:  # zero is OpenTelemetry's "invalid span"
            span_id = random.getrandbits(_SPAN_ID_BITS)
        return span_id

    def generate_trace_id(self) -> int:
        pending = get_value(_TRACE_TO_JOIN)
        if isinstance(pending, _TraceToJoin):
            joined = pending.take()
            if joined is not None:
                return joined
        epoch = int(time.time()) & 0xFFFFFFFF
        return (epoch << _TRACE_ID_RANDOM_BITS) | random.getrandbits(_TRACE_ID_RANDOM_BITS)


def xray_trace_id(trace_id: int) -> str:
    """Format a 128-bit trace ID as ``1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx``."""
    hex_id = "%032x" % trace_id
    return "1-" + hex_id[:8] + "-" + hex_id[8:]


def otel_trace_id(xray_id: str) -> int:
    """Inverse of :func:`xray_trace_id`; raises ``ValueError`` on a malformed ID."""
    parts = xray_id.split("-")
    if len(parts) != 3 or parts[0] != "1" or len(parts[1]) != 8 or len(parts[2]) != 24:
        raise ValueError(f"not an X-Ray trace ID: {xray_id!r}")
    return int(parts[1] + parts[2], 16)


def segment_id(span_id: int) -> str:
    """Format a 64-bit span ID as 16 lowercase hex digits."""
    return "%016x" % span_id


def new_segment_id() -> str:
    """A fresh random, non-zero 64-bit ID (for exception records)."""
    value = random.getrandbits(_SPAN_ID_BITS)
    while value == 0:
        value = random.getrandbits(_SPAN_ID_BITS)
    return "%016x" % value


def derived_segment_id(span_id: int) -> str:
    """A segment ID derived from ``span_id``: the same for the same span, never equal to it, never zero.

    Used for the service segment made around a local-root client span, so that
    exporting the same span twice gives the same document, and the span keeps
    its own ID for the subsegment its children point at. The derivation is
    SplitMix64's finaliser, a bijection of 64-bit integers: distinct spans get
    distinct derived IDs (but for the step off a fixed point, below).
    """
    value = (span_id ^ 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    value ^= value >> 31
    if value == span_id or value == 0:  # a fixed point of the mix (vanishingly rare): step off it
        value = (value + 1) & _MASK64 or 1
    return "%016x" % value


def parse_trace_header(value: Optional[str]) -> Dict[str, str]:
    """An ``X-Amzn-Trace-Id`` value, ``Root=1-...;Parent=...;Sampled=1``, as a dict (empty if absent).

    Unknown keys (``Self``, ``Lineage``) are kept too. The propagator and the
    Lambda support read the header here.
    """
    fields: Dict[str, str] = {}
    for part in (value or "").split(";"):
        key, sep, item = part.partition("=")
        if sep:
            fields[key.strip()] = item.strip()
    return fields
