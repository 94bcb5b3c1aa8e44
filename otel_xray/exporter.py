"""``XRaySpanExporter``: translate each span, nest subsegments per batch, encode, send by UDP.

It runs inside someone else's process, so ``export`` never raises and never
waits on the network (the socket is non-blocking); what cannot be sent is
counted in :class:`ExporterStats` and reported by a WARNING log at most once
a minute, never per span.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from types import MappingProxyType
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Set

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .config import DaemonAddress, exporter_settings
from .translate import Translator
from .translate.attributes import DEFAULT_NAMESPACE
from .translate.links import MAX_LINKS
from .wire.framing import HEADER, MAX_DOCUMENT_BYTES, encode_document, encode_if_fits
from .wire.otlp_udp import encode_otlp_datagrams, load_encoder
from .wire.udp import SendFailure, UdpSender

__all__ = ["XRaySpanExporter", "ExporterStats", "MAX_ANNOTATIONS_PER_TRACE"]

_logger = logging.getLogger(__name__)

# X-Ray indexes at most 50 annotations per trace (a fixed quota).
MAX_ANNOTATIONS_PER_TRACE = 50
_TRACES_REMEMBERED = 10_000
_LOSS_LOG_INTERVAL_SECONDS = 60.0
# Largest datagram a stock macOS loopback takes (net.inet.udp.maxdgram).
_SMALL_DATAGRAM_LIMIT = 9216


_NOTHING: Mapping[str, int] = MappingProxyType({})


class ExporterStats(NamedTuple):
    """A snapshot of the exporter's counters since it was created."""

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

    @property
    def lost(self) -> int:
        """Spans that did not reach the daemon, as far as this process can tell."""
        return _lost(self.spans_dropped, self.spans_dropped_by_queue, self.send_failures)


def _lost(dropped: int, dropped_by_queue: int, failures: Mapping[str, int]) -> int:
    # A refusal reports an earlier datagram that found no daemon: one more lost.
    return dropped + dropped_by_queue + failures.get(SendFailure.CONNECTION_REFUSED, 0)


class _AnnotationBudget:
    """Keeps each trace within X-Ray's 50 indexed annotations.

    The first 50 distinct annotation keys this process sends for a trace win
    (in export order, then attribute order); later ones go to the document's
    ``default`` metadata namespace instead and are counted.
    """

    def __init__(self, limit: int = MAX_ANNOTATIONS_PER_TRACE, traces: int = _TRACES_REMEMBERED) -> None:
        self._limit = limit
        self._traces = traces
        self._used: "OrderedDict[str, Set[str]]" = OrderedDict()
        self._lock = threading.Lock()

    def apply(self, doc: Dict[str, Any]) -> int:
        annotations = doc.get("annotations")
        if not annotations:
            return 0
        trace_id = doc["trace_id"]
        with self._lock:
            used = self._used.get(trace_id)
            if used is None:
                used = self._used[trace_id] = set()
                if len(self._used) > self._traces:
                    self._used.popitem(last=False)
            else:
                self._used.move_to_end(trace_id)
            over = []
            for key in annotations:
                if key in used:
                    continue
                if len(used) < self._limit:
                    used.add(key)
                else:
                    over.append(key)
        if over:
            metadata = doc.setdefault("metadata", {})
            default = metadata.setdefault(DEFAULT_NAMESPACE, {})
            for key in over:
                default[key] = annotations.pop(key)
            if not annotations:
                del doc["annotations"]
        return len(over)


