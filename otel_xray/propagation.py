"""The ``X-Amzn-Trace-Id`` header, including the form an Application Load Balancer sends.

:class:`XRayPropagator` (propagator name ``otel_xray``) is the X-Ray
propagator of ``opentelemetry-propagator-aws-xray`` with one addition. That
propagator ignores a header without ``Parent=``, so a request from an ALB
(``X-Amzn-Trace-Id: Root=1-...``) starts an unrelated trace; aws-xray-sdk
instead starts a segment with no parent in the ALB's trace. Here such a header
makes the request's root span join that trace, through
:func:`otel_xray.ids.with_trace_to_join` and :class:`~otel_xray.ids.XRayIdGenerator`:

- no parent is invented: the segment has no ``parent_id``, as the SDK's has;
- the sampler decides as for any new trace (OpenTelemetry has no "undecided"
  parent, and a made-up parent would carry a made-up sampling decision);
- a valid span already in the context (a ``traceparent`` extracted by an
  earlier propagator) is kept: it names a real parent, the bare ``Root=`` none.

With a ``Parent=``, extraction is the X-Ray propagator's own, so placing this
propagator after ``tracecontext`` in ``OTEL_PROPAGATORS`` (the distro's
default) lets a full X-Ray header win over ``traceparent``.

Internal: the propagator is chosen by name (``OTEL_PROPAGATORS=otel_xray``, the
distro's default), not imported.
"""

from __future__ import annotations

import logging
from typing import Optional

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.propagators.textmap import CarrierT, Getter, default_getter

from .ids import otel_trace_id, parse_trace_header, with_trace_to_join

TRACE_HEADER = "X-Amzn-Trace-Id"

_logger = logging.getLogger(__name__)


class XRayPropagator(AwsXRayPropagator):
    """The X-Ray propagator, except that a header with ``Root=`` only joins that trace (injection is its own)."""

    def extract(
        self,
        carrier: CarrierT,
        context: Optional[Context] = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        values = getter.get(carrier, TRACE_HEADER)
        fields = parse_trace_header(values[0]) if values and len(values) == 1 else {}
        if not fields or fields.get("Parent"):
            return super().extract(carrier, context, getter)
        if context is None:
            context = Context()
        root = fields.get("Root", "")
        try:
            trace_id = otel_trace_id(root)
        except ValueError:
            _logger.debug("ignoring %s with an invalid Root: %r", TRACE_HEADER, root)
            return context
        if not trace_id or trace.get_current_span(context).get_span_context().is_valid:
            return context
        return with_trace_to_join(trace_id, context)

