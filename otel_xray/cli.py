"""The ``otel-xray`` command: ``daemon``, ``validate``, ``show``, ``demo``, ``console`` and ``import``."""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import sys
from typing import Any, Iterator, Optional, Sequence, Tuple

from .config import parse_daemon_address
from .version import __version__

__all__ = ["main", "load_documents"]


def load_documents(text: str) -> Iterator[Tuple[str, Any, Optional[str]]]:
    """Documents in a file, whatever its form: ``(label, document, rejection reason)``.

    Accepted: the daemon's JSONL output (records with a ``document``), raw
    datagrams (a header line followed by a document line), one JSON document
    per line, or a single JSON document or array of documents.
    """
    from .daemon.validate import parse_datagram

    stripped = text.strip()
    if not stripped:
        return
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        yield "document", whole.get("document", whole), None
        return
    if isinstance(whole, list):
        for index, doc in enumerate(whole):
            yield f"item {index + 1}", doc, None
        return
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        number = index + 1
        index += 1
        if not line:
            continue
        try:
            parsed = json.loads(line)
        except ValueError as exc:
            yield f"line {number}", None, f"not JSON ({exc})"
            continue
        if isinstance(parsed, dict) and "format" in parsed and "version" in parsed and len(parsed) == 2:
            body = lines[index] if index < len(lines) else ""
            index += 1
            document, reason, _ = parse_datagram((line + "\n" + body).encode("utf-8"))
            yield f"line {number}", document, reason
        elif isinstance(parsed, dict) and "document" in parsed:
            yield f"line {number}", parsed["document"], None
        elif isinstance(parsed, dict) and "raw" in parsed and "document" not in parsed:
            yield f"line {number}", None, "; ".join(parsed.get("errors") or ["malformed datagram"])
        else:
            yield f"line {number}", parsed, None


def _listen_address(value: str) -> Tuple[str, int]:
    address = parse_daemon_address(value, "--listen")
    return address.udp


