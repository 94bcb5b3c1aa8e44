"""The local daemon's trace store: SQLite (WAL), written by one writer fed from a bounded queue.

Every accepted document is stored with its validation verdict. ``submit`` only
appends it to a bounded queue, so the UDP reader never waits on the disk. A
writer takes what has accumulated (up to :data:`BATCH_SIZE` documents) and
writes it in one transaction. For a database file the writer is a separate
process (``python -m otel_xray.daemon.store``) fed through a pipe with each
document's bytes as received and the few fields and entities the summaries
need (noted by ``submit``, where the document is already parsed): deriving the
summaries and talking to SQLite take none of the receiving process's
interpreter time. For ``:memory:`` (which another process cannot open) it is a
thread.

What one batch writes, per trace it touches, all worked out in Python from the
trace's documents (the ones of earlier batches come from a cache of recent
traces, or are read back and parsed):

- ``documents``: one row per (trace ID, document ID), with the body as
  received. The same document received twice is stored once; an in-progress
  document is replaced by its completed version (never the reverse); a
  changed complete document replaces the earlier one, as X-Ray does.
- ``traces``: one row per trace: the summary the trace list shows (root
  segment, times, flags), the service-map nodes and edges the trace has (for
  ``service()`` and ``edge()`` filters), its annotations, what it adds to the
  service map's sums, and what Lint finds across its documents.
- ``annotations``: one row per (key, type, value, trace), the index of
  ``annotation.KEY`` filters.
- ``graph_minutes``, ``graph_tens`` and ``graph_hours``: the service map's sums
  (counts, flags, response-time histogram) per node or edge per minute, per
  ten minutes and per hour, kept exact as traces are added, changed and
  deleted; ``nodes`` names them.

Retention (``keep_traces``, ``keep_hours``) deletes the oldest traces in
small chunks between batches, so ingestion never stalls behind it. If the
database cannot be written (locked by another process, disk full), the
writer keeps the batch and retries; the queue absorbs what arrives meanwhile
and what does not fit is counted as dropped, never silently.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import bisect
import collections
import gc
import hashlib
import json
import math
import os
import pickle
import queue
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from .filter_expr import compile_filter
from .validate import Verdict


try:  # the `fast` extra: about 15x faster than the stdlib on segment documents
    import orjson as _orjson

    def _dumps(document: Any) -> str:
        return _orjson.dumps(document).decode("utf-8")

    def _loads(text: Any) -> Any:
        try:
            return _orjson.loads(text)
        except Exception:  # what orjson refuses (a lone surrogate escape, a huge integer) the stdlib reads
            return json.loads(text)

except ImportError:  # pragma: no cover - depends on the environment

    def _dumps(document: Any) -> str:
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)

    def _loads(text: Any) -> Any:
        return json.loads(text)


SCHEMA_VERSION = 2
BATCH_SIZE = 2000
QUEUE_LIMIT = 200_000  # documents waiting to be written
QUEUE_BYTES = 256 * 1024 * 1024  # ... and their bodies' bytes
_RETENTION_CHUNK = 2000
_RETENTION_EVERY = 1.0  # seconds between retention passes
_RETRY_AFTER = 0.5  # seconds between attempts while the database cannot be written
_CACHED_TRACES = 10_000  # recent traces whose parsed documents the writer keeps
_INT64 = 2**63
_CLIENT = ("client", "client")

# Response times in logarithmic buckets, four per decade from 0.1 ms (index 0) to 100 s; one more
# bucket above. Documents still in progress count in the totals, in no bucket.
HISTOGRAM_BOUNDS: Tuple[float, ...] = tuple(round(10 ** (exponent / 4), 10) for exponent in range(-16, 9))
BUCKETS = len(HISTOGRAM_BOUNDS) + 1
_BUCKET_COLUMNS = [f"b{index}" for index in range(BUCKETS)]
# A rollup row's sums, in order: total, faults, throttles, errors, time_sum, then the buckets.
_SUMS = ["total", "faults", "throttles", "errors", "time_sum"] + _BUCKET_COLUMNS
SUMS: Tuple[str, ...] = tuple(_SUMS)


def _rollup_table(name: str) -> str:
    sums = ", ".join(f"{column} {'REAL' if column == 'time_sum' else 'INTEGER'} NOT NULL" for column in _SUMS)
    return f"""
CREATE TABLE IF NOT EXISTS {name} (
    start INTEGER NOT NULL, source INTEGER NOT NULL, destination INTEGER NOT NULL,
    first INTEGER NOT NULL, last INTEGER NOT NULL, {sums},
    PRIMARY KEY (start, source, destination)
) WITHOUT ROWID;"""


# `graph_minutes.start` is a minute (epoch seconds // 60), `graph_tens.start` and `graph_hours.start`
# the first minute of ten minutes and of an hour; `first`/`last` are the minutes with data in the row.
# A node's row has destination 0 (node IDs start at 1).
_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS documents (
    trace_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT, start_time REAL, in_progress INTEGER NOT NULL,
    received_at REAL NOT NULL, valid INTEGER NOT NULL, verdict TEXT, size INTEGER NOT NULL,
    format TEXT NOT NULL, revision INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS documents_key ON documents (trace_id, id);
CREATE INDEX IF NOT EXISTS documents_received ON documents (received_at);
CREATE INDEX IF NOT EXISTS documents_problems ON documents (received_at) WHERE verdict IS NOT NULL;

CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY, start_time REAL, end_time REAL, duration REAL, response_time REAL,
    name TEXT, origin TEXT, http_method TEXT, http_url TEXT, http_status INTEGER,
    user_agent TEXT, client_ip TEXT, user TEXT,
    fault INTEGER NOT NULL, error INTEGER NOT NULL, throttle INTEGER NOT NULL,
    any_fault INTEGER NOT NULL, any_error INTEGER NOT NULL, any_throttle INTEGER NOT NULL,
    in_progress INTEGER NOT NULL, documents INTEGER NOT NULL, invalid INTEGER NOT NULL,
    updated_at REAL NOT NULL, trace_epoch INTEGER,
    nodes TEXT NOT NULL, edges TEXT NOT NULL, annotations TEXT, graph TEXT, lint TEXT
);
CREATE INDEX IF NOT EXISTS traces_start ON traces (start_time);
CREATE INDEX IF NOT EXISTS traces_updated ON traces (updated_at);
CREATE INDEX IF NOT EXISTS traces_status ON traces (http_status, fault, error, throttle, response_time, start_time);

CREATE TABLE IF NOT EXISTS annotations (
    key TEXT NOT NULL, kind TEXT NOT NULL, value NOT NULL, trace_id TEXT NOT NULL,
    PRIMARY KEY (key, kind, value, trace_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS nodes (
    node_id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, UNIQUE (name, type)
);
INSERT OR IGNORE INTO nodes (name, type) VALUES ('client', 'client');
"""
    + _rollup_table("graph_minutes")
    + _rollup_table("graph_tens")
    + _rollup_table("graph_hours")
)

# Schema 1 derived everything with SQL from per-entity rows: its documents table is set aside (then
# read back through the writer) and the rest dropped.
_FROM_VERSION_1 = """
BEGIN;
DROP INDEX IF EXISTS documents_key;
DROP INDEX IF EXISTS documents_received;
DROP INDEX IF EXISTS documents_invalid;
ALTER TABLE documents RENAME TO documents_v1;
DROP TABLE IF EXISTS entities;
DROP TABLE IF EXISTS annotations;
DROP TABLE IF EXISTS traces;
DROP TABLE IF EXISTS nodes;
DROP TABLE IF EXISTS graph_nodes;
DROP TABLE IF EXISTS graph_edges;
DROP TABLE IF EXISTS graph_nodes_minutes;
DROP TABLE IF EXISTS graph_edges_minutes;
PRAGMA user_version=0;
COMMIT;
"""

# Columns of `traces` a trace list shows (the rest is for the store's own use).
TRACE_COLUMNS = (
    "trace_id, start_time, end_time, duration, response_time, name, origin, http_method, http_url, http_status, "
    "user_agent, client_ip, user, fault, error, throttle, any_fault, any_error, any_throttle, in_progress, "
    "documents, invalid, updated_at, trace_epoch"
)

