"""PutTraceSegments straight to the X-Ray API, for hosts with no daemon or agent beside them.

The application's thread only puts the encoded document on a bounded queue
(``send`` returns at once, whatever the network does). The transport's own
daemon thread takes batches off the queue and calls ``PutTraceSegments``
through botocore, which brings the AWS SDK's credentials chain (environment,
profile, SSO, web identity, container and instance roles), region
configuration, endpoint rules and SigV4 signing.

Limits, and why:

- **50 documents per call** (:data:`MAX_DOCUMENTS_PER_CALL`). The API model
  sets no maximum on ``TraceSegmentDocuments``; AWS's own uploaders both send
  at most 50 (the X-Ray daemon's ``BatchSize``; the Collector's
  ``maxSegmentsPerPut``, "limit imposed by PutTraceSegments API"). A batch
  over an undocumented service limit would fail whole, so 50 it is.
- **64,000 bytes per document** (the 64 KB quota read strictly, as the framing
  module reads it); larger documents are refused by ``send`` as ``too_large``.
- A batch leaves when it is full, or ``linger_seconds`` (1 s, the daemon's idle
  timeout) after its first document arrived, or at once on ``force_flush`` and
  ``shutdown``. Sending documents of one trace together also keeps the trace
  under X-Ray's larger (500 KB) trace size limit, which applies to batched
  segments.

Retries follow the AWS SDKs' *standard* retry mode: botocore's own
classification decides what is retried (throttling such as
``ThrottledException``/429, 500/502/503/504, connection errors and timeouts),
and the wait is the mode's truncated exponential backoff with full jitter
(``rand() * min(base * 2**attempt, 20 s)``, base 1 s for throttling and 50 ms
otherwise, raised to ``x-amz-retry-after`` when the service sends it), as
current botocore computes it. The waits happen here rather than inside
botocore so that they are bounded by a per-batch budget, end early at
shutdown, can be driven by a test's clock, and are the same with every
botocore version.
A batch that still fails is dropped and its spans are counted by cause
(``take_losses``); so are documents the service returns in
``UnprocessedTraceSegments``, as ``unprocessed:<ErrorCode>``.

Missing credentials or Region are found once, when the background thread
starts: one ERROR says what is missing and how to provide it, and every
document from then on is refused (and so counted) with ``no_credentials`` or
``no_region``. Nothing is ever raised into the application.

After ``os.fork()`` the child starts its own thread and botocore client on
its first ``send``, with an empty queue (the parent's queued documents stay
the parent's to send).

Internal: chosen with the exporter's transport setting (see
``otel_xray.__all__`` for the public API).
"""

from __future__ import annotations

import json
import logging
import random as _random
import threading
import time
from collections import Counter, deque
from types import MappingProxyType
from typing import Any, Callable, Deque, Dict, List, Mapping, NamedTuple, Optional, Tuple

try:
    import botocore.session  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]
    from botocore.exceptions import (  # type: ignore[import-untyped]
        ClientError,
        ConnectionError as BotocoreConnectionError,
        ConnectTimeoutError,
        NoCredentialsError,
        ReadTimeoutError,
    )
    from botocore.retries import standard as _standard_retries  # type: ignore[import-untyped]
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the 'api' transport sends through botocore, which is not installed: pip install 'otel-xray[api]'"
    ) from _missing

from .. import _fork
from .._sdk import suppress_instrumentation_context
from ..version import __version__
from .framing import MAX_DOCUMENT_BYTES

_logger = logging.getLogger(__name__)

#: Documents per PutTraceSegments call (see the module docstring).
MAX_DOCUMENTS_PER_CALL = 50
DEFAULT_QUEUE_DOCUMENTS = 2048
# Bounds the queue's memory too: 2,048 documents of up to 64 kB would be 128 MB.
DEFAULT_QUEUE_BYTES = 16 * 1024 * 1024
DEFAULT_LINGER_SECONDS = 1.0
# botocore's standard mode makes 3 attempts; one more rides out a short throttling burst.
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_RETRY_BUDGET_SECONDS = 20.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_READ_TIMEOUT_SECONDS = 10.0