def _cmd_daemon(args: argparse.Namespace) -> int:
    from .daemon.server import LocalDaemon
    from .daemon.show import document_line

    host, port = _listen_address(args.listen)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not args.allow_remote:
        print(f"otel-xray daemon: {host} is not a loopback address; add --allow-remote to listen on it", file=sys.stderr)
        return 2
    from .daemon.store import StoreError
    from .local_xray import console_url, open_store, store_routes, store_summary

    if args.console and args.no_db:
        print("otel-xray daemon: --console shows the store; it cannot go with --no-db", file=sys.stderr)
        return 2
    store = None
    if not args.no_db:
        try:
            store = open_store(args)
        except StoreError as exc:
            print(f"otel-xray daemon: {exc}", file=sys.stderr)
            return 2
    out = open(args.out, "a", encoding="utf-8") if args.out else None

    def on_document(received: Any) -> None:
        if not args.quiet:
            print(document_line(received.document, received.verdict), flush=True)

    def on_api_document(document: Any, verdict: Any, size: int) -> None:
        if not args.quiet:
            print(document_line(document, verdict) + "  (PutTraceSegments)", flush=True)

    routes = store_routes(store, args.console, on_api_document) if store is not None else None

    def on_rejected(reason: str, data: bytes) -> None:
        if not args.quiet:
            print(f"rejected datagram ({len(data)} bytes): {reason}", flush=True)

    try:
        daemon = LocalDaemon(
            host, port, out=out, on_document=on_document, on_rejected=on_rejected, keep=False,
            http_routes=routes, allow_remote=args.allow_remote, store=store,
        )
    except OSError:
        if store is not None:
            store.close()
        raise
    print(f"otel-xray daemon listening on udp {daemon.endpoint}" + (f", writing {args.out}" if args.out else ""), flush=True)
    if store is not None:
        print(f"storing traces in {store.path}; X-Ray API on tcp {daemon.endpoint}", flush=True)
        if args.console:
            print(f"console: {console_url(daemon.address)}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: daemon.request_stop())
    try:
        daemon.serve(duration=args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        daemon.stop()
        if out is not None:
            out.close()
        if store is not None:
            store.close()
            print(store_summary(store), flush=True)
    rejected = sum(daemon.rejected.values())
    print(
        f"received {daemon.document_count} document(s) holding {daemon.entity_count} segment(s) and subsegment(s): "
        f"{daemon.document_count - daemon.invalid_count} valid, {daemon.invalid_count} invalid; {rejected} malformed datagram(s)"
        + (f" {dict(daemon.rejected)}" if rejected else ""),
        flush=True,
    )
    return 0


def _store_documents(args: argparse.Namespace, command: str) -> Optional[Any]:
    """Stored documents for ``show``/``validate --db``, or None after printing why not."""
    from .daemon.store import StoreError, TraceStore

    try:
        store = TraceStore(args.db)
    except StoreError as exc:
        print(f"otel-xray {command}: {exc}", file=sys.stderr)
        return None
    try:
        if getattr(args, "trace", None):
            return store.documents([args.trace]).get(args.trace, [])
        return store.all_documents()
    finally:
        store.close()


def _cmd_validate(args: argparse.Namespace) -> int:
    from .daemon.validate import validate_document

    if not args.files and not args.db:
        print("otel-xray validate: give FILE(s), or --db PATH", file=sys.stderr)
        return 2
    bad = total = 0
    if args.db:
        stored = _store_documents(args, "validate")
        if stored is None:
            return 2
        for doc in stored:
            total += 1
            verdict = validate_document(doc.document)
            label = f"{args.db} {doc.trace_id} {doc.id}"
            if not verdict.valid:
                bad += 1
                print(f"{label}: INVALID: " + "; ".join(verdict.errors))
            elif args.verbose or verdict.warnings:
                print(f"{label}: valid" + "".join(f"\n  warning: {w}" for w in verdict.warnings))
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: cannot read: {exc}", file=sys.stderr)
            return 2
        for label, document, reason in load_documents(text):
            total += 1
            if reason is not None:
                bad += 1
                print(f"{path} {label}: INVALID: {reason}")
                continue
            verdict = validate_document(document)
            if not verdict.valid:
                bad += 1
                print(f"{path} {label}: INVALID: " + "; ".join(verdict.errors))
            elif args.verbose or verdict.warnings:
                print(f"{path} {label}: valid" + "".join(f"\n  warning: {w}" for w in verdict.warnings))
    print(f"{total} document(s), {total - bad} valid, {bad} invalid")
    return 1 if bad else 0


def _cmd_show(args: argparse.Namespace) -> int:
    from .daemon.show import render_traces
    from .daemon.validate import validate_document

    if args.db:
        stored = _store_documents(args, "show")
        if stored is None:
            return 2
        items = [(doc.document, validate_document(doc.document)) for doc in stored]
    elif args.file:
        with open(args.file, encoding="utf-8") as handle:
            items = [(doc, validate_document(doc)) for _, doc, reason in load_documents(handle.read()) if reason is None]
    else:
        print("otel-xray show: give a FILE, or --db PATH", file=sys.stderr)
        return 2
    print(render_traces(items))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(out_path=args.out, db_path=args.db, console=args.console)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-xray", description="OpenTelemetry to AWS X-Ray, with no collector.")
    parser.add_argument("--version", action="version", version=f"otel-xray {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    daemon = commands.add_parser("daemon", help="stand in for the X-Ray daemon: receive, validate, show, store")
    daemon.add_argument("--listen", default="127.0.0.1:2000", help="UDP address to listen on (default 127.0.0.1:2000)")
    daemon.add_argument("--out", metavar="FILE.jsonl", help="append each document and its verdict to this file")
    daemon.add_argument("--quiet", action="store_true", help="print only the summary")
    daemon.add_argument("--duration", type=float, help="stop after this many seconds")
    daemon.add_argument("--allow-remote", action="store_true", help="allow listening on a non-loopback address")
    _add_daemon_store_arguments(daemon)
    daemon.set_defaults(run=_cmd_daemon)

    validate = commands.add_parser("validate", help="check documents offline against X-Ray's rules")
    validate.add_argument("files", nargs="*", metavar="FILE")
    validate.add_argument("--db", metavar="PATH", help="validate the documents in this trace database")
    validate.add_argument("-v", "--verbose", action="store_true", help="also list valid documents")
    validate.set_defaults(run=_cmd_validate)

    show = commands.add_parser("show", help="print the traces in a file written by 'daemon --out' as trees")
    show.add_argument("file", metavar="FILE", nargs="?")
    show.add_argument("--db", metavar="PATH", help="show the traces in this trace database")
    show.add_argument("--trace", metavar="TRACE_ID", help="with --db: only this trace")
    show.set_defaults(run=_cmd_show)

    demo = commands.add_parser("demo", help="trace a small workload into an in-process daemon and show it")
    demo.add_argument("--out", metavar="FILE.jsonl", help="also store what the daemon received")
    demo.add_argument("--db", metavar="PATH", help="the trace database to store into (default: demo.db in the cache directory)")
    demo.add_argument("--console", action="store_true", help="then keep the console open until Ctrl-C")
    demo.set_defaults(run=_cmd_demo)
    _add_store_commands(commands)
    return parser


def _add_daemon_store_arguments(daemon: argparse.ArgumentParser) -> None:
    from .local_xray import add_store_arguments

    add_store_arguments(daemon)
    daemon.add_argument("--no-db", action="store_true", help="store nothing (no database, no X-Ray API on TCP)")
    daemon.add_argument("--console", action="store_true", help="serve the console on the daemon's TCP address")


def _add_store_commands(commands: Any) -> None:
    from .local_xray import add_store_arguments, cmd_console, cmd_import

    console = commands.add_parser("console", help="serve the console (and the X-Ray API) over a trace database")
    add_store_arguments(console, retention=False)
    console.add_argument("--listen", default="127.0.0.1:2000", help="TCP address (default 127.0.0.1:2000)")
    console.add_argument("--allow-remote", action="store_true", help="allow listening on a non-loopback address")
    console.add_argument("--duration", type=float, help="stop after this many seconds")
    console.set_defaults(run=cmd_console)

    importer = commands.add_parser("import", help="load 'aws xray batch-get-traces' output into a trace database")
    importer.add_argument("file", metavar="FILE")
    add_store_arguments(importer, retention=False)
    importer.set_defaults(run=cmd_import)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as exc:
        print(f"otel-xray: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