_UPSERT_DOCUMENT = """
INSERT INTO documents (trace_id, id, name, start_time, in_progress, received_at, valid, verdict, size, format,
    revision, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (trace_id, id) DO UPDATE SET
    name = excluded.name, start_time = excluded.start_time, in_progress = excluded.in_progress,
    received_at = excluded.received_at, valid = excluded.valid, verdict = excluded.verdict, size = excluded.size,
    format = excluded.format, revision = excluded.revision, body = excluded.body
WHERE excluded.body != documents.body AND NOT (excluded.in_progress = 1 AND documents.in_progress = 0)
"""
_INSERT_TRACE = f"INSERT OR REPLACE INTO traces VALUES ({', '.join('?' * 29)})"


def _upsert_rollup(table: str) -> str:
    columns = ", ".join(["start", "source", "destination", "first", "last"] + _SUMS)
    marks = ", ".join("?" * (5 + len(_SUMS)))
    sums = ", ".join(f"{column} = {column} + excluded.{column}" for column in _SUMS)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT (start, source, destination) DO UPDATE SET "
        f"first = min(first, excluded.first), last = max(last, excluded.last), {sums}"
    )


_UPSERT_MINUTE = _upsert_rollup("graph_minutes")
# The levels of sums, finest first: (table, minutes per row).
ROLLUP_LEVELS: Tuple[Tuple[str, int], ...] = (("graph_minutes", 1), ("graph_tens", 10), ("graph_hours", 60))
_UPSERTS = {table: _upsert_rollup(table) for table, _ in ROLLUP_LEVELS}

# Node types of inferred AWS services, as X-Ray names them.
_AWS_TYPES = {
    "dynamodb": "AWS::DynamoDB::Table",
    "s3": "AWS::S3::Bucket",
    "sqs": "AWS::SQS::Queue",
    "sns": "AWS::SNS::Topic",
    "lambda": "AWS::Lambda",
    "kinesis": "AWS::Kinesis::Stream",
    "sts": "AWS::STS",
    "secretsmanager": "AWS::SecretsManager",
    "stepfunctions": "AWS::StepFunctions::StateMachine",
    "eventbridge": "AWS::Events",
}
# Lint across documents.
SKEW_TOLERANCE = 0.001  # seconds
_PAST_WINDOW = 30 * 24 * 3600
_FUTURE_WINDOW = 5 * 60


class StoreError(Exception):
    """The database cannot be used; the message says why and what to do."""


@dataclass
class StoredDocument:
    trace_id: str
    id: str
    body: str
    valid: bool
    errors: List[str]
    warnings: List[str]
    received_at: float
    size: int
    format: str

    @property
    def document(self) -> Any:
        return json.loads(self.body)


@dataclass
class StoreStats:
    submitted: int = 0
    stored: int = 0  # inserted or replaced
    duplicates: int = 0  # same document again, or an in-progress one after its completed version
    dropped: int = 0  # the queue was full
    failed: int = 0  # the batch could not be written at all
    deleted_traces: int = 0  # by retention
    pending: int = 0
    last_error: Optional[str] = None
    batches: int = 0

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


def default_db_path() -> str:
    """``$XDG_CACHE_HOME/otel-xray/traces.db`` (``~/.cache`` by default; ``%LOCALAPPDATA%`` on Windows)."""
    from ..config import user_cache_directory

    return os.path.join(user_cache_directory(), "otel-xray", "traces.db")


def trace_epoch(trace_id: Any) -> Optional[int]:
    """The epoch seconds in an X-Ray trace ID (``1-<8 hex>-...``), or None."""
    if isinstance(trace_id, str) and len(trace_id) == 35 and trace_id[:2] == "1-":
        try:
            return int(trace_id[2:10], 16)
        except ValueError:
            return None
    return None


def explain(path: str, exc: BaseException) -> str:
    """What to tell the user about a database error on ``path``."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (
            f"the trace database {path} is locked by another process ({text}); stop the other "
            "otel-xray daemon using it, or choose another --db"
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return f"{path} is not a usable SQLite database ({text}); move it away or choose another --db"
    return f"the trace database {path} cannot be used: {text}"


def _retryable(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in text or "busy" in text or "full" in text or "disk i/o" in text
    )


def open_database(path: str, write: bool, busy_timeout: float, schema: bool = True) -> sqlite3.Connection:
    """A connection to the store at ``path``; with ``write``, the schema is created (unless ``schema`` is
    False: the writer process opens what the store already made). Raises StoreError."""
    try:
        connection = sqlite3.connect(path, timeout=busy_timeout, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the trace database {path}: {exc}") from exc
    try:
        if write and not schema:
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA temp_store=MEMORY")
        elif write:
            # For a new file: 16 kB pages hold documents of a few kB with less waste and fewer overflow pages
            # (an existing database keeps its page size).
            connection.execute("PRAGMA page_size=16384")
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()
            if path != ":memory:" and (mode is None or str(mode[0]).lower() != "wal"):
                raise StoreError(f"{path}: cannot switch the database to WAL mode (journal mode {mode})")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA temp_store=MEMORY")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version == 1:  # the first layout: its documents are kept and stored again (see TraceStore)
                connection.executescript(_FROM_VERSION_1)
                version = 0
            if version not in (0, SCHEMA_VERSION):
                raise StoreError(
                    f"{path} was written by another version of otel-xray (schema {version}, this one "
                    f"uses {SCHEMA_VERSION}); choose another --db or remove the file"
                )
            connection.executescript(_SCHEMA)
            connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        else:
            connection.execute("PRAGMA query_only=1")
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise StoreError(explain(path, exc)) from exc
    return connection


# ---------------------------------------------------------------- what a document holds
def _num(value: Any) -> Optional[float]:
    kind = type(value)
    if kind is float:
        return value if value - value == 0.0 else None  # NaN and infinities: None
    if kind is int:
        return value if -_INT64 <= value < _INT64 else float(value)
    if kind is bool or not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return _num(float(value) if isinstance(value, float) else int(value))


def _text(value: Any, limit: int = 2048) -> Optional[str]:
    return value[:limit] if isinstance(value, str) else None


def _node_type(entity: Dict[str, Any], is_segment: bool) -> Optional[str]:
    if is_segment:
        origin = entity.get("origin")
        return origin if isinstance(origin, str) else ""
    namespace = entity.get("namespace")
    if namespace == "aws":
        name = entity.get("name")
        key = name.lower() if isinstance(name, str) else ""
        return _AWS_TYPES.get(key, f"AWS::{name}")
    if namespace == "remote":
        return "Database::SQL" if isinstance(entity.get("sql"), dict) else "remote"
    return None


# One segment or subsegment, as the service map and Lint see it: a tuple (fast to make, and of no
# interest to the garbage collector).
# (doc ID, ID, parent ID, segment ID, is segment, name, node type, start, end, fault, error, throttle)
_Entity = Tuple[Any, ...]
(_DOC, _ID, _PARENT, _SEGMENT, _IS_SEGMENT, _NAME, _TYPE, _START, _END, _FAULT, _ERROR, _THROTTLE) = range(12)


class _Doc:
    """What the derived tables need from one stored document (its body is not kept)."""

    __slots__ = ("id", "revision", "is_segment", "parent_id", "name", "origin", "start", "end", "in_progress",
                 "fault", "error", "throttle", "http", "user", "received_at", "valid", "entities", "annotations")

    def __init__(self, doc_id: str, document: Dict[str, Any], received_at: float, valid: bool) -> None:
        self.id = doc_id
        self.revision = 0
        self.is_segment = is_segment = document.get("type") != "subsegment"
        self.parent_id = parent_id = _text(document.get("parent_id"))
        self.name = _text(document.get("name"))
        self.origin = _text(document.get("origin"))
        self.start = _num(document.get("start_time"))
        self.end = _num(document.get("end_time"))
        self.in_progress = self.end is None
        self.fault = 1 if document.get("fault") is True else 0
        self.error = 1 if document.get("error") is True else 0
        self.throttle = 1 if document.get("throttle") is True else 0
        http = document.get("http")
        http = http if isinstance(http, dict) else {}
        request = http.get("request")
        request = request if isinstance(request, dict) else {}
        response = http.get("response")
        status = response.get("status") if isinstance(response, dict) else None
        if not (isinstance(status, int) and not isinstance(status, bool) and -_INT64 <= status < _INT64):
            status = None
        self.http = (
            _text(request.get("method")), _text(request.get("url")), status,
            _text(request.get("user_agent")), _text(request.get("client_ip")),
        )
        self.user = _text(document.get("user"))
        self.received_at = received_at
        self.valid = valid
        # Every entity (embedded subsegments belong to the document's segment, whatever their own fields
        # say) and every annotation, without recursion.
        entities: List[_Entity] = []
        annotations: Set[Tuple[str, str, Any]] = set()
        segment_id = doc_id if is_segment else None
        stack: List[Tuple[Dict[str, Any], Optional[str], bool]] = [(document, parent_id, is_segment)]
        num = _num
        while stack and len(entities) < 10_000:
            entity, parent, entity_is_segment = stack.pop()
            get = entity.get
            entity_id = get("id")
            entity_id = entity_id[:64] if isinstance(entity_id, str) else None
            name = get("name")
            name = name[:512] if isinstance(name, str) else None
            if entity_is_segment:
                origin = get("origin")
                node_type: Optional[str] = origin if isinstance(origin, str) else ""
            elif "namespace" in entity:
                node_type = _node_type(entity, False)
            else:
                node_type = None
            entities.append((
                doc_id, entity_id, parent, segment_id, entity_is_segment, name, node_type,
                num(get("start_time")), num(get("end_time")),
                1 if get("fault") is True else 0, 1 if get("error") is True else 0, 1 if get("throttle") is True else 0,
            ))
            found = get("annotations")
            if found and isinstance(found, dict):
                for key, value in found.items():
                    if not isinstance(key, str):
                        continue
                    if isinstance(value, bool):
                        annotations.add((key, "b", int(value)))
                    elif isinstance(value, str):
                        annotations.add((key, "s", value))
                    else:
                        number = num(value)
                        if number is not None:
                            annotations.add((key, "n", number))
            children = get("subsegments")
            if children and isinstance(children, list):
                for child in reversed(children):
                    if isinstance(child, dict):
                        stack.append((child, entity_id, False))
        self.entities = entities
        self.annotations = annotations

    def state(self) -> Tuple[Any, ...]:
        """What :meth:`restore` makes the same document of (plain values, cheap to pickle)."""
        return (self.id, self.is_segment, self.parent_id, self.name, self.origin, self.start, self.end,
                self.in_progress, self.fault, self.error, self.throttle, self.http, self.user, self.received_at,
                self.valid, self.entities, self.annotations)

    @classmethod
    def restore(cls, state: Tuple[Any, ...]) -> "_Doc":
        doc = cls.__new__(cls)
        (doc.id, doc.is_segment, doc.parent_id, doc.name, doc.origin, doc.start, doc.end, doc.in_progress,
         doc.fault, doc.error, doc.throttle, doc.http, doc.user, doc.received_at, doc.valid, doc.entities,
         doc.annotations) = state
        doc.revision = 0
        return doc


def _bucket(response_time: Optional[float]) -> int:
    return -1 if response_time is None else bisect.bisect_left(HISTOGRAM_BOUNDS, response_time)


def _duration(start: Optional[float], end: Optional[float]) -> Optional[float]:
    return None if start is None or end is None else end - start


class _Derived:
    """A trace's row of ``traces`` and what it adds to the annotations index and the service map."""

    __slots__ = ("row", "annotations", "graph")

    def __init__(self, row: Tuple[Any, ...], annotations: Set[Tuple[str, str, Any]], graph: List[Tuple[Any, ...]]) -> None:
        self.row = row
        self.annotations = annotations
        self.graph = graph