class ApiFailure:
    """Cause names, returned by ``send`` or reported by ``take_losses``."""

    QUEUE_FULL = "queue_full"
    TOO_LARGE = "too_large"
    CLOSED = "closed"
    NO_REGION = "no_region"
    NO_CREDENTIALS = "no_credentials"
    CLIENT_ERROR = "client_error"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    #: Still queued when ``shutdown``'s timeout ran out.
    SHUTDOWN = "shutdown"
    #: ``rejected:<error code>``: the service refused the whole call (AccessDenied, InvalidRequest...).
    REJECTED_PREFIX = "rejected:"
    #: ``unprocessed:<ErrorCode>``: the call succeeded but these documents were not taken.
    UNPROCESSED_PREFIX = "unprocessed:"


class ApiTransportStats(NamedTuple):
    """A snapshot of the transport's counters since it was created (or since a fork)."""

    documents_accepted: int = 0
    documents_delivered: int = 0
    spans_delivered: int = 0
    documents_lost: int = 0
    spans_lost: int = 0
    api_calls: int = 0
    retries: int = 0
    queued_documents: int = 0
    in_flight_documents: int = 0
    #: Spans lost by cause, in all (``take_losses`` hands out the same, in instalments).
    losses: Mapping[str, int] = MappingProxyType({})


# (encoded document as handed over, spans in it, bytes of its body)
_Item = Tuple[bytes, int, int]
# The daemon's header line starts like this; a segment document never does.
_HEADER_START = b'{"format"'


def _body_offset(document: bytes) -> int:
    """Where the JSON body starts: after the daemon's header line if the document carries one."""
    if document.startswith(_HEADER_START):
        newline = document.find(b"\n")
        if newline >= 0:
            return newline + 1
    return 0


