"""The ``otel-xray`` commands around the trace store: ``console``, ``import``, and the store options.

Kept apart from :mod:`otel_xray.cli` so that the command-line module only
declares options and calls these.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .daemon.http_api import DaemonHttpServer, HttpRoutes
from .daemon.store import StoreError, TraceStore, default_db_path
from .daemon.validate import Verdict, validate_document


def add_store_arguments(parser: argparse.ArgumentParser, retention: bool = True) -> None:
    parser.add_argument(
        "--db", metavar="PATH",
        help=f"the trace database (SQLite; default {default_db_path()}; ':memory:' keeps nothing)",
    )
    if retention:
        parser.add_argument("--keep-traces", type=int, metavar="N", help="keep at most N traces (the oldest go first)")
        parser.add_argument("--keep-hours", type=float, metavar="H", help="delete traces not updated for H hours")


def open_store(args: argparse.Namespace) -> TraceStore:
    """The store named by ``--db`` (raises StoreError or ValueError with a message for the user)."""
    keep_traces = getattr(args, "keep_traces", None)
    keep_hours = getattr(args, "keep_hours", None)
    if keep_traces is not None and keep_traces < 1:
        raise ValueError("--keep-traces must be at least 1")
    if keep_hours is not None and keep_hours <= 0:
        raise ValueError("--keep-hours must be positive")
    return TraceStore(args.db or default_db_path(), keep_traces=keep_traces, keep_hours=keep_hours)


def open_store_or_say(args: argparse.Namespace, command: str) -> Optional[TraceStore]:
    """:func:`open_store`, or ``None`` after saying on stderr why the store cannot be opened."""
    from .daemon.show import escape_controls

    try:
        return open_store(args)
    except StoreError as exc:
        print(escape_controls(f"otel-xray {command}: {exc}"), file=sys.stderr)
        return None


def store_routes(
    store: TraceStore, console: bool, on_document: Optional[Callable[[Dict[str, Any], Verdict, int], None]] = None
) -> HttpRoutes:
    """The X-Ray API over ``store`` and, with ``console``, the console's pages."""
    from .daemon.xray_api import XRayApi

    routes = HttpRoutes().merge(XRayApi(store, on_document).routes())
    if console:
        from .console import console_routes

        routes.merge(console_routes(store))
    return routes


def console_url(address: Tuple[str, int]) -> str:
    host, port = address[0], address[1]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def store_summary(store: TraceStore) -> str:
    stats = store.stats()
    text = (
        f"store {store.path}: {stats.stored} document(s) written, {stats.duplicates} duplicate(s), "
        f"{store.trace_count()} trace(s) kept"
    )
    if stats.deleted_traces:
        text += f", {stats.deleted_traces} deleted by retention"
    if stats.dropped or stats.failed:
        text += f"; NOT STORED: {stats.dropped} dropped (queue full), {stats.failed} failed"
    if stats.last_error:
        text += f"; last error: {stats.last_error}"
    return text


def loopback_or_refuse(host: str, allow_remote: bool, command: str) -> bool:
    """Whether ``command`` may listen on ``host``: a loopback address, or ``--allow-remote``; else says why not."""
    import ipaddress

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not allow_remote:
        print(f"otel-xray {command}: {host} is not a loopback address; add --allow-remote to listen on it", file=sys.stderr)
        return False
    return True


def cmd_console(args: argparse.Namespace) -> int:
    """``otel-xray console``: the console and the X-Ray API over a store, without receiving UDP."""
    from .config import parse_daemon_address

    host, port = parse_daemon_address(args.listen, "--listen").udp
    if not loopback_or_refuse(host, args.allow_remote, "console"):
        return 2
    store = open_store_or_say(args, "console")
    if store is None:
        return 2
    try:
        server = DaemonHttpServer(host, port, store_routes(store, console=True), allow_remote=args.allow_remote)
    except OSError as exc:
        store.close()
        print(f"otel-xray console: cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --listen",
              file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    print(f"otel-xray console for {store.path} ({store.trace_count()} trace(s)): {console_url(server.address)}", flush=True)
    try:
        stop.wait(args.duration) if args.duration is not None else stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        store.close()
    return 0


def load_batch_get_traces(text: str) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Documents from ``aws xray batch-get-traces`` output: ``(documents, problems)``.

    Accepts the CLI's JSON (``{"Traces": [...], "UnprocessedTraceIds": [...]}``),
    several such pages one after another or in an array. Segments that X-Ray
    inferred (``"inferred": true``) are left out: the local store infers its own.
    """
    problems: List[str] = []
    pages: List[Any] = []
    decoder = json.JSONDecoder()
    position = 0
    text = text.strip()
    while position < len(text):
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError as exc:
            raise ValueError(f"not the JSON output of 'aws xray batch-get-traces': {exc}") from None
        pages.extend(value if isinstance(value, list) else [value])
        position = end
        while position < len(text) and text[position].isspace():
            position += 1
    documents: List[Dict[str, Any]] = []
    for page in pages:
        if not isinstance(page, dict) or not isinstance(page.get("Traces"), list):
            raise ValueError("expected the output of 'aws xray batch-get-traces': an object with \"Traces\"")
        for missing in page.get("UnprocessedTraceIds") or []:
            problems.append(f"trace {missing} was not returned by X-Ray (UnprocessedTraceIds)")
        for trace in page["Traces"]:
            trace_id = trace.get("Id") if isinstance(trace, dict) else None
            segments = trace.get("Segments") if isinstance(trace, dict) else None
            if not isinstance(segments, list):
                problems.append(f"trace {trace_id}: no Segments list")
                continue
            for segment in segments:
                raw = segment.get("Document") if isinstance(segment, dict) else None
                if isinstance(raw, dict):
                    document: Any = raw
                elif isinstance(raw, str):
                    try:
                        document = json.loads(raw)
                    except ValueError as exc:
                        problems.append(f"trace {trace_id} segment {segment.get('Id')}: Document is not JSON ({exc})")
                        continue
                else:
                    problems.append(f"trace {trace_id}: a segment without a Document")
                    continue
                if isinstance(document, dict) and document.get("inferred") is True:
                    continue
                documents.append(document)
    return documents, problems


def cmd_import(args: argparse.Namespace) -> int:
    """``otel-xray import FILE``: load traces pulled from AWS into the store."""
    try:
        with open(args.file, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"otel-xray import: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        documents, problems = load_batch_get_traces(text)
    except ValueError as exc:
        print(f"otel-xray import: {args.file}: {exc}", file=sys.stderr)
        return 2
    store = open_store_or_say(args, "import")
    if store is None:
        return 2
    invalid = 0
    now = time.time()
    try:
        for document in documents:
            verdict = validate_document(document)
            invalid += not verdict.valid
            store.submit(document, verdict, received_at=now, format="import")
        store.flush(timeout=60)
        traces = {d.get("trace_id") for d in documents if isinstance(d, dict)}
        for problem in problems:
            print(f"warning: {problem}")
        print(
            f"imported {len(documents)} document(s) of {len(traces)} trace(s) into {store.path}"
            + (f"; {invalid} of them break X-Ray's rules (see the console's Lint view)" if invalid else "")
        )
        stats = store.stats()
        if stats.failed or stats.dropped:
            print(f"otel-xray import: {stats.failed + stats.dropped} document(s) not stored: {stats.last_error}",
                  file=sys.stderr)
            return 1
    finally:
        store.close()
    return 0