def _sort_start(value: Optional[float]) -> float:
    return -math.inf if value is None else value  # SQL puts NULL first


def derive(trace_id: str, docs: Sequence[_Doc], node_id: Callable[[Tuple[str, str]], int]) -> _Derived:
    """Summary, service-map contributions, annotations and Lint findings of one trace from its documents.

    ``node_id((name, type))`` gives (or makes) the ID of a service-map node. A contribution is
    ``(source, destination or 0 for a node, minute, bucket, fault, error, throttle, response time)``.
    """
    entities = [entity for doc in docs for entity in doc.entities] if len(docs) > 1 else docs[0].entities
    by_id: Dict[Optional[str], List[int]] = {}
    for index, entity in enumerate(entities):
        found = by_id.get(entity[_ID])
        if found is None:
            by_id[entity[_ID]] = [index]
        else:
            found.append(index)
    owners = [entity[_SEGMENT] for entity in entities]
    # The owning segment of independent subsegments and what they hold (the parent may be a
    # subsegment of another document, itself sent on its own).
    unresolved = [i for i, e in enumerate(entities) if e[_SEGMENT] is None and not e[_IS_SEGMENT] and e[_PARENT] is not None]
    while unresolved:
        left = []
        for index in unresolved:
            parents = by_id.get(entities[index][_PARENT])
            if parents:
                parent = entities[parents[0]]
                owner = parent[_ID] if parent[_IS_SEGMENT] else owners[parents[0]]
                if owner is not None:
                    owners[index] = owner
                    continue
            left.append(index)
        if len(left) == len(unresolved):
            break
        unresolved = left
    called = {e[_PARENT] for e in entities if e[_IS_SEGMENT] and e[_PARENT] is not None}

    nodes: Set[int] = set()
    edges: Set[Tuple[int, int]] = set()
    graph: List[Tuple[Any, ...]] = []
    node_of: List[Optional[int]] = [
        None if e[_NAME] is None or e[_TYPE] is None else node_id((e[_NAME], e[_TYPE]))
        for e in entities
    ]
    bounds = HISTOGRAM_BOUNDS
    for index, entity in enumerate(entities):
        this = node_of[index]
        if this is None:
            continue
        is_segment = entity[_IS_SEGMENT]
        if is_segment or entity[_ID] not in called:  # segments, and inferred nodes nobody answered
            nodes.add(this)
            start, end = entity[_START], entity[_END]
            response = None if start is None or end is None else end - start
            graph.append((this, 0, int((start or 0) // 60), -1 if response is None else bisect.bisect_left(bounds, response),
                          entity[_FAULT], entity[_ERROR], entity[_THROTTLE], response or 0.0))
        sources: List[Tuple[int, _Entity]] = []  # (source node, the entity whose view times the edge)
        if is_segment:
            parents = by_id.get(entity[_PARENT]) if entity[_PARENT] is not None else None
            if not parents:  # the client -> segments no traced caller calls
                sources.append((node_id(_CLIENT), entity))
            else:  # the calling segment -> this one, timed and judged by the caller's subsegment
                for parent_index in parents:
                    parent = entities[parent_index]
                    owner_id = parent[_ID] if parent[_IS_SEGMENT] else owners[parent_index]
                    for owner_index in by_id.get(owner_id, ()) if owner_id is not None else ():
                        source = node_of[owner_index] if entities[owner_index][_IS_SEGMENT] else None
                        if source is not None:
                            sources.append((source, parent))
        elif entity[_ID] not in called and owners[index] is not None:  # a segment -> its inferred node
            for owner_index in by_id.get(owners[index], ()):
                source = node_of[owner_index] if entities[owner_index][_IS_SEGMENT] else None
                if source is not None:
                    sources.append((source, entity))
        for source, timed in sources:
            edges.add((source, this))
            start, end = timed[_START], timed[_END]
            response = None if start is None or end is None else end - start
            graph.append((source, this, int((start or 0) // 60), -1 if response is None else bisect.bisect_left(bounds, response),
                          timed[_FAULT], timed[_ERROR], timed[_THROTTLE], response or 0.0))

    # Lint across documents: parents that are not there, trace IDs out of the window, clock skew.
    lint: List[List[Any]] = []
    for doc in docs:
        if doc.parent_id is not None and doc.parent_id not in by_id:
            lint.append(["orphan", doc.id, doc.name, doc.parent_id])
    if len(docs) > 1:
        for entity in entities:
            if not entity[_IS_SEGMENT] or entity[_END] is None or entity[_PARENT] is None or entity[_START] is None:
                continue
            for parent_index in by_id.get(entity[_PARENT], ()):
                parent = entities[parent_index]
                if parent[_DOC] == entity[_DOC] or parent[_END] is None or parent[_START] is None:
                    continue
                skew = max(parent[_START] - entity[_START], entity[_END] - parent[_END])
                if skew > SKEW_TOLERANCE:
                    lint.append(["skew", entity[_ID], entity[_NAME], parent[_NAME], skew])

    if len(docs) == 1:
        root = docs[0]
        start, end = root.start, root.end if root.end is not None else root.start
    else:
        starts = [d.start for d in docs if d.start is not None]
        start = min(starts) if starts else None
        ends = [e for e in ((d.end if d.end is not None else d.start) for d in docs) if e is not None]
        end = max(ends) if ends else None
        root = min(docs, key=lambda d: (not d.is_segment, d.parent_id is not None, _sort_start(d.start)))
    epoch = trace_epoch(trace_id)
    if epoch is not None and start is not None and (epoch < start - _PAST_WINDOW or epoch > start + _FUTURE_WINDOW):
        lint.append(["epoch", None, root.name, epoch, start])
    annotations: Set[Tuple[str, str, Any]] = set()
    for doc in docs:
        if doc.annotations:
            annotations |= doc.annotations
    row = (
        trace_id, start, end, _duration(start, end), _duration(root.start, root.end),
        root.name, root.origin, *root.http, root.user,
        root.fault, root.error, root.throttle,
        max(d.fault for d in docs), max(d.error for d in docs), max(d.throttle for d in docs),
        int(any(d.in_progress for d in docs)), len(docs), sum(1 for d in docs if not d.valid),
        max(d.received_at for d in docs), epoch,
        "|" + "".join(f"{n}|" for n in sorted(nodes)), "|" + "".join(f"{s}>{d}|" for s, d in sorted(edges)),
        _dumps(sorted(annotations, key=repr)) if annotations else None,
        _dumps(graph) if graph else None,
        _dumps(lint) if lint else None,
    )
    return _Derived(row, annotations, graph)


class _Rollups:
    """Changes to the service map's sums, gathered over a batch and written as few rows."""

    def __init__(self) -> None:
        # (source, destination, minute, bucket, fault, error, throttle) -> [count, response time sum]
        self.counts: Dict[Tuple[Any, ...], List[Any]] = {}
        # (table, start, source, destination) of coarse rows that lost data: their first/last are worked out again
        self.shrunk: Set[Tuple[str, int, int, int]] = set()

    def add(self, graph: Iterable[Sequence[Any]], sign: int) -> None:
        counts = self.counts
        for contribution in graph:
            key = tuple(contribution[:7])
            found = counts.get(key)
            if found is None:
                counts[key] = [sign, sign * contribution[7]]
            else:
                found[0] += sign
                found[1] += sign * contribution[7]
            if sign < 0:
                minute = contribution[2]
                for table, width in ROLLUP_LEVELS[1:]:
                    self.shrunk.add((table, minute - minute % width, contribution[0], contribution[1]))

    def write(self, connection: sqlite3.Connection) -> None:
        rows: Dict[Tuple[str, int, int, int], List[Any]] = {}
        for (source, destination, minute, bucket, fault, error, throttle), (count, response) in self.counts.items():
            if count == 0:
                continue
            for table, width in ROLLUP_LEVELS:
                key = (table, minute - minute % width, source, destination)
                row = rows.get(key)
                if row is None:
                    row = rows[key] = [minute, minute] + [0] * len(_SUMS)
                else:
                    row[0] = min(row[0], minute)
                    row[1] = max(row[1], minute)
                row[2] += count
                row[3] += count * fault
                row[4] += count * (fault == 0 and throttle == 1)
                row[5] += count * (fault == 0 and throttle == 0 and error == 1)
                row[6] += response
                if bucket >= 0:
                    row[7 + bucket] += count
        by_table: Dict[str, List[Tuple[Any, ...]]] = collections.defaultdict(list)
        for (table, start, source, destination), row in rows.items():
            by_table[table].append((start, source, destination, *row))
        for table, values in by_table.items():
            connection.executemany(_UPSERTS[table], values)
        if not self.shrunk:
            return
        oldest = min(k[1] for k in self.shrunk)
        for table, _ in ROLLUP_LEVELS:
            connection.execute(f"DELETE FROM {table} WHERE total <= 0 AND start >= ?", (oldest,))
        # A coarse row that lost data may now start later or end earlier: ask its minutes.
        for table, width in ROLLUP_LEVELS[1:]:
            for block in sorted({k[1] for k in self.shrunk if k[0] == table}):
                spans = {
                    (source, destination): (first, last)
                    for source, destination, first, last in connection.execute(
                        "SELECT source, destination, min(start), max(start) FROM graph_minutes "
                        "WHERE start >= ? AND start < ? GROUP BY source, destination", (block, block + width)
                    )
                }
                connection.executemany(
                    f"UPDATE {table} SET first = ?, last = ? WHERE start = ? AND source = ? AND destination = ?",
                    [(*spans[(s, d)], block, s, d) for t, b, s, d in self.shrunk
                     if t == table and b == block and (s, d) in spans],
                )


# ---------------------------------------------------------------- the writer
# One queued document: (body as received or None, the document, errors, warnings, size, received_at,
# format). The document is the parsed one (a writer thread), or what the writer needs of it (trace ID,
# ID, complete or not, _Doc.state(): to a writer process), or None (the writer parses the body).
_Item = Tuple[Any, Any, Optional[List[str]], Optional[List[str]], int, float, str]


def _key(document: Any) -> Tuple[str, str]:
    if not isinstance(document, dict):
        return "", ""
    trace_id, doc_id = document.get("trace_id"), document.get("id")
    return (trace_id if isinstance(trace_id, str) else "", doc_id if isinstance(doc_id, str) else "")


def _complete(document: Any) -> bool:
    return isinstance(document, dict) and "end_time" in document


class _Writer:
    """Owns the connection that writes: a batch in one transaction, retention in chunks."""

    def __init__(self, path: str, keep_traces: Optional[int], keep_hours: Optional[float], busy_timeout: float,
                 connection: Optional[sqlite3.Connection] = None) -> None:
        self.path = path
        self.keep_traces = keep_traces
        self.keep_hours = keep_hours
        self.connection = connection if connection is not None else open_database(path, True, busy_timeout, schema=False)
        try:
            self.nodes: Dict[Tuple[str, str], int] = {
                (name, kind): node for node, name, kind in self.connection.execute("SELECT node_id, name, type FROM nodes")
            }
        except sqlite3.Error:
            if connection is None:
                self.connection.close()
            raise
        self.new_nodes: List[Tuple[int, str, str]] = []
        # trace ID -> {document ID: parsed document}: the documents of recent traces, so that a later
        # document of the same trace does not have the earlier ones read back and parsed again.
        self.cache: "collections.OrderedDict[str, Dict[str, _Doc]]" = collections.OrderedDict()
        self.revision = 0

    def node_id(self, key: Tuple[str, str]) -> int:
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = max(self.nodes.values(), default=0) + 1
            self.new_nodes.append((node, key[0], key[1]))
        return node

    def _forget_new_nodes(self) -> None:
        for node, name, kind in self.new_nodes:
            self.nodes.pop((name, kind), None)
        self.new_nodes = []

    # -- a batch ---------------------------------------------------------------------
    def write(self, items: Sequence[_Item]) -> int:
        """Write a batch; returns how many documents were stored (the rest were duplicates)."""
        # Parse, then keep one winner per (trace, id), by the same rules the database applies.
        winners: Dict[Tuple[str, str], Tuple[str, Any, _Item, bool]] = {}
        for item in items:
            body, document = item[0], item[1]
            if isinstance(body, (bytes, bytearray, memoryview)):
                text = bytes(body).decode("utf-8", "surrogateescape")
            elif isinstance(body, str):
                text = body
            else:
                text = _dumps(document)
            if type(document) is tuple:  # extracted by the submitting process: (trace, id, complete, state)
                key: Tuple[str, str] = (document[0], document[1])
                complete = document[2]
            else:
                if document is None:
                    try:
                        document = _loads(text)
                    except (ValueError, RecursionError):  # not from the daemon's parser: keep it as text
                        document = {"value": text}
                key = _key(document)
                if not key[1]:  # not addressable: keyed by content so that a resend is still a duplicate
                    key = (key[0], "~" + hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:16])
                complete = _complete(document)
            current = winners.get(key)
            if current is None or complete or not current[3]:
                winners[key] = (text, document, item, complete)
        self.revision = max(self.revision + 1, time.time_ns())
        revision = self.revision
        rows = []
        parsed: Dict[str, Dict[str, _Doc]] = collections.defaultdict(dict)
        for (trace_id, doc_id), (text, document, item, _) in winners.items():
            errors, warnings = item[2], item[3]
            valid = not errors
            if type(document) is tuple:
                doc = _Doc.restore(document[3])
            else:
                doc = _Doc(doc_id, document if isinstance(document, dict) else {"value": document}, item[5], valid)
            doc.revision = revision
            if trace_id:
                parsed[trace_id][doc_id] = doc
            rows.append((
                trace_id, doc_id, doc.name, doc.start, int(doc.in_progress), item[5], int(valid),
                json.dumps({"errors": errors or [], "warnings": warnings or []}) if (errors or warnings) else None,
                item[4], item[6], revision, text,
            ))
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")  # raises "database is locked" after the busy timeout
        try:
            before = connection.total_changes
            connection.executemany(_UPSERT_DOCUMENT, rows)
            stored = connection.total_changes - before
            self._derive(connection, parsed, revision)
            connection.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self.new_nodes = []
        return stored

    def _rollback(self) -> None:
        try:
            self.connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        self._forget_new_nodes()
        self.cache.clear()  # it may hold what the rolled-back batch wrote

    def _derive(self, connection: sqlite3.Connection, parsed: Dict[str, Dict[str, _Doc]], revision: int) -> None:
        trace_ids = list(parsed)
        old: Dict[str, Tuple[Optional[str], Optional[str]]] = {}
        for chunk in _chunks(trace_ids):
            for trace_id, annotations, graph in connection.execute(
                f"SELECT trace_id, annotations, graph FROM traces WHERE trace_id IN ({','.join('?' * len(chunk))})", chunk
            ):
                old[trace_id] = (annotations, graph)
        # Traces stored before: their documents as they are now (what this batch did not replace stays).
        documents: Dict[str, List[_Doc]] = {}
        if old:
            current: Dict[str, List[Tuple[str, int]]] = collections.defaultdict(list)
            for chunk in _chunks(list(old)):
                for trace_id, doc_id, doc_revision in connection.execute(
                    f"SELECT trace_id, id, revision FROM documents WHERE trace_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ):
                    current[trace_id].append((doc_id, doc_revision))
            for trace_id in old:
                documents[trace_id] = self._documents_of(trace_id, current[trace_id], parsed[trace_id], revision)
        rollups = _Rollups()
        annotation_rows: List[Tuple[str, str, Any, str]] = []
        gone: List[Tuple[str, str, Any, str]] = []
        trace_rows = []
        for trace_id in trace_ids:
            docs = documents.get(trace_id)
            if docs is None:
                docs = list(parsed[trace_id].values())
            if trace_id in old:
                annotations, graph = old[trace_id]
                if graph:
                    rollups.add(json.loads(graph), -1)
                if annotations:
                    gone.extend((key, kind, value, trace_id) for key, kind, value in json.loads(annotations))
            derived = derive(trace_id, docs, self.node_id)
            trace_rows.append(derived.row)
            rollups.add(derived.graph, 1)
            annotation_rows.extend((key, kind, value, trace_id) for key, kind, value in derived.annotations)
            self._remember(trace_id, docs)
        if self.new_nodes:
            connection.executemany("INSERT INTO nodes (node_id, name, type) VALUES (?, ?, ?)", self.new_nodes)
        if gone:
            connection.executemany("DELETE FROM annotations WHERE key = ? AND kind = ? AND value = ? AND trace_id = ?", gone)
        connection.executemany(_INSERT_TRACE, trace_rows)
        if annotation_rows:
            connection.executemany("INSERT OR IGNORE INTO annotations VALUES (?, ?, ?, ?)", annotation_rows)
        rollups.write(connection)

    def _documents_of(self, trace_id: str, current: List[Tuple[str, int]], new: Dict[str, _Doc], revision: int) -> List[_Doc]:
        cached = self.cache.get(trace_id, {})
        docs: List[_Doc] = []
        missing: List[str] = []
        for doc_id, doc_revision in current:
            if doc_revision == revision and doc_id in new:
                docs.append(new[doc_id])
            elif doc_id in cached and cached[doc_id].revision == doc_revision:
                docs.append(cached[doc_id])
            else:
                missing.append(doc_id)
        for chunk in _chunks(missing):
            for doc_id, body, received_at, valid, doc_revision in self.connection.execute(
                f"SELECT id, body, received_at, valid, revision FROM documents WHERE trace_id = ? AND id IN "
                f"({','.join('?' * len(chunk))})",
                [trace_id, *chunk],
            ):
                try:
                    document = _loads(body)
                except (ValueError, RecursionError):
                    document = {}
                doc = _Doc(doc_id, document if isinstance(document, dict) else {}, received_at, bool(valid))
                doc.revision = doc_revision
                docs.append(doc)
        return docs

    def _remember(self, trace_id: str, docs: List[_Doc]) -> None:
        self.cache[trace_id] = {doc.id: doc for doc in docs}
        self.cache.move_to_end(trace_id)
        while len(self.cache) > _CACHED_TRACES:
            self.cache.popitem(last=False)

    # -- retention ---------------------------------------------------------------------
    def retention(self, max_traces: Optional[int] = None) -> int:
        """Delete traces beyond ``keep_traces`` and older than ``keep_hours`` (at most ``max_traces``)."""
        connection = self.connection
        doomed: List[str] = []
        limit = max_traces if max_traces is not None else -1
        cutoff = None
        if self.keep_hours is not None:
            cutoff = time.time() - self.keep_hours * 3600
            doomed += [
                r[0]
                for r in connection.execute(
                    "SELECT trace_id FROM traces WHERE updated_at < ? ORDER BY updated_at LIMIT ?", (cutoff, limit)
                )
            ]
        if self.keep_traces is not None:
            excess = connection.execute("SELECT count(*) FROM traces").fetchone()[0] - len(doomed) - self.keep_traces
            if excess > 0:
                room = excess if max_traces is None else max(0, min(excess, max_traces - len(doomed)))
                doomed += [
                    r[0]
                    for r in connection.execute(
                        "SELECT trace_id FROM traces ORDER BY updated_at LIMIT ? OFFSET ?", (room, len(doomed))
                    )
                ]
        if not doomed and cutoff is None:
            return 0
        connection.execute("BEGIN IMMEDIATE")
        try:
            if cutoff is not None:
                connection.execute("DELETE FROM documents WHERE trace_id = '' AND received_at < ?", (cutoff,))
            rollups = _Rollups()
            gone: List[Tuple[str, str, Any, str]] = []
            for chunk in _chunks(doomed):
                marks = ",".join("?" * len(chunk))
                for trace_id, annotations, graph in connection.execute(
                    f"SELECT trace_id, annotations, graph FROM traces WHERE trace_id IN ({marks})", chunk
                ):
                    if graph:
                        rollups.add(json.loads(graph), -1)
                    if annotations:
                        gone.extend((key, kind, value, trace_id) for key, kind, value in json.loads(annotations))
                connection.execute(f"DELETE FROM documents WHERE trace_id IN ({marks})", chunk)
                connection.execute(f"DELETE FROM traces WHERE trace_id IN ({marks})", chunk)
            if gone:
                connection.executemany(
                    "DELETE FROM annotations WHERE key = ? AND kind = ? AND value = ? AND trace_id = ?", gone
                )
            rollups.write(connection)
            connection.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        for trace_id in doomed:
            self.cache.pop(trace_id, None)
        return len(doomed)

    def close(self, optimize: bool) -> None:
        try:
            if optimize:
                self.connection.execute("PRAGMA optimize")
            self.connection.close()
        except sqlite3.Error:
            pass


def _chunks(values: List[Any], size: int = 500) -> Iterator[List[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# ---------------------------------------------------------------- the writer process
# Messages are pickles behind a 4-byte length. To the writer: ("write", items), ("retention",
# max_traces), ("close",). From it: ("written", count, stored, messages), ("failed", count, error, messages),
# ("waiting", error) while it retries, ("retention", deleted, error).
_LENGTH = struct.Struct("<I")


def _send(stream: IO[bytes], message: Tuple[Any, ...]) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _receive(stream: IO[bytes]) -> Optional[Tuple[Any, ...]]:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        return None
    message = pickle.loads(payload)
    return message if isinstance(message, tuple) else None


def _writer_process(path: str, keep_traces: Optional[int], keep_hours: Optional[float], busy_timeout: float) -> int:
    """The writer process's main loop: batches from stdin, answers on stdout."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when to stop (it sends
    # "close", or its end of the pipe closes).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    out_lock = threading.Lock()

    def answer(message: Tuple[Any, ...]) -> None:
        with out_lock:
            try:
                _send(sink, message)
            except (OSError, ValueError):  # the store's process is gone: nobody to tell; stdin will end too
                pass

    while True:
        try:
            writer = _Writer(path, keep_traces, keep_hours, busy_timeout)
        except (StoreError, sqlite3.Error) as exc:
            if not _retryable(exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc):
                answer(("fatal", str(exc)))
                return 1
            answer(("waiting", f"{exc if isinstance(exc, StoreError) else explain(path, exc)}; retrying"))
            time.sleep(_RETRY_AFTER)
        else:
            break
    # The writer's objects hold no reference cycles worth a collector pass after every few hundred
    # allocations (which, with the cache of recent traces, cost a third of the time): collect now and
    # then instead.
    gc.disable()
    batches = 0
    # Unbounded here: the store bounds what is in flight (queued, in the pipe or here) as a whole.
    inbox: "queue.Queue[Optional[Tuple[Any, ...]]]" = queue.Queue()

    def read() -> None:
        while True:
            message = _receive(source)
            inbox.put(message)
            if message is None or message[0] == "close":
                return

    threading.Thread(target=read, name="otel-xray-store-inbox", daemon=True).start()
    last_retention = 0.0
    while True:
        try:
            message = inbox.get(timeout=0.05)
        except queue.Empty:
            message = ("tick",)
            if batches:
                gc.collect()
                batches = 0
        if message is None or message[0] == "close":
            break
        if message[0] == "write":
            # What else has arrived goes in the same transaction (a commit per small batch would make
            # the writer slower the more it keeps up).
            items = list(message[1])
            messages = 1
            while len(items) < BATCH_SIZE:
                try:
                    following = inbox.get_nowait()
                except queue.Empty:
                    break
                if following is None or following[0] != "write":
                    inbox.queue.appendleft(following)  # handled next (only this thread takes from the inbox)
                    break
                items.extend(following[1])
                messages += 1
            batches += 1
            if batches % 64 == 0:
                gc.collect()
            while True:
                try:
                    stored = writer.write(items)
                except Exception as exc:
                    if _retryable(exc):
                        answer(("waiting", f"{explain(path, exc)}; {len(items)} document(s) waiting, retrying"))
                        time.sleep(_RETRY_AFTER)
                        continue
                    answer(("failed", len(items), f"{len(items)} document(s) not stored: {explain(path, exc)}", messages))
                else:
                    answer(("written", len(items), stored, messages))
                break
        elif message[0] == "retention":
            try:
                answer(("retention_done", writer.retention(message[1]), None))
            except Exception as exc:
                answer(("retention_done", 0, f"retention: {explain(path, exc)}"))
            continue
        if (writer.keep_traces is not None or writer.keep_hours is not None) and time.monotonic() - last_retention >= _RETENTION_EVERY:
            last_retention = time.monotonic()
            try:
                deleted = writer.retention(_RETENTION_CHUNK)
            except Exception as exc:
                answer(("retention", 0, f"retention: {explain(path, exc)}"))
            else:
                if deleted:
                    answer(("retention", deleted, None))
    writer.close(optimize=True)
    answer(("closed",))
    return 0


# ---------------------------------------------------------------- the store
class TraceStore:
    """Stores documents in SQLite at ``path`` (``":memory:"`` for a private in-memory database).

    ``submit`` never blocks; ``flush`` waits for what was submitted to be written.
    Raises :class:`StoreError` when the file is not a usable database. ``writer``:
    ``"process"`` (the default for a file), or ``"thread"`` (always for ``:memory:``).
    """

    def __init__(
        self,
        path: str = ":memory:",
        keep_traces: Optional[int] = None,
        keep_hours: Optional[float] = None,
        queue_limit: int = QUEUE_LIMIT,
        busy_timeout: float = 2.0,
        queue_bytes: int = QUEUE_BYTES,
        writer: Optional[str] = None,
    ) -> None:
        if keep_traces is not None and keep_traces < 1:
            raise ValueError("keep_traces must be at least 1")
        if keep_hours is not None and keep_hours <= 0:
            raise ValueError("keep_hours must be positive")
        self.path = path
        self.keep_traces = keep_traces
        self.keep_hours = keep_hours
        self._memory = path == ":memory:"
        self._busy_timeout = busy_timeout
        self._queue_limit = queue_limit
        self._queue_bytes = queue_bytes
        self._queue: Deque[_Item] = collections.deque()
        self._stats = StoreStats()
        self._stats_lock = threading.Lock()
        self._done = threading.Condition(self._stats_lock)
        self._wake = threading.Condition(threading.Lock())
        self._in_flight_bytes = 0
        self._version = 0
        self._db_lock = threading.RLock()  # held for every use of the writing connection (thread mode)
        self._local = threading.local()
        self._readers: List[sqlite3.Connection] = []
        self._stop = threading.Event()
        self._closed = False
        self._last_retention = 0.0
        self._retention_answers: "queue.Queue[Tuple[int, Optional[str]]]" = queue.Queue()
        self._sent_weights: Deque[int] = collections.deque()  # bytes of each batch sent to the process
        self._answers_thread: Optional[threading.Thread] = None
        self._final = False  # closed, and every document accounted for
        self._stop_deadline = math.inf
        if not self._memory:
            directory = os.path.dirname(os.path.abspath(path))
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory for {path}: {exc}") from exc
        # The schema is made (and a corrupted or locked file found) here, before anything is queued.
        connection = open_database(path, write=True, busy_timeout=busy_timeout)
        self._upgrade(connection)
        self._writer: Optional[_Writer] = None
        self._process: Optional["subprocess.Popen[bytes]"] = None
        mode = writer or ("thread" if self._memory else "process")
        if mode == "process" and not self._memory:
            connection.close()
            self._process = self._start_process()
        if self._process is None:
            self._writer = _Writer(path, keep_traces, keep_hours, busy_timeout, connection)
        self._sender = threading.Thread(target=self._run, name="otel-xray-store", daemon=True)
        self._sender.start()

    def _upgrade(self, connection: sqlite3.Connection) -> None:
        """Store again the documents of a database of the first layout (once, before anything else)."""
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'documents_v1'").fetchall():
            return
        writer = _Writer(self.path, None, None, self._busy_timeout, connection)
        last = 0
        while True:
            rows = connection.execute(
                "SELECT rowid, body, verdict, size, received_at, format FROM documents_v1 WHERE rowid > ? "
                "ORDER BY rowid LIMIT ?", (last, BATCH_SIZE)
            ).fetchall()
            if not rows:
                break
            items: List[_Item] = []
            for rowid, body, verdict, size, received_at, format_ in rows:
                found = json.loads(verdict) if verdict else {}
                items.append((body, None, found.get("errors") or None, found.get("warnings") or None, size,
                              received_at, format_))
                last = rowid
            writer.write(items)
        connection.execute("DROP TABLE documents_v1")

    def _start_process(self) -> Optional["subprocess.Popen[bytes]"]:
        """The writer process, or None where one cannot be started (the store then writes in a thread)."""
        if not sys.executable:
            return None
        from ..config import child_process_environment

        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        environment = child_process_environment(pythonpath_first=package_root)
        arguments = [self.path, repr(self.keep_traces), repr(self.keep_hours), repr(self._busy_timeout)]
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "otel_xray.daemon.store", "--writer", *arguments],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment,
            )
        except OSError:
            return None
        self._answers_thread = threading.Thread(
            target=self._answers, args=(process,), name="otel-xray-store-answers", daemon=True
        )
        self._answers_thread.start()
        return process

    # -- connections ---------------------------------------------------------
    def _explain(self, exc: BaseException) -> str:
        return explain(self.path, exc)

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A connection for queries: this thread's own (WAL readers never block the writer)."""
        if self._memory:
            assert self._writer is not None
            with self._db_lock:
                yield self._writer.connection
            return
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = open_database(self.path, write=False, busy_timeout=self._busy_timeout)
            self._local.connection = connection
            with self._stats_lock:
                self._readers.append(connection)
        yield connection

    # -- ingestion -------------------------------------------------------------
    def submit(
        self,
        document: Any,
        verdict: Verdict,
        size: int = 0,
        received_at: Optional[float] = None,
        format: str = "json",  # noqa: A002 - the daemon's name for it
        body: Any = None,
    ) -> bool:
        """Queue one document for storing; False (and counted as dropped) when the queue is full.

        ``body``: the document's JSON text or bytes as received, stored as they are (else the
        document is encoded).
        """
        received_at = time.time() if received_at is None else received_at
        if self._process is not None:
            if body is None:
                body = _dumps(document)
            # What the writer needs from the document, taken here where it is already parsed: the writer
            # process, the busier of the two, need not parse it again (what it cannot key, it parses).
            trace_id, doc_id = _key(document)
            try:
                document = (
                    (trace_id, doc_id, "end_time" in document, _Doc(doc_id, document, received_at, not verdict.errors).state())
                    if doc_id else None
                )
            except Exception:  # a value no JSON document holds (a Python caller's): the writer parses the body
                document = None
        weight = len(body) if body is not None else 0
        item: _Item = (body, document, verdict.errors or None, verdict.warnings or None, size, received_at, format)
        stats = self._stats
        with self._stats_lock:
            stats.submitted += 1
            if (
                stats.submitted - stats.stored - stats.duplicates - stats.dropped - stats.failed > self._queue_limit
                or self._in_flight_bytes + weight > self._queue_bytes
                or self._closed
            ):
                stats.dropped += 1
                self._done.notify_all()
                return False
            self._in_flight_bytes += weight
            self._queue.append(item)
            idle = len(self._queue) == 1
        if idle:
            with self._wake:
                self._wake.notify()
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far has been written (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._done:
            target = self._stats.submitted
            while self._accounted() < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._sender.is_alive():
                    return False
                self._done.wait(min(remaining, 0.1))
        return True

    def _accounted(self) -> int:
        s = self._stats
        return s.stored + s.duplicates + s.dropped + s.failed

    def _take(self) -> List[_Item]:
        batch: List[_Item] = []
        popleft = self._queue.popleft
        try:
            while len(batch) < BATCH_SIZE:
                batch.append(popleft())
        except IndexError:
            pass
        return batch

    def _run(self) -> None:
        """The sender: batches from the queue to the writer (this thread's, or the process's)."""
        while True:
            batch = self._take()
            if not batch:
                if self._stop.is_set():
                    break
                with self._wake:
                    if not self._queue:
                        self._wake.wait(0.05)
                if self._writer is not None:
                    self._retention_tick()
                continue
            if self._process is not None:
                # Blocks while the process is busy with the batch before: meanwhile the queue gathers the next.
                self._sent_weights.append(sum(len(item[0]) for item in batch))
                try:
                    assert self._process.stdin is not None
                    with self._db_lock:
                        _send(self._process.stdin, ("write", batch))
                except (OSError, ValueError) as exc:  # the process is gone
                    self._sent_weights.pop()
                    self._finished(batch, 0, f"{len(batch)} document(s) not stored: the writer process ended ({exc})",
                                   failed=True)
                continue
            self._write_here(batch)
        if self._process is not None:
            try:
                assert self._process.stdin is not None
                with self._db_lock:
                    _send(self._process.stdin, ("close",))
                self._process.stdin.close()
            except (OSError, ValueError):
                pass

    def _write_here(self, batch: List[_Item]) -> None:
        assert self._writer is not None
        while True:
            try:
                with self._db_lock:
                    stored = self._writer.write(batch)
            except Exception as exc:
                if _retryable(exc) and not (self._stop.is_set() and time.monotonic() > self._stop_deadline):
                    with self._done:
                        self._stats.last_error = f"{self._explain(exc)}; {len(batch)} document(s) waiting, retrying"
                    time.sleep(_RETRY_AFTER)
                    continue
                self._finished(batch, 0, f"{len(batch)} document(s) not stored: {self._explain(exc)}", failed=True)
            else:
                self._finished(batch, stored, None)
            return

    def _finished(self, batch: Sequence[_Item], stored: int, error: Optional[str], failed: bool = False) -> None:
        weight = sum(len(item[0]) for item in batch if item[0] is not None)
        with self._done:
            if self._final:
                return
            self._in_flight_bytes -= weight
            if failed:
                self._stats.failed += len(batch)
            else:
                self._stats.stored += stored
                self._stats.duplicates += len(batch) - stored
                self._stats.batches += 1
                self._version += 1
            self._stats.last_error = error
            self._done.notify_all()

    def _answers(self, process: "subprocess.Popen[bytes]") -> None:
        """Reads what the writer process says; its batches are answered in the order they were sent."""
        assert process.stdout is not None
        while True:
            message = _receive(process.stdout)
            if message is None:
                break
            kind = message[0]
            if kind in ("written", "failed"):
                count = message[1]
                batch_weight = 0
                for _ in range(message[3]):  # the "write" messages this answers
                    batch_weight += self._sent_weights.popleft() if self._sent_weights else 0
                with self._done:
                    if self._final:
                        continue
                    self._in_flight_bytes -= batch_weight
                    if kind == "failed":
                        self._stats.failed += count
                        self._stats.last_error = message[2]
                    else:
                        self._stats.stored += message[2]
                        self._stats.duplicates += count - message[2]
                        self._stats.batches += 1
                        self._stats.last_error = None
                        self._version += 1
                    self._done.notify_all()
            elif kind == "waiting":
                with self._done:
                    self._stats.last_error = message[1]
            elif kind in ("retention", "retention_done"):
                with self._done:
                    if message[1]:
                        self._stats.deleted_traces += message[1]
                        self._version += 1
                    if message[2]:
                        self._stats.last_error = message[2]
                if kind == "retention_done":
                    self._retention_answers.put((message[1], message[2]))
            elif kind == "fatal":
                with self._done:
                    self._stats.last_error = message[1]
        # The process ended: whatever it had not answered for is lost.
        with self._done:
            lost = self._stats.submitted - self._accounted() - len(self._queue)
            if lost > 0 and not self._closed and not self._final:
                self._stats.failed += lost
                code = process.poll()
                self._stats.last_error = f"{lost} document(s) not stored: the writer process ended (exit code {code})"
            self._done.notify_all()

    # -- retention ---------------------------------------------------------------
    def _retention_tick(self) -> None:
        if self.keep_traces is None and self.keep_hours is None:
            return
        now = time.monotonic()
        if now - self._last_retention < _RETENTION_EVERY:
            return
        self._last_retention = now
        try:
            self.enforce_retention(max_traces=_RETENTION_CHUNK)
        except sqlite3.Error as exc:
            with self._done:
                self._stats.last_error = f"retention: {self._explain(exc)}"

    def enforce_retention(self, max_traces: Optional[int] = None) -> int:
        """Delete traces beyond ``keep_traces`` and older than ``keep_hours`` (at most ``max_traces``)."""
        if self._writer is not None:
            with self._db_lock:
                deleted = self._writer.retention(max_traces)
            with self._done:
                self._stats.deleted_traces += deleted
                if deleted:
                    self._version += 1
            return deleted
        assert self._process is not None and self._process.stdin is not None
        with self._db_lock:
            _send(self._process.stdin, ("retention", max_traces))
        deleted, error = self._retention_answers.get(timeout=120)
        if error is not None:
            raise sqlite3.OperationalError(error)
        return deleted

    # -- lifecycle -----------------------------------------------------------------
    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (for up to ``timeout`` seconds), then close the database.

        What could not be written in that time is counted as failed, with a reason.
        """
        if self._final:
            return
        self._stop_deadline = time.monotonic() + timeout
        self.flush(timeout)
        with self._done:
            self._closed = True  # submit() refuses from now on
        self._stop.set()
        with self._wake:
            self._wake.notify()
        self._sender.join(timeout=max(0.0, self._stop_deadline - time.monotonic()) + 1)
        if self._process is not None:
            try:
                self._process.wait(timeout=max(1.0, self._stop_deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._answers_thread is not None:
                self._answers_thread.join(timeout=5)
            for stream in (self._process.stdin, self._process.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
        with self._done:
            self._final = True  # from here on, late answers and failures are not counted twice
            self._queue.clear()
            lost = self._stats.submitted - self._accounted()
            if lost > 0:
                self._stats.failed += lost
                self._stats.last_error = f"{lost} document(s) not written before the store was closed"
            self._done.notify_all()
        with self._stats_lock:
            readers, self._readers = self._readers, []
        for connection in readers:
            try:
                connection.close()
            except sqlite3.Error:
                pass
        if self._writer is not None:
            with self._db_lock:
                self._writer.close(optimize=not self._memory)

    def __enter__(self) -> "TraceStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------
    def stats(self) -> StoreStats:
        with self._stats_lock:
            snapshot = StoreStats(**self._stats.__dict__)
            snapshot.pending = snapshot.submitted - self._accounted()
        return snapshot

    @property
    def version(self) -> int:
        """Grows whenever stored data changes (for live views)."""
        return self._version

    def query(self, sql: str, params: Sequence[Any] = ()) -> List[Dict[str, Any]]:
        with self._reader() as connection:
            cursor = connection.execute(sql, params)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, values)) for values in cursor.fetchall()]

    def query_rows(self, sql: str, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
        """Like :meth:`query`, as tuples."""
        with self._reader() as connection:
            return connection.execute(sql, params).fetchall()

    def trace_count(self) -> int:
        return int(self.query("SELECT count(*) AS n FROM traces")[0]["n"])

    def document_count(self) -> int:
        return int(self.query("SELECT count(*) AS n FROM documents")[0]["n"])

    def documents(self, trace_ids: Sequence[str]) -> Dict[str, List[StoredDocument]]:
        """Stored documents of these traces, in start-time order."""
        found: Dict[str, List[StoredDocument]] = {}
        for chunk in _chunks(list(trace_ids)):
            rows = self.query(
                f"SELECT trace_id, id, body, valid, verdict, received_at, size, format FROM documents "
                f"WHERE trace_id IN ({','.join('?' * len(chunk))}) ORDER BY trace_id, start_time, id",
                chunk,
            )
            for row in rows:
                found.setdefault(row["trace_id"], []).append(_stored(row))
        return found

    def all_documents(self, limit: Optional[int] = None) -> List[StoredDocument]:
        """Every stored document (oldest trace first), e.g. for ``otel-xray show --db``."""
        rows = self.query(
            "SELECT d.trace_id, d.id, d.body, d.valid, d.verdict, d.received_at, d.size, d.format FROM documents d "
            "LEFT JOIN traces t ON t.trace_id = d.trace_id ORDER BY t.start_time IS NULL, t.start_time, d.trace_id, "
            "d.start_time LIMIT ?",
            (-1 if limit is None else limit,),
        )
        return [_stored(row) for row in rows]

    def trace_rows(
        self,
        start: Optional[float] = None,
        end: Optional[float] = None,
        filter_expression: Optional[str] = None,
        time_range: str = "Event",
        limit: int = 100,
        after: Optional[Tuple[float, str]] = None,
        newest_first: bool = True,
    ) -> List[Dict[str, Any]]:
        """Rows of the ``traces`` table matching a filter expression (raises FilterError), paged by key."""
        condition, params = compile_filter(filter_expression)
        column = "t.trace_epoch" if time_range == "TraceId" else "t.start_time"
        where = [condition]
        values: List[Any] = list(params)
        if start is not None:
            where.append(f"{column} >= ?")
            values.append(start)
        if end is not None:
            where.append(f"{column} <= ?")
            values.append(end)
        order = "DESC" if newest_first else "ASC"
        if after is not None:
            comparison = "<" if newest_first else ">"
            where.append(f"(t.start_time, t.trace_id) {comparison} (?, ?)")
            values.extend(after)
        values.append(limit)
        sql = (
            f"SELECT {', '.join('t.' + c.strip() for c in TRACE_COLUMNS.split(','))} FROM traces t "
            f"WHERE {' AND '.join(where)} ORDER BY t.start_time {order}, t.trace_id {order} LIMIT ?"
        )
        return self.query(sql, values)

    def annotations(self, trace_ids: Sequence[str]) -> Dict[str, List[Tuple[str, Any, str]]]:
        """``{trace ID: [(key, value, kind)]}``; kind is ``s``, ``n`` or ``b``."""
        found: Dict[str, List[Tuple[str, Any, str]]] = {}
        for chunk in _chunks(list(trace_ids)):
            for row in self.query(
                f"SELECT trace_id, annotations FROM traces WHERE trace_id IN ({','.join('?' * len(chunk))}) "
                "AND annotations IS NOT NULL",
                chunk,
            ):
                found[row["trace_id"]] = [(key, value, kind) for key, kind, value in json.loads(row["annotations"])]
        return found

    def trace_services(self, trace_ids: Sequence[str]) -> Dict[str, List[Tuple[str, str]]]:
        """``{trace ID: [(name, type)]}``: the service-map nodes in each trace."""
        wanted: Dict[str, List[int]] = {}
        for chunk in _chunks(list(trace_ids)):
            for row in self.query(
                f"SELECT trace_id, nodes FROM traces WHERE trace_id IN ({','.join('?' * len(chunk))})", chunk
            ):
                wanted[row["trace_id"]] = [int(n) for n in row["nodes"].split("|") if n]
        names = self.node_names({n for ids in wanted.values() for n in ids})
        return {trace: [names[n] for n in ids if n in names] for trace, ids in wanted.items()}

    def node_names(self, node_ids: Iterable[int]) -> Dict[int, Tuple[str, str]]:
        """``{node ID: (name, type)}`` of service-map nodes."""
        found: Dict[int, Tuple[str, str]] = {}
        for chunk in _chunks(sorted(set(node_ids))):
            for row in self.query(f"SELECT node_id, name, type FROM nodes WHERE node_id IN ({','.join('?' * len(chunk))})", chunk):
                found[row["node_id"]] = (row["name"], row["type"])
        return found


def _stored(row: Dict[str, Any]) -> StoredDocument:
    verdict = json.loads(row["verdict"]) if row["verdict"] else {}
    return StoredDocument(
        trace_id=row["trace_id"],
        id=row["id"],
        body=row["body"],
        valid=bool(row["valid"]),
        errors=list(verdict.get("errors") or []),
        warnings=list(verdict.get("warnings") or []),
        received_at=row["received_at"],
        size=row["size"],
        format=row["format"],
    )


def _main(argv: Sequence[str]) -> int:
    if len(argv) == 5 and argv[0] == "--writer":
        import ast

        path, keep_traces, keep_hours, busy_timeout = argv[1], *(ast.literal_eval(a) for a in argv[2:])
        return _writer_process(path, keep_traces, keep_hours, busy_timeout)
    print("usage: python -m otel_xray.daemon.store --writer PATH KEEP_TRACES KEEP_HOURS BUSY_TIMEOUT "
          "(started by otel-xray; not a command of its own)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