class XRayApiTransport:
    """Sends segment documents to X-Ray with ``PutTraceSegments``, from a bounded queue on its own thread.

    Args:
        endpoint_url: the X-Ray API endpoint; ``None`` lets botocore pick it
            (its endpoint rules for the Region, or ``AWS_ENDPOINT_URL`` and
            the profile's ``services`` section).
        region: the AWS Region; ``None`` lets botocore resolve it
            (``AWS_DEFAULT_REGION``, the profile).
        queue_documents, queue_bytes: bounds of the queue; a document that
            would exceed either is refused as ``queue_full``.
        batch_documents: documents per call, at most :data:`MAX_DOCUMENTS_PER_CALL`.
        linger_seconds: how long a batch that is not full waits for more.
        max_attempts: attempts per batch, the first included.
        retry_budget_seconds: a batch is given up once the next backoff would
            end later than this after its first attempt.
        connect_timeout_seconds, read_timeout_seconds: per attempt (botocore).
        session: a ``botocore.session.Session`` to take credentials and
            configuration from; by default a new one (and a new one again in a
            forked child).
        client_factory: ``(session, region, endpoint_url, config) -> client``;
            by default ``session.create_client("xray", ...)``.
        sleep, clock, random: the backoff's wait, time source and jitter
            source (tests pass recording or scripted ones).
    """

    name = "api"
    max_document_bytes = MAX_DOCUMENT_BYTES

    def __init__(
        self,
        endpoint_url: Optional[str] = None,
        region: Optional[str] = None,
        *,
        queue_documents: int = DEFAULT_QUEUE_DOCUMENTS,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        batch_documents: int = MAX_DOCUMENTS_PER_CALL,
        linger_seconds: float = DEFAULT_LINGER_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_budget_seconds: float = DEFAULT_RETRY_BUDGET_SECONDS,
        connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS,
        session: Optional[Any] = None,
        client_factory: Optional[Callable[[Any, Optional[str], Optional[str], Any], Any]] = None,
        sleep: Optional[Callable[[float], Any]] = None,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not 1 <= batch_documents <= MAX_DOCUMENTS_PER_CALL:
            raise ValueError(f"batch_documents must be 1-{MAX_DOCUMENTS_PER_CALL}, got {batch_documents!r}")
        if queue_documents < 1 or queue_bytes < 1:
            raise ValueError("queue_documents and queue_bytes must be positive")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        for label, value in (
            ("linger_seconds", linger_seconds),
            ("retry_budget_seconds", retry_budget_seconds),
            ("connect_timeout_seconds", connect_timeout_seconds),
            ("read_timeout_seconds", read_timeout_seconds),
        ):
            if not value >= 0:
                raise ValueError(f"{label} must be a number of seconds >= 0, got {value!r}")
        self.endpoint_url = endpoint_url
        self.region = region
        self.last_error: Optional[str] = None
        self._queue_documents = queue_documents
        self._queue_bytes = queue_bytes
        self._batch_documents = batch_documents
        self._linger = linger_seconds
        self._max_attempts = max_attempts
        self._retry_budget = retry_budget_seconds
        self._connect_timeout = connect_timeout_seconds
        self._read_timeout = read_timeout_seconds
        self._given_session = session
        self._client_factory = client_factory or _create_client
        self._sleep = sleep
        self._clock = clock
        self._random = random
        # Clients a forked child inherited: kept referenced, never closed, since
        # their connections belong to the parent.
        self._inherited_clients: List[Any] = []
        self._closed = False
        # A cause once the start-up check failed (no Region, no credentials):
        # survives a fork, since the child has the same configuration.
        self._disabled: Optional[str] = None
        self._init_state()
        _fork.reset_after_fork(self)
        self._ensure_worker()

    # ------------------------------------------------------------ state
    def _init_state(self) -> None:
        """Everything a forked child must have afresh."""
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the worker waits here
        self._settled_cond = threading.Condition(self._lock)  # force_flush waits here
        self._queue: Deque[_Item] = deque()
        self._queued_bytes = 0
        self._accepted = 0
        self._settled = 0
        self._in_flight = 0
        self._flush_waiters = 0
        self._stopping = False
        self._abandon = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._client: Optional[Any] = None
        self._session: Optional[Any] = self._given_session
        self._endpoint_in_use: Optional[str] = None
        self._losses: Dict[str, int] = {}
        self._all_losses: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self._batch_deadline = 0.0
        self._retry_adapter = _standard_retries.RetryEventAdapter()
        self._retry_conditions = _standard_retries.StandardRetryConditions(max_attempts=self._max_attempts)
        self._throttling = _standard_retries.ThrottlingErrorDetector(self._retry_adapter)

    def _after_fork_in_child(self) -> None:
        if self._client is not None:
            self._inherited_clients.append(self._client)
        self._init_state()

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> "XRayApiTransport":
        """A transport for :class:`otel_xray.config.TransportSettings`; ``options`` as for the constructor."""
        return cls(endpoint_url=settings.api_endpoint, region=settings.region, **options)

    def describe(self) -> str:
        return f"api {self._where()}"

    def _where(self) -> str:
        if self._endpoint_in_use:
            return self._endpoint_in_use
        return f"{self.endpoint_url or 'X-Ray'} ({self.region or 'Region from the AWS configuration'})"

    # ------------------------------------------------------------ application side
    def send(self, document: bytes, spans: int) -> Optional[str]:
        size = len(document) - _body_offset(document)
        if size > self.max_document_bytes:
            return ApiFailure.TOO_LARGE
        if self._thread is None:
            self._ensure_worker()
        with self._lock:
            if self._closed:
                return ApiFailure.CLOSED
            if self._disabled is not None:
                return self._disabled
            queue = self._queue
            if len(queue) >= self._queue_documents or self._queued_bytes + size > self._queue_bytes:
                return ApiFailure.QUEUE_FULL
            queue.append((document, spans, size))
            self._queued_bytes += size
            self._accepted += 1
            waiting = len(queue)
            # Wake the worker when there is a first document, or a full batch.
            if waiting == 1 or waiting == self._batch_documents:
                self._work.notify()
        return None

    def take_losses(self) -> Mapping[str, int]:
        with self._lock:
            losses, self._losses = self._losses, {}
        return losses

    def stats(self) -> ApiTransportStats:
        with self._lock:
            counts = self._counts
            return ApiTransportStats(
                documents_accepted=self._accepted,
                documents_delivered=counts["documents_delivered"],
                spans_delivered=counts["spans_delivered"],
                documents_lost=counts["documents_lost"],
                spans_lost=counts["spans_lost"],
                api_calls=counts["api_calls"],
                retries=counts["retries"],
                queued_documents=len(self._queue),
                in_flight_documents=self._in_flight,
                losses=dict(self._all_losses),
            )

    def force_flush(self, timeout_seconds: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout_seconds)
        with self._lock:
            return self._wait_settled(self._accepted, deadline)

    def shutdown(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + max(0.0, timeout_seconds)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wait_settled(self._accepted, deadline)
            # Whatever is still queued will not be sent: count it now.
            left = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            if left:
                self._lose_locked(ApiFailure.SHUTDOWN, len(left), sum(item[1] for item in left))
                self._settled += len(left)
                self.last_error = f"{len(left)} document(s) still queued when shutdown's timeout ran out"
            self._stopping = True
            self._abandon.set()  # no more retries, and backoff waits end now
            self._work.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        if thread is None or not thread.is_alive():
            self._close_client()

    def _wait_settled(self, target: int, deadline: float) -> bool:
        """With the lock held: wait until ``target`` documents have been sent or dropped."""
        if self._settled >= target:
            return True
        self._flush_waiters += 1
        self._work.notify()  # a lingering worker sends at once
        try:
            while self._settled < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._thread is not None and not self._thread.is_alive()):
                    return self._settled >= target
                self._settled_cond.wait(remaining)
            return True
        finally:
            self._flush_waiters -= 1

    # ------------------------------------------------------------ worker side
    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(target=self._run, name="otel-xray-api", daemon=True)
            self._thread = thread
        thread.start()

    def _run(self) -> None:
        from opentelemetry import context

        # The worker's own HTTP calls must not become spans (see _sdk).
        context.attach(suppress_instrumentation_context())
        if self._disabled is None:
            self._disabled = self._prepare()
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                if self._disabled is not None:
                    self._drop(batch, self._disabled)
                else:
                    self._deliver(batch)
            except Exception as exc:  # a bug here must not kill the thread and strand the queue
                _logger.debug("otel-xray: the API transport failed on a batch", exc_info=True)
                self._drop(batch, ApiFailure.CLIENT_ERROR, f"{type(exc).__name__}: {exc}")
            with self._lock:
                self._in_flight = 0
                self._settled += len(batch)
                self._settled_cond.notify_all()

    def _prepare(self) -> Optional[str]:
        """Find the Region and credentials and build the client; ``None``, or the cause that disables sending."""
        try:
            session = self._session
            if session is None:
                session = self._session = botocore.session.get_session()
            region = self.region or session.get_config_variable("region")
            try:
                credentials = session.get_credentials()
            except Exception as exc:  # a broken profile, an expired SSO session...
                credentials, credentials_problem = None, f" ({type(exc).__name__}: {exc})"
            else:
                credentials_problem = ""
        except Exception as exc:
            return self._disable(ApiFailure.CLIENT_ERROR, f"cannot read the AWS configuration: {exc}")
        missing = []
        if not region:
            missing.append(
                "no AWS Region: set AWS_REGION (or AWS_DEFAULT_REGION, or 'region' in the profile in "
                "~/.aws/config), or pass region="
            )
        if credentials is None:
            missing.append(
                "no AWS credentials" + credentials_problem + ": botocore's chain found none (environment "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE with ~/.aws/credentials or SSO, web "
                "identity, the ECS task role, the EC2 instance role); provide one of them, with permission "
                "for xray:PutTraceSegments"
            )
        if missing:
            cause = ApiFailure.NO_REGION if not region else ApiFailure.NO_CREDENTIALS
            return self._disable(cause, "; ".join(missing))
        config = Config(
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
            # botocore's own retry handler stands aside (one attempt); ours, below, retries.
            retries={"mode": "standard", "total_max_attempts": 1},
            user_agent_extra=f"otel-xray/{__version__}",
        )
        try:
            client = self._client_factory(session, region, self.endpoint_url, config)
            client.meta.events.register("needs-retry.xray.PutTraceSegments", self._needs_retry)
        except Exception as exc:
            return self._disable(ApiFailure.CLIENT_ERROR, f"cannot create the X-Ray client: {exc}")
        self._client = client
        self._endpoint_in_use = getattr(client.meta, "endpoint_url", None)
        return None

    def _disable(self, cause: str, why: str) -> str:
        self.last_error = why
        _logger.error(
            "otel-xray: cannot send to the X-Ray API (%s): %s. Spans are counted as dropped (%s) until this is fixed "
            "and the process restarted.",
            self.describe(),
            why,
            cause,
        )
        return cause

    def _next_batch(self) -> Optional[List[_Item]]:
        """The next batch, once it is full, lingered long enough, or asked for; ``None`` at the end."""
        with self._lock:
            queue = self._queue
            while not queue and not self._stopping:
                self._work.wait()
            if not queue:
                return None
            if len(queue) < self._batch_documents and not self._stopping and not self._flush_waiters:
                deadline = time.monotonic() + self._linger
                while len(queue) < self._batch_documents and not self._stopping and not self._flush_waiters:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._work.wait(remaining)
            batch = [queue.popleft() for _ in range(min(len(queue), self._batch_documents))]
            self._queued_bytes -= sum(item[2] for item in batch)
            self._in_flight = len(batch)
            return batch

    def _deliver(self, batch: List[_Item]) -> None:
        client = self._client
        if client is None:
            self._drop(batch, ApiFailure.CLIENT_ERROR, "no X-Ray client")
            return
        bodies = [document[len(document) - size :].decode("utf-8", "replace") for document, _, size in batch]
        self._batch_deadline = self._clock() + self._retry_budget
        self._count("api_calls", 1)
        try:
            response = client.put_trace_segments(TraceSegmentDocuments=bodies)
        except ClientError as exc:
            self._drop(batch, *self._client_error(exc))
            return
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            self._drop(batch, ApiFailure.TIMEOUT, f"timed out: {exc}")
            return
        except BotocoreConnectionError as exc:
            self._drop(batch, ApiFailure.CONNECTION_ERROR, f"cannot connect: {exc}")
            return
        except NoCredentialsError as exc:
            self._drop(batch, ApiFailure.NO_CREDENTIALS, str(exc))
            return
        except Exception as exc:
            self._drop(batch, ApiFailure.CLIENT_ERROR, f"{type(exc).__name__}: {exc}")
            return
        unprocessed = response.get("UnprocessedTraceSegments") or []
        lost_at: Dict[int, str] = {}
        if unprocessed:
            lost_at = self._unprocessed(batch, bodies, unprocessed)
        delivered_docs = len(batch) - len(lost_at)
        delivered_spans = sum(item[1] for index, item in enumerate(batch) if index not in lost_at)
        with self._lock:
            self._counts["documents_delivered"] += delivered_docs
            self._counts["spans_delivered"] += delivered_spans
            for index, cause in lost_at.items():
                self._lose_locked(cause, 1, batch[index][1])

    def _unprocessed(self, batch: List[_Item], bodies: List[str], unprocessed: List[Dict[str, Any]]) -> Dict[int, str]:
        """Which documents of the batch the service did not take, and why (by index)."""
        by_id: Dict[str, List[int]] = {}
        for index, body in enumerate(bodies):
            try:
                segment_id = json.loads(body).get("id")
            except (ValueError, AttributeError):
                continue
            if isinstance(segment_id, str):
                by_id.setdefault(segment_id, []).append(index)
        lost_at: Dict[int, str] = {}
        examples: Dict[str, str] = {}
        unmatched = 0
        for entry in unprocessed:
            code = str(entry.get("ErrorCode") or "unknown")
            examples.setdefault(code, str(entry.get("Message") or ""))
            indexes = [i for i in by_id.get(str(entry.get("Id")), ()) if i not in lost_at]
            if indexes:
                lost_at[indexes[0]] = ApiFailure.UNPROCESSED_PREFIX + code
            else:
                unmatched += 1
        if unmatched:
            # An Id that matches none of the documents sent: the span count is unknown, one is counted.
            with self._lock:
                self._lose_locked(ApiFailure.UNPROCESSED_PREFIX + "unknown_id", unmatched, unmatched)
        detail = ", ".join(f"{code}: {message}" if message else code for code, message in list(examples.items())[:3])
        self.last_error = (
            f"PutTraceSegments to {self._where()}: {len(unprocessed)} of {len(batch)} document(s) "
            f"unprocessed ({detail})"
        )
        return lost_at

    def _client_error(self, exc: Any) -> Tuple[str, str]:
        error = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
        code = str(error.get("Code") or "unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") if isinstance(exc.response, dict) else None
        message = error.get("Message") or ""
        if code in _THROTTLING_CODES or status == 429:
            cause = ApiFailure.THROTTLED
        elif isinstance(status, int) and status >= 500:
            cause = ApiFailure.SERVER_ERROR
        else:
            cause = ApiFailure.REJECTED_PREFIX + code
        text = f"{code} (HTTP {status})" + (f": {message}" if message else "")
        return cause, text

    def _needs_retry(self, **kwargs: Any) -> Any:
        """botocore's ``needs-retry`` hook: its standard rules decide; the wait is ours, bounded and interruptible."""
        context = self._retry_adapter.create_retry_context(**kwargs)
        if not self._retry_conditions.is_retryable(context) or self._abandon.is_set():
            return None
        delay = self._backoff(context, kwargs)
        if self._clock() + delay > self._batch_deadline:
            return None  # the retry budget is spent: give the batch up
        self._count("retries", 1)
        if self._sleep is not None:
            self._sleep(delay)
        elif delay > 0:
            self._abandon.wait(delay)
        if self._abandon.is_set():
            return None
        self._count("api_calls", 1)
        return 0  # retry now: botocore sleeps for what is returned, and the wait is done

    def _backoff(self, context: Any, kwargs: Dict[str, Any]) -> float:
        """The standard retry mode's backoff, as current botocore computes it (older botocore lacks the
        throttling base and ``x-amz-retry-after``; computing it here keeps it the same on every version)."""
        status = getattr(context.http_response, "status_code", None)
        throttling = status == 429 or bool(self._throttling.is_throttling_error(**kwargs))
        base = _THROTTLING_BASE_SECONDS if throttling else _TRANSIENT_BASE_SECONDS
        attempt: int = context.attempt_number
        delay = float(self._random()) * min(base * 2.0 ** (attempt - 1), _MAX_BACKOFF_SECONDS)
        headers = getattr(context.http_response, "headers", None) or {}
        value = headers.get("x-amz-retry-after")
        if value is None:
            return delay
        try:
            retry_after = int(value) / 1000.0
        except (TypeError, ValueError, OverflowError):
            return delay
        if retry_after < 0:
            return delay
        return max(delay, min(retry_after, delay + _RETRY_AFTER_MAX_EXTRA_SECONDS))

    def _drop(self, batch: List[_Item], cause: str, why: Optional[str] = None) -> None:
        if why is not None:
            self.last_error = f"PutTraceSegments to {self._where()}: {why}"
            _logger.debug("otel-xray: %d document(s) dropped (%s): %s", len(batch), cause, why)
        with self._lock:
            self._lose_locked(cause, len(batch), sum(item[1] for item in batch))

    def _lose_locked(self, cause: str, documents: int, spans: int) -> None:
        self._losses[cause] = self._losses.get(cause, 0) + spans
        self._all_losses[cause] += spans
        self._counts["documents_lost"] += documents
        self._counts["spans_lost"] += spans

    def _count(self, key: str, amount: int) -> None:
        with self._lock:
            self._counts[key] += amount

    def _close_client(self) -> None:
        client, self._client = self._client, None
        close = getattr(client, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # pragma: no cover - closing is best effort
                _logger.debug("otel-xray: closing the X-Ray client failed", exc_info=True)


# The standard retry mode's backoff: rand() * min(base * 2**attempt, 20 s), base 1 s after
# throttling and 50 ms after other transient errors; x-amz-retry-after raises it by up to 5 s.
_THROTTLING_BASE_SECONDS = 1.0
_TRANSIENT_BASE_SECONDS = 0.05
_MAX_BACKOFF_SECONDS = 20.0
_RETRY_AFTER_MAX_EXTRA_SECONDS = 5.0

_THROTTLING_CODES = frozenset(
    ("ThrottledException", "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded")
)


def _create_client(session: Any, region: Optional[str], endpoint_url: Optional[str], config: Any) -> Any:
    return session.create_client("xray", region_name=region, endpoint_url=endpoint_url, config=config)
