"""``XRaySpanExporter``: export -> translate -> assemble -> encode -> send.

The exporter is glue: ``translate`` turns each span into a document,
``assemble`` applies the per-trace and per-batch rules (annotation budget,
nesting, span counts), ``wire.framing`` encodes within X-Ray's size limit, and
a :class:`~otel_xray.wire.transport.Transport` (UDP to the daemon by default)
sends. Nothing flows back up, except that a transport which learns that its
path takes smaller documents lowers its ``max_document_bytes`` and the
document is encoded again for it.

It runs inside someone else's process, so ``export`` never raises and never
waits on the network; every span it is given is either sent or counted as lost
by cause in :class:`ExporterStats`, and losses are reported by a WARNING at
most once a minute, never per span.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from types import MappingProxyType
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from . import _fork
from ._log import log_visibly
from .assemble import Assembler
from .config import DaemonAddress, exporter_settings
from .document import Document
from .translate import SpanDropped, Translator
from .wire.framing import TOO_LARGE, encode_parts, encode_translated
from .wire.otlp_udp import encode_otlp_datagrams, load_encoder, warn_if_outside_lambda
from .wire.transport import Transport, create_transport
from .wire.udp import SendFailure, UdpTransport

__all__ = ["XRaySpanExporter", "ExporterStats"]

_logger = logging.getLogger(__name__)

_LOSS_LOG_INTERVAL_SECONDS = 60.0
# How long shutdown() gives the transport to deliver what it holds.
_SHUTDOWN_TIMEOUT_MILLIS = 10_000

_NOTHING: Mapping[str, int] = MappingProxyType({})
_SUCCESS, _FAILURE = SpanExportResult.SUCCESS, SpanExportResult.FAILURE
# Counts kept under their own ExporterStats field; every other count comes from translation.
_OWN_COUNTS = frozenset(
    (
        "spans_received", "spans_exported", "documents_sent", "bytes_sent", "documents_trimmed",
        "spans_dropped", "translation_errors", "annotations_over_budget", "spans_dropped_by_queue",
    )
)


class ExporterStats(NamedTuple):
    """A snapshot of the exporter's counters since it was created (or since ``fork()``, in a child).

    Every count of spans adds up: ``spans_received == spans_exported + spans_dropped``.
    ``spans_exported`` counts spans handed to the transport without error and not
    reported lost since (a refusal reported later moves them to ``spans_dropped``).
    ``send_failures`` counts *spans* lost by cause (``connection_refused``,
    ``resolve``, ``buffer_full``, ``message_too_long``, ``too_large``, ...).
    ``documents_sent`` and ``bytes_sent`` count the documents (and their JSON
    bytes, without the daemon's header line) handed to the transport.
    ``translation_dropped`` counts what translation left out of documents, by
    what (``links_dropped``, ...); ``links_dropped`` repeats its entry.
    """

    spans_received: int = 0
    spans_exported: int = 0
    documents_sent: int = 0
    bytes_sent: int = 0
    send_failures: Mapping[str, int] = _NOTHING
    documents_trimmed: int = 0
    shed_steps: Mapping[str, int] = _NOTHING
    spans_dropped: int = 0
    translation_errors: int = 0
    annotations_over_budget: int = 0
    links_dropped: int = 0
    spans_dropped_by_queue: int = 0
    translation_dropped: Mapping[str, int] = _NOTHING

    @property
    def lost(self) -> int:
        """Spans that did not reach X-Ray, as far as this process can tell."""
        return self.spans_dropped + self.spans_dropped_by_queue


class XRaySpanExporter(SpanExporter):
    """Exports spans to AWS X-Ray as segment documents, by UDP to an X-Ray daemon or through the X-Ray API.

    Args:
        endpoint: the daemon's address (``host:port``, ``[ipv6]:port`` or
            ``tcp:host:port udp:host:port``). Default: ``AWS_XRAY_DAEMON_ADDRESS``,
            else ``127.0.0.1:2000``.
        indexed_attributes: attribute names to send as annotations (searchable
            in X-Ray). Default: ``OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES``.
        index_all_attributes: send every scalar attribute as an annotation.
            Default: ``OTEL_EXPORTER_XRAY_INDEX_ALL_ATTRIBUTES``, else false.
        protocol: ``json`` (X-Ray segment documents, the default) or ``otlp``
            (OTLP protobuf over UDP, which Lambda's X-Ray endpoint accepts).
            Default: ``OTEL_EXPORTER_XRAY_PROTOCOL``, else ``json``.
        url_query: ``drop`` (the default) removes the query string from
            ``http.request.url``, where tokens and personal data would reach
            X-Ray; ``keep`` keeps it. Default: ``OTEL_EXPORTER_XRAY_URL_QUERY``.
        transport: ``udp`` (datagrams to the daemon, the default) or ``api``
            (``PutTraceSegments`` straight to X-Ray from a background thread;
            needs ``pip install 'otel-xray[api]'``). Default:
            ``OTEL_EXPORTER_XRAY_TRANSPORT``, else ``udp``.
        api_endpoint: the X-Ray API endpoint URL for the ``api`` transport.
            Default: ``OTEL_EXPORTER_XRAY_ENDPOINT``, else ``AWS_ENDPOINT_URL_XRAY``,
            else botocore's endpoint for the Region.
        region: the AWS Region for the ``api`` transport. Default: ``AWS_REGION``,
            else botocore's configuration chain.
        resource_metadata: which resource attributes go to segment metadata:
            ``"all"``, ``"none"``, or keys (``prefix.*`` allowed) kept besides the
            default (those not shown elsewhere and not different in every process).
            Default: ``OTEL_EXPORTER_XRAY_RESOURCE_METADATA``.

    In AWS Lambda (``AWS_LAMBDA_FUNCTION_NAME`` is set), every span with a
    parent becomes a subsegment of the segment Lambda records for the function.

    Arguments win over environment variables, which win over defaults. An
    invalid value raises ``ValueError`` here, never later.
    """

    def __init__(
        self,
        endpoint: Optional[str] = None,
        indexed_attributes: Optional[Iterable[str]] = None,
        index_all_attributes: Optional[bool] = None,
        protocol: Optional[str] = None,
        url_query: Optional[str] = None,
        transport: Optional[str] = None,
        api_endpoint: Optional[str] = None,
        region: Optional[str] = None,
        resource_metadata: Optional[Iterable[str]] = None,
    ) -> None:
        settings = exporter_settings(
            endpoint,
            indexed_attributes,
            index_all_attributes,
            protocol=protocol,
            url_query=url_query,
            transport=transport,
            api_endpoint=api_endpoint,
            region=region,
            resource_metadata=resource_metadata,
        )
        warn_if_outside_lambda(settings.protocol, settings.lambda_mode, _logger)
        self.daemon: DaemonAddress = settings.daemon
        self.protocol: str = settings.protocol
        # Loaded only for OTLP, so that JSON mode never imports protobuf.
        self._encode_otlp = load_encoder() if settings.protocol == "otlp" else None
        self._translator = Translator(
            settings.indexed_attributes,
            settings.index_all_attributes,
            settings.lambda_mode,
            settings.keep_url_query,
            resource_metadata=settings.resource_metadata,
        )
        self._assembler = Assembler()
        self._transport: Transport = create_transport(settings)
        # OTLP datagrams are framed here already and go by UDP only.
        self._datagrams: Optional[UdpTransport] = None
        if self._encode_otlp is not None:
            if not isinstance(self._transport, UdpTransport):
                raise ValueError(f"protocol 'otlp' is sent over UDP only, not by the {self._transport.name!r} transport")
            self._datagrams = self._transport
        self._shutdown = False
        self._init_counters()
        _fork.reset_after_fork(self)

    def _init_counters(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._shed: Counter[str] = Counter()
        self._reported_loss = 0
        self._last_loss_log = 0.0

    def _after_fork_in_child(self) -> None:
        # New lock (the parent's may be held by a thread that is not here) and the child's own counts.
        self._init_counters()

    @property
    def indexed_attributes(self) -> Sequence[str]:
        return self._translator.options.indexed_attributes

    @property
    def index_all_attributes(self) -> bool:
        return self._translator.options.index_all_attributes

    @property
    def transport(self) -> Transport:
        """Where documents go (UDP to the daemon unless configured otherwise)."""
        return self._transport

    def stats(self) -> ExporterStats:
        """A consistent snapshot of the counters."""
        losses = self._transport.take_losses()
        with self._lock:
            if losses:
                self._count_later_losses(losses)
            counts = self._counts
            translation = {key: value for key, value in counts.items() if key not in _OWN_COUNTS}
            return ExporterStats(
                spans_received=counts["spans_received"],
                spans_exported=counts["spans_exported"],
                documents_sent=counts["documents_sent"],
                bytes_sent=counts["bytes_sent"],
                send_failures=+self._failures,
                documents_trimmed=counts["documents_trimmed"],
                shed_steps=+self._shed,
                spans_dropped=counts["spans_dropped"],
                translation_errors=counts["translation_errors"],
                annotations_over_budget=counts["annotations_over_budget"],
                links_dropped=counts["links_dropped"],
                spans_dropped_by_queue=counts["spans_dropped_by_queue"],
                translation_dropped=translation,
            )

    def note_queue_drop(self) -> None:
        """Count a span that a batch processor dropped before it reached this exporter."""
        with self._lock:
            self._counts["spans_dropped_by_queue"] += 1

    # -- export ------------------------------------------------------------------
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if self._shutdown:
            return _FAILURE
        if type(spans) is not list and type(spans) is not tuple:
            # The SDK's processors hand over a list or a tuple; any other iterable is taken as one,
            # so that what is counted below is what was received.
            try:
                spans = list(spans)
            except Exception:
                _logger.debug("otel-xray: export was given something that is not a sequence of spans", exc_info=True)
                return _FAILURE
        try:
            if self._encode_otlp is None:
                if len(spans) == 1:
                    return self._export_one(spans[0])
                return self._export_documents(spans)
            return self._export(spans)
        except Exception:  # the application must never see an exporter bug
            _logger.debug("otel-xray: export failed", exc_info=True)
            with self._lock:
                self._counts["spans_received"] += len(spans)
                self._counts["spans_dropped"] += len(spans)
            return SpanExportResult.FAILURE

    def _export(self, spans: Sequence[Any]) -> SpanExportResult:
        encode_otlp = self._encode_otlp
        if encode_otlp is None:
            return self._export_documents(spans)
        # defaultdicts rather than Counters: created per call, they must be cheap.
        counts: Dict[str, int] = defaultdict(int)
        failures: Dict[str, int] = defaultdict(int)
        self._export_otlp(encode_otlp, spans, counts, failures)
        return self._record_export(0, 0, 0, 0, 0, counts, failures, None)

    def _export_otlp(
        self, encode: Callable[[Sequence[Any]], Any], spans: Sequence[Any], counts: Dict[str, int], failures: Dict[str, int]
    ) -> None:
        counts["spans_received"] += len(spans)
        datagrams, too_large = encode_otlp_datagrams(encode, spans)
        if too_large:
            # A single span over 49 kB of protobuf: OTLP cannot be trimmed here; count it.
            failures[TOO_LARGE] += len(too_large)
            counts["spans_dropped"] += len(too_large)
        assert self._datagrams is not None  # set with the OTLP encoder
        send = self._datagrams.send_datagram
        for datagram, count in datagrams:
            failure = send(datagram, count)
            if failure is None:
                counts["spans_exported"] += count
                counts["documents_sent"] += 1
                counts["bytes_sent"] += len(datagram)
            else:
                failures[failure] += count
                counts["spans_dropped"] += count

    def _export_documents(self, spans: Sequence[Any]) -> SpanExportResult:
        """Translate, assemble, encode and send; the common outcome is counted in local variables,
        what can only go wrong in dictionaries made when it does."""
        counts: Dict[str, int] = defaultdict(int)  # translation's counts, and the rare ways below
        translate = self._translate
        docs: List[Document] = []
        dropped = 0
        for span in spans:
            doc = translate(span, counts)
            if doc is None:
                dropped += 1
            else:
                docs.append(doc)
        exported = documents = sent_bytes = 0
        failures: Optional[Dict[str, int]] = None
        shed: Optional[Dict[str, int]] = None
        transport = self._transport
        send = transport.send
        limit = transport.max_document_bytes
        for doc, carried in self._assembler.assemble(docs, counts):
            # From here on a document is any JSON object to the wire, which also encodes hand-built ones.
            body = encode_translated(doc)  # type: ignore[arg-type]
            failure: Optional[str] = None
            if len(body) <= limit:  # the common case: one document, nothing shed
                failure = send(body, carried)
                if failure is None:
                    exported += carried
                    documents += 1
                    sent_bytes += len(body)
                    continue
            if failures is None or shed is None:
                failures, shed = defaultdict(int), defaultdict(int)
            self._send(doc, carried, counts, failures, shed, body, failure)  # type: ignore[arg-type]
            limit = transport.max_document_bytes
        return self._record_export(len(spans), exported, documents, sent_bytes, dropped, counts, failures, shed)

    def _translate(self, span: Any, counts: Dict[str, int]) -> Optional[Document]:
        """``span``'s document, or ``None`` when it cannot have one (counted in ``counts`` by why)."""
        try:
            return self._translator.translate(span, counts)
        except SpanDropped:  # no valid document can be made; translation counted why
            return None
        except Exception:
            _logger.debug("otel-xray: cannot translate span %r", getattr(span, "name", None), exc_info=True)
            counts["translation_errors"] = counts.get("translation_errors", 0) + 1
            return None

    def _export_one(self, span: Any) -> SpanExportResult:
        """:meth:`_export_documents` for a call of one span, with nothing around it that a batch needs.

        One span per call is what ``SimpleSpanProcessor``, the Lambda
        invocation processor and a quiet service's batch processor hand over:
        a datagram is paid per span anyway, so the steps around it are kept to
        translate, budget, encode, send and four counters. Anything unusual
        (a dropped span, a translation count, a refusal, a document over the
        limit, a loss to report) goes the batch's way from where it is.
        """
        counts: Dict[str, int] = {}
        doc = self._translate(span, counts)
        if doc is None:
            return self._record_export(1, 0, 0, 0, 1, counts, None, None)
        self._assembler.apply_budget(doc, counts)
        body = encode_translated(doc)  # type: ignore[arg-type]
        transport = self._transport
        failure: Optional[str] = None
        if len(body) <= transport.max_document_bytes:
            failure = transport.send(body, 1)
            if failure is None:
                if counts:
                    return self._record_export(1, 1, 1, len(body), 0, counts, None, None)
                losses = transport.take_losses()
                with self._lock:
                    totals = self._counts
                    totals["spans_received"] += 1
                    totals["spans_exported"] += 1
                    totals["documents_sent"] += 1
                    totals["bytes_sent"] += len(body)
                    if losses:
                        self._count_later_losses(losses)
                    # A loss held back by the report's interval is reported once the interval has passed.
                    pending = totals["spans_dropped"] + totals["spans_dropped_by_queue"] > self._reported_loss
                    newly = self._loss_to_report() if pending else 0
                if newly:
                    self._report_loss(newly)
                return _SUCCESS
        failures: Dict[str, int] = defaultdict(int)
        shed: Dict[str, int] = defaultdict(int)
        sending: Dict[str, int] = defaultdict(int, counts)
        self._send(doc, 1, sending, failures, shed, body, failure)  # type: ignore[arg-type]
        return self._record_export(1, 0, 0, 0, 0, sending, failures, shed)

    def _send(
        self,
        doc: Dict[str, Any],
        spans: int,
        counts: Dict[str, int],
        failures: Dict[str, int],
        shed: Dict[str, int],
        body: bytes,
        failure: Optional[str],
    ) -> None:
        """The rare ways for one assembled document, encoded as ``body``: refused by the transport
        (``failure``: counted, or encoded again for the smaller limit it learnt), or over the limit
        (sent in parts, shedding content if need be)."""
        transport = self._transport
        limit = transport.max_document_bytes
        if failure is not None:
            if failure != SendFailure.MESSAGE_TOO_LONG or len(body) <= transport.max_document_bytes:
                failures[failure] += spans
                counts["spans_dropped"] += spans
                return
            # The path takes less than the transport thought: encode again for its new limit.
            parts = encode_parts(doc, spans, transport.max_document_bytes)
        else:
            parts = encode_parts(doc, spans, limit, body)
        for part in parts:
            self._send_part(part.document, part.body, part.spans, part.shed, counts, failures, shed)

    def _send_part(
        self,
        doc: Dict[str, Any],
        body: Optional[bytes],
        spans: int,
        steps: Sequence[str],
        counts: Dict[str, int],
        failures: Dict[str, int],
        shed: Dict[str, int],
    ) -> None:
        if steps:
            counts["documents_trimmed"] += 1
            for step in steps:
                shed[step] += 1
        if body is None:  # not even the minimal document fits
            failures[TOO_LARGE] += spans
            counts["spans_dropped"] += spans
            return
        transport = self._transport
        failure = transport.send(body, spans)
        if failure is None:
            counts["spans_exported"] += spans
            counts["documents_sent"] += 1
            counts["bytes_sent"] += len(body)
        elif failure == SendFailure.MESSAGE_TOO_LONG and len(body) > transport.max_document_bytes:
            # Once more for the smaller limit the transport has just learnt (it only ever lowers it).
            for part in encode_parts(doc, spans, transport.max_document_bytes):
                self._send_part(part.document, part.body, part.spans, part.shed, counts, failures, shed)
        else:
            failures[failure] += spans
            counts["spans_dropped"] += spans

    # -- counting ------------------------------------------------------------------
    def _count_later_losses(self, losses: Mapping[str, int]) -> None:
        """Spans the transport reports lost after ``send`` had accepted them (caller holds the lock)."""
        for cause, spans in losses.items():
            self._failures[cause] += spans
            self._counts["spans_dropped"] += spans
            self._counts["spans_exported"] -= spans

    def _record_export(
        self,
        received: int,
        exported: int,
        documents: int,
        sent_bytes: int,
        dropped: int,
        counts: Dict[str, int],
        failures: Optional[Dict[str, int]],
        shed: Optional[Dict[str, int]],
    ) -> SpanExportResult:
        """Add one call's counts to the totals, report a loss when one is due, and say how the call went.

        The common counts come as numbers (``received`` ... ``dropped``); ``counts`` holds the rest by name
        (an OTLP export puts all of its own there).
        """
        losses = self._transport.take_losses()
        with self._lock:
            totals = self._counts
            totals["spans_received"] += received
            if exported:
                totals["spans_exported"] += exported
                totals["documents_sent"] += documents
                totals["bytes_sent"] += sent_bytes
            if dropped:
                totals["spans_dropped"] += dropped
            if counts:
                for key, value in counts.items():
                    totals[key] += value
            if failures or shed:
                for kept, increments in ((self._failures, failures), (self._shed, shed)):
                    for key, value in (increments or {}).items():
                        kept[key] += value
            if losses:
                self._count_later_losses(losses)
            newly = self._loss_to_report()
        if newly:
            self._report_loss(newly)
        if failures or dropped or counts.get("spans_dropped"):
            return _FAILURE
        return _SUCCESS

    def _loss_to_report(self, force: bool = False) -> int:
        """Spans lost since the last report, if a report is due now (caller holds the lock)."""
        lost = self._counts["spans_dropped"] + self._counts["spans_dropped_by_queue"]
        if lost <= self._reported_loss:
            return 0
        now = time.monotonic()
        if not force and self._last_loss_log and now - self._last_loss_log < _LOSS_LOG_INTERVAL_SECONDS:
            return 0
        newly, self._reported_loss, self._last_loss_log = lost - self._reported_loss, lost, now
        return newly

    def _report_loss(self, newly: int) -> None:
        stats = self.stats()
        log_visibly(
            _logger,
            logging.WARNING,
            "otel-xray: %d span(s) not delivered to X-Ray (%s) since the last report "
            "(in all: spans lost by cause %s, dropped by a full queue %d, translation errors %d; last error: %s)",
            newly,
            self._transport.describe(),
            dict(stats.send_failures) or "none",
            stats.spans_dropped_by_queue,
            stats.translation_errors,
            self._transport.last_error,
        )

    # -- lifecycle -----------------------------------------------------------------
    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._shutdown:
            return False
        delivered = self._transport.force_flush(timeout_millis / 1000)
        self._record_transport_losses()
        return delivered

    def shutdown(self, timeout_millis: int = _SHUTDOWN_TIMEOUT_MILLIS) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        self._transport.shutdown(timeout_millis / 1000)
        self._record_transport_losses(final=True)

    def _record_transport_losses(self, final: bool = False) -> None:
        losses = self._transport.take_losses()
        with self._lock:
            if losses:
                self._count_later_losses(losses)
            newly = self._loss_to_report(force=final)
        if newly:
            self._report_loss(newly)
