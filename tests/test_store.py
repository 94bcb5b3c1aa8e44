"""The trace store: what is kept, replaced, merged, deleted, and what happens when the database fails."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from otel_xray.daemon.graph import service_graph
from otel_xray.daemon.server import LocalDaemon
from otel_xray.daemon.store import StoreError, TraceStore
from otel_xray.daemon.validate import validate_document
from otel_xray.daemon.xray_api import merge_trace_documents

from .conftest import cli_run
from .test_wire_udp import free_udp_port
from .xray_fixtures import segment, send, subsegment, trace_id


def put(store, *documents):
    for document in documents:
        store.submit(document, validate_document(document))
    assert store.flush()


@pytest.fixture
def store():
    with TraceStore(":memory:") as opened:
        yield opened


def graph(store):
    return service_graph(store, 0, time.time() + 3600)


def edges(store):
    """(caller, callee) names of the service map's edges."""
    services = graph(store)["Services"]
    names = {s["ReferenceId"]: s["Name"] for s in services}
    return {(s["Name"], names[e["ReferenceId"]]) for s in services for e in s["Edges"]}


def trace_graph(store, trace):
    """What one trace adds to the service map, from its row: ([(source, destination, ...)], nodes, edges)."""
    row = store.query("SELECT nodes, edges, graph FROM traces WHERE trace_id = ?", (trace,))[0]
    return json.loads(row["graph"] or "[]"), row["nodes"], row["edges"]


def assert_rollups_match(store):
    """The sums the service map reads (per minute and per hour) agree with what the stored traces add."""
    contributions = [c for row in store.query("SELECT graph FROM traces WHERE graph IS NOT NULL") for c in json.loads(row["graph"])]
    for table in ("graph_minutes", "graph_tens", "graph_hours"):
        sums = store.query(f"SELECT total(total) AS n, total(faults) AS f FROM {table}")[0]
        assert (sums["n"], sums["f"]) == (len(contributions), sum(c[4] for c in contributions)), table
        assert store.query(f"SELECT count(*) AS n FROM {table} WHERE total <= 0")[0]["n"] == 0, table


def test_a_subsegment_sent_on_its_own_joins_its_trace_and_its_segment(store):
    trace = trace_id(1)
    start = time.time() - 1
    root = segment(trace, "a" * 16, start=start, subsegments=[subsegment("b" * 16, "work", start + 0.01)])
    late = subsegment("c" * 16, "payments.local", start + 0.02, type="subsegment", trace_id=trace,
                      parent_id="b" * 16, namespace="remote")
    put(store, late)  # before its segment: it waits for it
    put(store, root)
    assert store.query("SELECT documents FROM traces WHERE trace_id = ?", (trace,))[0]["documents"] == 2
    assert ("checkout", "payments.local") in edges(store)
    merged = merge_trace_documents(store.documents([trace])[trace])
    assert len(merged) == 1
    work = merged[0]["Document"]["subsegments"][0]
    assert [s["name"] for s in work["subsegments"]] == ["payments.local"]


@pytest.mark.parametrize("order", ["in-progress first", "completed first"])
def test_an_in_progress_document_is_replaced_by_its_completed_version_never_the_reverse(store, order):
    trace = trace_id(2)
    done = segment(trace, "a" * 16, status=500)
    running = {k: v for k, v in done.items() if k not in ("end_time", "http", "fault", "error", "throttle")}
    running["in_progress"] = True
    put(store, *((running, done) if order == "in-progress first" else (done, running)))
    stored = store.documents([trace])[trace]
    assert len(stored) == 1 and stored[0].document == done
    row = store.query("SELECT in_progress, fault, http_status FROM traces WHERE trace_id = ?", (trace,))[0]
    assert row == {"in_progress": 0, "fault": 1, "http_status": 500}
    assert_rollups_match(store)


def test_in_progress_then_completed_in_separate_batches(store):
    trace = trace_id(3)
    done = segment(trace, "a" * 16)
    running = dict({k: v for k, v in done.items() if k != "end_time"}, in_progress=True)
    put(store, running)
    assert store.query("SELECT in_progress FROM traces")[0]["in_progress"] == 1
    put(store, done)
    assert store.query("SELECT in_progress FROM traces")[0]["in_progress"] == 0
    assert store.document_count() == 1


def test_the_same_document_twice_is_stored_once(store):
    document = segment(trace_id(4), "a" * 16, annotations={"order": "42"})
    put(store, document)
    put(store, document, json.loads(json.dumps(document)))
    stats = store.stats()
    assert (stats.stored, stats.duplicates) == (1, 2)
    assert store.document_count() == 1
    assert len(store.query("SELECT * FROM annotations")) == 1
    assert len(trace_graph(store, document["trace_id"])[0]) == 2  # the node and the client's edge to it
    assert_rollups_match(store)