def nest_subsegments(docs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Put each subsegment inside its parent's document when the parent is in the same batch.

    This is what the X-Ray SDKs send: one document per segment with its
    subsegments embedded, instead of one per span. It saves datagrams, bytes
    and X-Ray's per-Region quota of documents per second. Subsegments keep
    their ``trace_id``, ``parent_id`` and ``type`` (as the Python SDK's do), so
    any of them can still be sent on its own. Returns the top-level documents.
    """
    if len(docs) < 2:
        return docs
    by_id = {doc["id"]: doc for doc in docs}
    roots = []
    for doc in docs:
        parent = by_id.get(doc.get("parent_id")) if doc.get("type") == "subsegment" else None
        if parent is not None and parent is not doc and parent["trace_id"] == doc["trace_id"]:
            parent.setdefault("subsegments", []).append(doc)
        else:
            roots.append(doc)
    return roots


def _span_count(doc: Dict[str, Any]) -> int:
    children = doc.get("subsegments")
    return 1 + sum(_span_count(child) for child in children) if children else 1


def _count_send(
    failure: Optional[str], datagram: bytes, spans: int, counts: Dict[str, int], failures: Dict[str, int]
) -> None:
    """Count one datagram carrying ``spans`` spans as sent, or as lost to ``failure``."""
    if failure is None:
        counts["spans_exported"] += spans
        counts["documents_sent"] += 1
        counts["bytes_sent"] += len(datagram)
    else:
        failures[failure] += 1
        counts["spans_dropped"] += spans


class XRaySpanExporter(SpanExporter):
    """Exports spans to an X-Ray daemon as segment documents over UDP.

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
    ) -> None:
        settings = exporter_settings(
            endpoint, indexed_attributes, index_all_attributes, protocol=protocol, url_query=url_query
        )
        self.daemon: DaemonAddress = settings.daemon
        self.protocol: str = settings.protocol
        # Loaded only for OTLP, so that JSON mode never imports protobuf.
        self._encode_otlp = load_encoder() if settings.protocol == "otlp" else None
        self._translator = Translator(
            settings.indexed_attributes, settings.index_all_attributes, settings.lambda_mode, settings.keep_url_query
        )
        self._sender = UdpSender(*settings.daemon.udp)
        self._budget = _AnnotationBudget()
        self._max_body = MAX_DOCUMENT_BYTES
        self._shutdown = False
        self._lock = threading.Lock()
        self._counts: Counter = Counter()
        self._failures: Counter = Counter()
        self._shed: Counter = Counter()
        self._refused_seen = 0
        self._reported_loss = 0
        self._last_loss_log = 0.0

    @property
    def indexed_attributes(self) -> Sequence[str]:
        return self._translator.options.indexed_attributes

    @property
    def index_all_attributes(self) -> bool:
        return self._translator.options.index_all_attributes

    def stats(self) -> ExporterStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            self._note_refused()
            counts = self._counts
            return ExporterStats(
                spans_received=counts["spans_received"],
                spans_exported=counts["spans_exported"],
                documents_sent=counts["documents_sent"],
                bytes_sent=counts["bytes_sent"],
                send_failures=dict(self._failures),
                documents_trimmed=counts["documents_trimmed"],
                shed_steps=dict(self._shed),
                spans_dropped=counts["spans_dropped"],
                translation_errors=counts["translation_errors"],
                annotations_over_budget=counts["annotations_over_budget"],
                links_dropped=counts["links_dropped"],
                spans_dropped_by_queue=counts["spans_dropped_by_queue"],
            )

    def _note_refused(self) -> None:
        refused = self._sender.refused
        if refused != self._refused_seen:
            self._failures[SendFailure.CONNECTION_REFUSED] += refused - self._refused_seen
            self._refused_seen = refused

    def note_queue_drop(self) -> None:
        """Count a span that a batch processor dropped before it reached this exporter."""
        with self._lock:
            self._counts["spans_dropped_by_queue"] += 1

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            return self._export(spans)
        except Exception:  # the application must never see an exporter bug
            _logger.debug("otel-xray: export failed", exc_info=True)
            with self._lock:
                self._counts["spans_dropped"] += len(spans)
            return SpanExportResult.FAILURE

    def _export(self, spans: Sequence[Any]) -> SpanExportResult:
        # defaultdicts rather than Counters: created per call, they must be cheap.
        counts: Dict[str, int] = defaultdict(int)
        failures: Dict[str, int] = defaultdict(int)
        shed: Dict[str, int] = defaultdict(int)
        encode_otlp = self._encode_otlp
        if encode_otlp is not None:
            self._export_otlp(encode_otlp, spans, counts, failures)
        else:
            self._export_documents(spans, counts, failures, shed)
        return self._record(counts, failures, shed)

    def _export_otlp(
        self, encode: Callable[[Sequence[Any]], Any], spans: Sequence[Any], counts: Dict[str, int], failures: Dict[str, int]
    ) -> None:
        counts["spans_received"] += len(spans)
        datagrams, too_large = encode_otlp_datagrams(encode, spans)
        if too_large:
            # A single span over 49 kB of protobuf: OTLP cannot be trimmed here; count it.
            failures["too_large"] += len(too_large)
            counts["spans_dropped"] += len(too_large)
        for datagram, count in datagrams:
            _count_send(self._sender.send(datagram), datagram, count, counts, failures)

    def _export_documents(
        self, spans: Sequence[Any], counts: Dict[str, int], failures: Dict[str, int], shed: Dict[str, int]
    ) -> None:
        translate = self._translator.translate
        docs = []
        for span in spans:
            try:
                doc = translate(span)
            except Exception:
                _logger.debug("otel-xray: cannot translate span %r", getattr(span, "name", None), exc_info=True)
                counts["translation_errors"] += 1
                counts["spans_dropped"] += 1
                continue
            if len(doc.get("links", ())) == MAX_LINKS:  # maybe capped: count what was left out
                counts["links_dropped"] += len(span.links) - MAX_LINKS
            if "annotations" in doc:
                counts["annotations_over_budget"] += self._budget.apply(doc)
            docs.append(doc)
        counts["spans_received"] += len(spans)
        for doc in nest_subsegments(docs):
            self._emit(doc, counts, failures, shed)

    def _record(self, counts: Dict[str, int], failures: Dict[str, int], shed: Dict[str, int]) -> SpanExportResult:
        with self._lock:
            totals = self._counts
            for key, value in counts.items():
                totals[key] += value
            if failures or shed:
                for totals, increments in ((self._failures, failures), (self._shed, shed)):
                    for key, value in increments.items():
                        totals[key] += value
            if self._sender.refused != self._refused_seen:
                self._note_refused()
            lost = _lost(self._counts["spans_dropped"], self._counts["spans_dropped_by_queue"], self._failures)
        if lost > self._reported_loss:
            self._report_loss(lost)
        return SpanExportResult.FAILURE if failures or counts["spans_dropped"] else SpanExportResult.SUCCESS

    def _emit(self, doc: Dict[str, Any], counts: Dict[str, int], failures: Dict[str, int], shed: Dict[str, int]) -> None:
        """Send one document; one that holds subsegments and is too large is sent in parts."""
        datagram = encode_if_fits(doc, self._max_body) if "subsegments" in doc else None
        if datagram is None and "subsegments" in doc:
            # Too large together: the parent and each subsegment go as their own documents,
            # which they can be, since subsegments keep trace_id, parent_id and type.
            children = doc.pop("subsegments")
            self._emit(doc, counts, failures, shed)
            for child in children:
                self._emit(child, counts, failures, shed)
            return
        if datagram is None:
            encoded = encode_document(doc, self._max_body)
            if encoded.shed:
                counts["documents_trimmed"] += 1
                for step in encoded.shed:
                    shed[step] += 1
            datagram = encoded.datagram
        failure = self._sender.send(datagram)
        if failure == SendFailure.MESSAGE_TOO_LONG and self._max_body > _SMALL_DATAGRAM_LIMIT - len(HEADER):
            # This path takes less than 64 kB (macOS loopback caps at 9,216 bytes):
            # remember the smaller limit, and shed or split to fit it.
            self._max_body = _SMALL_DATAGRAM_LIMIT - len(HEADER)
            self._emit(doc, counts, failures, shed)
            return
        _count_send(failure, datagram, _span_count(doc), counts, failures)

    def _report_loss(self, lost: int) -> None:
        now = time.monotonic()
        if now - self._last_loss_log < _LOSS_LOG_INTERVAL_SECONDS and self._last_loss_log:
            return
        newly = lost - self._reported_loss
        self._last_loss_log = now
        self._reported_loss = lost
        stats = self.stats()
        _logger.warning(
            "otel-xray: %d span(s) not delivered to the X-Ray daemon at %s since the last report "
            "(in all: send failures by cause %s, dropped by a full queue %d, translation errors %d; last error: %s)",
            newly,
            "%s:%s" % self._sender.address,
            stats.send_failures or "none",
            stats.spans_dropped_by_queue,
            stats.translation_errors,
            self._sender.last_error,
        )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        # Datagrams leave in export(); nothing is buffered here.
        return not self._shutdown

    def shutdown(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        self._sender.close()