def test_invalid_documents_are_stored_with_their_verdict(store):
    document = segment(trace_id(5), "a" * 16, name="bad,name")
    put(store, document)
    (stored,) = store.documents([document["trace_id"]])[document["trace_id"]]
    assert not stored.valid and "InvalidName" in stored.errors[0]


def test_retention_by_count_deletes_the_oldest_traces_and_everything_derived(tmp_path):
    with TraceStore(str(tmp_path / "t.db"), keep_traces=3) as store:
        ids = [trace_id(100 + index) for index in range(5)]
        for index, trace in enumerate(ids):
            put(store, segment(trace, "a" * 16, annotations={"n": index}))
        store.enforce_retention()
        kept = sorted(row["trace_id"] for row in store.query("SELECT trace_id FROM traces"))
        assert kept == ids[2:]
        for table in ("documents", "annotations"):
            left = {r["trace_id"] for r in store.query(f"SELECT DISTINCT trace_id FROM {table}")}
            assert left <= set(kept), table
        assert graph(store)["Services"][1]["SummaryStatistics"]["TotalCount"] == 3  # checkout, in the 3 kept
        assert store.stats().deleted_traces == 2
        assert_rollups_match(store)


def test_retention_by_age_runs_in_the_writer_without_being_asked(tmp_path):
    with TraceStore(str(tmp_path / "t.db"), keep_hours=1) as store:
        old = segment(trace_id(200), "a" * 16)
        store.submit(old, validate_document(old), received_at=time.time() - 7200)
        fresh = segment(trace_id(201), "b" * 16)
        put(store, fresh)
        deadline = time.monotonic() + 10
        while store.trace_count() > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [r["trace_id"] for r in store.query("SELECT trace_id FROM traces")] == [fresh["trace_id"]]


def test_a_restart_with_the_same_database_keeps_the_data(tmp_path):
    path = str(tmp_path / "traces.db")
    document = segment(trace_id(6), "a" * 16)
    with TraceStore(path) as store:
        put(store, document)
    with TraceStore(path) as again:
        assert again.documents([document["trace_id"]])[document["trace_id"]][0].document == document
        put(again, document)
        assert again.stats().duplicates == 1


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path):
    path = tmp_path / "traces.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database.*choose another --db"):
        TraceStore(str(path))


def test_the_daemon_command_refuses_a_corrupted_database_with_a_message(tmp_path):
    path = tmp_path / "traces.db"
    path.write_bytes(b"\0garbage" * 1000)
    result = cli_run("daemon", "--listen", f"127.0.0.1:{free_udp_port()}", "--db", str(path), "--duration", "1", text=True)
    assert result.returncode == 2
    assert "not a usable SQLite database" in result.stderr and "Traceback" not in result.stderr


def test_a_database_locked_by_another_process_at_start_is_named(tmp_path):
    path = str(tmp_path / "traces.db")
    TraceStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked by another process"):
            TraceStore(path, busy_timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_while_the_database_is_locked_the_udp_path_goes_on_and_nothing_is_lost(tmp_path):
    path = str(tmp_path / "traces.db")
    store = TraceStore(path, busy_timeout=0.1)
    try:
        with LocalDaemon("127.0.0.1", 0, store=store) as daemon:
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            try:
                for index in range(20):
                    send(daemon.address, segment(trace_id(300 + index), "a" * 16))
                assert daemon.wait_for(20)  # the reader never waits on the disk
                deadline = time.monotonic() + 10
                while "locked" not in (store.stats().last_error or "") and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert "locked by another process" in store.stats().last_error
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert store.flush(timeout=20)
            assert store.trace_count() == 20
            assert store.stats().last_error is None
    finally:
        store.close()


def test_a_full_queue_drops_and_counts_instead_of_blocking():
    with TraceStore(":memory:", queue_limit=1) as store:
        holder_lock = store._db_lock  # hold the writer so that the queue fills up
        with holder_lock:
            results = [store.submit(segment(trace_id(400 + i), "a" * 16), validate_document({})) for i in range(50)]
        assert not all(results)
        assert store.flush()
        stats = store.stats()
        assert stats.dropped == results.count(False) and stats.stored + stats.dropped == 50


def test_a_database_of_the_first_layout_is_stored_again_in_the_new_one(tmp_path):
    path = str(tmp_path / "traces.db")
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript("""
        CREATE TABLE documents (
            trace_id TEXT NOT NULL, id TEXT NOT NULL, parent_id TEXT, is_segment INTEGER NOT NULL,
            name TEXT, origin TEXT, start_time REAL, end_time REAL, in_progress INTEGER NOT NULL,
            fault INTEGER NOT NULL, error INTEGER NOT NULL, throttle INTEGER NOT NULL,
            http_method TEXT, http_url TEXT, http_status INTEGER, user_agent TEXT, client_ip TEXT, user TEXT,
            received_at REAL NOT NULL, valid INTEGER NOT NULL, verdict TEXT, size INTEGER NOT NULL,
            format TEXT NOT NULL, batch INTEGER NOT NULL, body TEXT NOT NULL);
        CREATE UNIQUE INDEX documents_key ON documents (trace_id, id);
        CREATE TABLE entities (trace_id TEXT, doc_id TEXT);
        CREATE TABLE graph_nodes_minutes (minute INTEGER);
        PRAGMA user_version=1;
    """)
    good = segment(trace_id(500), "a" * 16, annotations={"order": "42"})
    bad = segment(trace_id(501), "b" * 16, name="bad,name")
    for document in (good, bad):
        verdict = validate_document(document)
        old.execute(
            "INSERT INTO documents (trace_id, id, is_segment, in_progress, fault, error, throttle, received_at, valid, "
            "verdict, size, format, batch, body) VALUES (?, ?, 1, 0, 0, 0, 0, ?, ?, ?, 10, 'json', 1, ?)",
            (document["trace_id"], document["id"], time.time(), int(verdict.valid),
             json.dumps({"errors": verdict.errors, "warnings": verdict.warnings}) if verdict.errors else None,
             json.dumps(document)),
        )
    old.close()
    with TraceStore(path) as store:
        assert store.trace_count() == 2
        assert store.documents([good["trace_id"]])[good["trace_id"]][0].document == good
        (stored_bad,) = store.documents([bad["trace_id"]])[bad["trace_id"]]
        assert not stored_bad.valid and "InvalidName" in stored_bad.errors[0]
        assert store.annotations([good["trace_id"]]) == {good["trace_id"]: [("order", "42", "s")]}
        tables = {r["name"] for r in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "documents_v1" not in tables and "entities" not in tables


def _multi_document_traces():
    """Traces of several documents each: what the incremental derivation must get right whatever the order."""
    start = time.time() - 30
    first, second, third = trace_id(600), trace_id(601), trace_id(602)
    return [
        # checkout calls inventory (a segment of its own under checkout's remote subsegment) and DynamoDB
        segment(first, "f100000000000001", "checkout", start, 0.2, 200, annotations={"order": "1", "n": 3},
                subsegments=[subsegment("f100000000000002", "inventory.local", start + 0.01, 0.1, namespace="remote"),
                             subsegment("f100000000000003", "DynamoDB", start + 0.12, 0.02, namespace="aws")]),
        segment(first, "f100000000000004", "inventory", start + 0.02, 0.05, 503, parent_id="f100000000000002",
                annotations={"n": 4}),
        # an independent subsegment under a subsegment of another document, then a segment under it
        subsegment("f100000000000005", "payments.remote", start + 0.03, 0.01, type="subsegment", trace_id=first,
                   parent_id="f100000000000004", namespace="remote"),
        segment(first, "f100000000000006", "payments", start + 0.031, 0.008, 429, parent_id="f100000000000005"),
        # in progress, then complete; a parent that never arrives; clock skew against the caller
        dict({k: v for k, v in segment(second, "f200000000000001", "orders", start + 1).items() if k != "end_time"},
             in_progress=True),
        segment(second, "f200000000000001", "orders", start + 1, 0.5, 200,
                subsegments=[subsegment("f200000000000002", "billing.remote", start + 1.1, 0.1, namespace="remote")]),
        segment(second, "f200000000000003", "billing", start + 1.05, 0.2, 200, parent_id="f200000000000002"),
        segment(third, "f300000000000001", "lonely", start + 2, 0.1, 404, parent_id="f3000000000000ff"),
    ]


def _derived_state(store):
    traces = store.query(
        "SELECT trace_id, start_time, end_time, duration, response_time, name, http_status, fault, error, throttle, "
        "any_fault, any_error, any_throttle, in_progress, documents, invalid, nodes, edges, annotations, lint "
        "FROM traces ORDER BY trace_id"
    )
    for row in traces:
        # node IDs depend on the order nodes were first seen: compare names
        names = {n: f"{name}/{kind}" for n, (name, kind) in store.node_names(range(1, 200)).items()}
        row["nodes"] = sorted(names[int(n)] for n in row["nodes"].split("|") if n)
        row["edges"] = sorted(tuple(names[int(x)] for x in e.split(">")) for e in row["edges"].split("|") if e)
        row["lint"] = sorted(json.loads(row["lint"] or "[]"))
    graph_now = graph(store)
    services = sorted(
        (s["Name"], s.get("Type", ""), json.dumps(s.get("SummaryStatistics")), json.dumps(s.get("ResponseTimeHistogram")),
         sorted((e["ReferenceId"] and next(x["Name"] for x in graph_now["Services"] if x["ReferenceId"] == e["ReferenceId"]),
                 json.dumps(e["SummaryStatistics"])) for e in s["Edges"]))
        for s in graph_now["Services"]
    )
    annotations = sorted((r["key"], r["kind"], r["value"], r["trace_id"]) for r in store.query("SELECT * FROM annotations"))
    return traces, services, annotations


@pytest.mark.parametrize("order", ["one batch", "one per batch", "one per batch, reversed", "one per batch, reopened"])
def test_what_is_derived_does_not_depend_on_how_documents_arrive(tmp_path, order):
    documents = _multi_document_traces()
    with TraceStore(":memory:") as reference:
        put(reference, *documents)
        expected = _derived_state(reference)
        assert_rollups_match(reference)
    path = str(tmp_path / "t.db")
    if order == "one batch":
        with TraceStore(path) as store:
            put(store, *documents)
            assert _derived_state(store) == expected
        return
    sequence = list(reversed(documents)) if "reversed" in order else documents
    store = TraceStore(path)
    try:
        for index, document in enumerate(sequence):
            if "reopened" in order and index % 2:  # the writer starts with nothing in its cache
                store.close()
                store = TraceStore(path)
            put(store, document)
        if "reversed" in order:  # the in-progress version came last: it must not replace the completed one
            assert store.query("SELECT in_progress FROM traces WHERE trace_id = ?", (documents[4]["trace_id"],))[0]["in_progress"] == 0
        assert _derived_state(store) == expected
        assert_rollups_match(store)
    finally:
        store.close()


def test_what_the_service_map_and_lint_see_in_a_multi_document_trace(store):
    put(store, *_multi_document_traces())
    assert {("client", "checkout"), ("checkout", "inventory"), ("checkout", "DynamoDB"), ("inventory", "payments"),
            ("client", "orders"), ("orders", "billing"), ("client", "lonely")} <= edges(store)
    assert ("inventory", "payments.remote") not in edges(store)  # a traced service answered that call
    kinds = {finding[0] for row in store.query("SELECT lint FROM traces WHERE lint IS NOT NULL")
             for finding in json.loads(row["lint"])}
    assert kinds == {"orphan", "skew"}


def test_retention_of_part_of_an_hour_keeps_the_service_map_sums_exact(tmp_path):
    with TraceStore(str(tmp_path / "t.db"), keep_traces=2) as store:
        start = time.time() - 600
        for index in range(6):
            put(store, segment(trace_id(700 + index), "a" * 15 + str(index), "svc", start + index * 61, 0.01,
                               500 if index % 2 else 200))
        store.enforce_retention()
        assert store.trace_count() == 2
        assert_rollups_match(store)
        (node,) = [s for s in graph(store)["Services"] if s["Name"] == "svc"]
        assert node["SummaryStatistics"]["TotalCount"] == 2
        assert node["StartTime"] == int((start + 4 * 61) // 60) * 60  # the hour's first minute moved on


def test_the_writer_process_ending_is_reported_and_counted(tmp_path):
    store = TraceStore(str(tmp_path / "t.db"))
    try:
        put(store, segment(trace_id(800), "a" * 16))
        store._process.kill()  # a crash of the writer (a bug, or the OOM killer)
        store._process.wait()
        for index in range(3):
            store.submit(segment(trace_id(801 + index), "a" * 16), validate_document({}))
        assert store.flush(timeout=10)
        stats = store.stats()
        assert (stats.stored, stats.failed) == (1, 3)
        assert "writer process ended" in stats.last_error
    finally:
        store.close()


def test_the_queue_is_bounded_in_bytes_too():
    with TraceStore(":memory:", queue_bytes=10_000) as store:
        body = json.dumps(segment(trace_id(900), "a" * 16, metadata={"default": {"pad": "x" * 4000}}))
        with store._db_lock:  # hold the writer
            results = [store.submit(json.loads(body), validate_document({}), body=body) for _ in range(5)]
        assert results[:2] == [True, True] and results[-1] is False
        assert store.flush()
        stats = store.stats()
        assert stats.dropped == results.count(False) and stats.stored + stats.duplicates + stats.dropped == 5


def test_what_cannot_be_written_before_close_gives_up_is_counted_as_failed():
    import threading

    store = TraceStore(":memory:")
    holding = threading.Event()

    def hold_the_writer():
        with store._db_lock:  # as a disk that does not answer would
            holding.set()
            time.sleep(2.5)

    holder = threading.Thread(target=hold_the_writer)
    holder.start()
    holding.wait()
    for index in range(3):
        store.submit(segment(trace_id(950 + index), "a" * 16), validate_document({}))
    store.close(timeout=0.5)
    holder.join()
    stats = store.stats()
    assert stats.failed == 3 and stats.stored == 0
    assert "not written before the store was closed" in stats.last_error
