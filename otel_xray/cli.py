"""The ``otel-xray`` command: ``daemon``, ``validate``, ``show``, ``demo``, ``console``, ``import`` and ``sampling explain``.

Internal: the command line is its interface (see ``otel_xray.__all__`` for the
public API).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any, Iterator, List, NamedTuple, Optional, Sequence, TextIO, Tuple

from .config import parse_daemon_address
from .version import __version__


class _Entry(NamedTuple):
    label: str
    document: Any
    reason: Optional[str]
    #: a record of a datagram the daemon rejected (a log line, not a broken file)
    rejected_datagram: bool = False


def load_documents(text: str) -> Iterator[Tuple[str, Any, Optional[str]]]:
    """Documents in a file, whatever its form: ``(label, document, rejection reason)``.

    Accepted: the daemon's JSONL output (records with a ``document``), raw
    datagrams (a header line followed by a document line), one JSON document
    per line, or a single JSON document or array of documents.
    """
    for entry in _entries(text):
        yield entry.label, entry.document, entry.reason


def _entries(text: str) -> Iterator[_Entry]:
    from .daemon.validate import parse_datagram

    stripped = text.strip()
    if not stripped:
        return
    try:
        whole = json.loads(stripped)
    except (ValueError, RecursionError):
        whole = None
    if isinstance(whole, dict):
        yield _Entry("document", whole.get("document", whole), None)
        return
    if isinstance(whole, list):
        for index, doc in enumerate(whole):
            yield _Entry(f"item {index + 1}", doc, None)
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
        except (ValueError, RecursionError) as exc:
            yield _Entry(f"line {number}", None, f"not JSON ({exc})")
            continue
        if isinstance(parsed, dict) and "format" in parsed and "version" in parsed and len(parsed) == 2:
            body = lines[index] if index < len(lines) else ""
            index += 1
            document, reason, _ = parse_datagram((line + "\n" + body).encode("utf-8", "surrogatepass"))
            yield _Entry(f"line {number}", document, reason)
        elif isinstance(parsed, dict) and "document" in parsed:
            yield _Entry(f"line {number}", parsed["document"], None)
        elif isinstance(parsed, dict) and "raw" in parsed and "document" not in parsed:
            errors = parsed.get("errors")
            reason = "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else "malformed datagram"
            yield _Entry(f"line {number}", None, reason, rejected_datagram=True)
        else:
            yield _Entry(f"line {number}", parsed, None)


def _say(text: str, file: Optional[TextIO] = None, flush: bool = False) -> None:
    """Print a line of span data: every control character shown as a visible escape."""
    from .daemon.show import escape_controls

    print(escape_controls(text), file=file if file is not None else sys.stdout, flush=flush)


def _output_closed() -> int:
    """The reader of stdout went away (``| head``): stop quietly, with the usual SIGPIPE status."""
    try:  # what is still buffered must not raise again when Python flushes it at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 128 + 13  # as a shell reports a process ended by SIGPIPE


def _read_text(path: str, command: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        _say(f"otel-xray {command}: cannot read {path}: {exc}", file=sys.stderr)
        return None


def _size_argument(text: str) -> int:
    from .daemon.outfile import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count_argument(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def _listen_address(value: str) -> Tuple[str, int]:
    address = parse_daemon_address(value, "--listen")
    return address.udp


def _cmd_daemon(args: argparse.Namespace) -> int:
    from .daemon.outfile import RotatingTextFile
    from .daemon.server import LocalDaemon
    from .daemon.show import document_line

    from .local_xray import console_url, loopback_or_refuse, open_store_or_say, store_routes, store_summary

    host, port = _listen_address(args.listen)
    if not loopback_or_refuse(host, args.allow_remote, "daemon"):
        return 2
    sampling = _sampling_service(args)
    if args.console and args.no_db:
        _say("otel-xray daemon: --console shows the store; it cannot go with --no-db", file=sys.stderr)
        return 2
    store = None
    if not args.no_db:
        store = open_store_or_say(args, "daemon")
        if store is None:
            return 2
    try:
        out = RotatingTextFile(args.out, args.out_max_bytes, args.out_backups) if args.out else None
    except OSError as exc:
        _say(f"otel-xray daemon: cannot open {args.out}: {exc}", file=sys.stderr)
        if store is not None:
            store.close()
        return 2
    output_closed = False

    def say(line: str) -> None:
        nonlocal output_closed
        if args.quiet or output_closed:
            return
        try:
            _say(line, flush=True)
        except BrokenPipeError:  # `otel-xray daemon | head`: stop, as a pipeline expects
            output_closed = True
            _output_closed()
            daemon.request_stop()

    def on_document(received: Any) -> None:
        say(document_line(received.document, received.verdict))

    def on_api_document(document: Any, verdict: Any, size: int) -> None:
        if not args.quiet:
            say(document_line(document, verdict) + "  (PutTraceSegments)")

    routes = store_routes(store, args.console, on_api_document) if store is not None else None

    def on_rejected(reason: str, data: bytes) -> None:
        say(f"rejected datagram ({len(data)} bytes): {reason}")

    try:
        daemon = LocalDaemon(
            host, port, out=out, on_document=on_document, on_rejected=on_rejected, keep=False,
            http_routes=_sampling_routes(sampling) if routes is None else routes.merge(_sampling_routes(sampling)),
            allow_remote=args.allow_remote, store=store,
        )
    except OSError:
        if store is not None:
            store.close()
        raise
    _say(f"otel-xray daemon listening on udp {daemon.endpoint}" + (f", writing {args.out}" if args.out else ""), flush=True)
    if store is not None:
        _say(f"storing traces in {store.path}; X-Ray API on tcp {daemon.endpoint}", flush=True)
        if args.console:
            _say(f"console: {console_url(daemon.address)}", flush=True)
    _print_sampling_rules(sampling, daemon.endpoint, args.sampling_rules)
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
            if not output_closed:
                _say(store_summary(store), flush=True)
    if output_closed:
        return _output_closed()
    rejected = sum(daemon.rejected.values())
    notes = []
    if out is not None and out.rotations:
        notes.append(f"{args.out} rotated {out.rotations} time(s), keeping {args.out_backups} older file(s)")
    if daemon.write_errors:
        notes.append(f"{daemon.write_errors} record(s) not written to {args.out} (last: {daemon.last_write_error})")
    if daemon.callback_errors:
        notes.append(f"{daemon.callback_errors} document(s) not printed (last: {daemon.last_callback_error})")
    _say(
        f"received {daemon.document_count} document(s) holding {daemon.entity_count} segment(s) and subsegment(s): "
        f"{daemon.document_count - daemon.invalid_count} valid, {daemon.invalid_count} invalid; {rejected} malformed datagram(s)"
        + (f" {dict(daemon.rejected)}" if rejected else "")
        + "".join(f"; {note}" for note in notes),
        flush=True,
    )
    return 0


def _store_documents(args: argparse.Namespace, command: str) -> Optional[Any]:
    """Stored documents for ``show``/``validate --db``, or None after printing why not."""
    from .daemon.store import StoreError, TraceStore

    try:
        store = TraceStore(args.db, writer="thread")  # only reads: no writer process
    except StoreError as exc:
        _say(f"otel-xray {command}: {exc}", file=sys.stderr)
        return None
    try:
        if getattr(args, "trace", None):
            return store.documents([args.trace]).get(args.trace, [])
        return store.all_documents()
    finally:
        store.close()


def _sampling_service(args: argparse.Namespace) -> Any:
    """The sampling API's rules: ``--sampling-rules FILE``, else X-Ray's Default rule (1/s + 5%)."""
    from .daemon.sampling_api import SamplingRulesService, format_statistics
    from .sampling.rules import load_rules_file

    rules = load_rules_file(args.sampling_rules) if args.sampling_rules else ()

    def on_statistics(client_id: str, documents: Any) -> None:
        if not args.quiet:
            try:
                _say(format_statistics(client_id, documents), flush=True)  # client data: escaped
            except BrokenPipeError:  # the reader went away; the daemon's own printing stops it
                pass

    return SamplingRulesService(rules, on_statistics=on_statistics)


def _sampling_routes(service: Any) -> Any:
    from .daemon.sampling_api import sampling_routes

    return sampling_routes(service)


def _print_sampling_rules(service: Any, endpoint: str, source: Optional[str]) -> None:
    """With ``--sampling-rules``, the rules served (without it, X-Ray's Default rule, silently)."""
    if not source:
        return
    _say(
        f"sampling API on tcp {endpoint} (POST /GetSamplingRules, /SamplingTargets): "
        f"{len(service.rules)} rule(s) from {source}, in the order they are tried:",
        flush=True,
    )
    for rule in service.rules:
        _say(f"  {rule.priority:>5}  {rule.rule_name}: {_rule_matchers(rule)} -> {rule.describe()}", flush=True)


def _rule_matchers(rule: Any) -> str:
    shown = [f"{name} {value!r}" for name, value in rule.matchers().items() if value != "*"]
    shown += [f"{key}={value!r}" for key, value in rule.attributes]
    if rule.version != 1:
        shown.append(f"Version {rule.version} (ignored by samplers)")
    return ", ".join(shown) or "everything"


def _cmd_sampling_explain(args: argparse.Namespace) -> int:
    from .sampling.client import SamplingApiError, SamplingClient
    from .sampling.explain import format_explanation, parse_attributes, request_facts
    from .sampling.rules import load_rules_file, parse_rule

    if args.rules:
        rules = load_rules_file(args.rules)
        source = args.rules
        if len(rules) > len(load_rules_file(args.rules, with_default=False)):
            source += " (and X-Ray's Default rule, which the service always has)"
    else:
        from .config import parse_sampler_endpoint

        host, port = parse_sampler_endpoint(args.daemon, "--daemon")
        client = SamplingClient(host, port, timeout=5.0)
        try:
            records = client.get_sampling_rules()
        except SamplingApiError as exc:
            _say(f"otel-xray sampling explain: {exc}", file=sys.stderr)
            return 2
        rules = tuple(parse_rule(record, index, strict=False) for index, record in enumerate(records))
        source = client.url
    facts = request_facts(
        service=args.service,
        service_type=args.service_type,
        resource_arn=args.resource_arn,
        method=args.method,
        path=args.path,
        host=args.host,
        url=args.url,
        attributes=parse_attributes(args.attr or ()),
    )
    for line in format_explanation(rules, facts, source).splitlines():
        _say(line)
    return 0


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
            bad += not _report_verdict(f"{args.db} {doc.trace_id} {doc.id}", validate_document(doc.document), args.verbose)
    for path in args.files:
        text = _read_text(path, "validate")
        if text is None:
            return 2
        for label, document, reason in load_documents(text):
            total += 1
            if reason is not None:
                bad += 1
                _say(f"{path} {label}: INVALID: {reason}")
                continue
            bad += not _report_verdict(f"{path} {label}", validate_document(document), args.verbose)
    print(f"{total} document(s), {total - bad} valid, {bad} invalid")
    return 1 if bad else 0


def _report_verdict(label: str, verdict: Any, verbose: bool) -> bool:
    """Print one document's verdict (a valid one only with ``verbose`` or warnings); whether it is valid."""
    if not verdict.valid:
        _say(f"{label}: INVALID: " + "; ".join(verdict.errors))
    elif verbose or verdict.warnings:
        _say(f"{label}: valid")
        for warning in verdict.warnings:
            _say(f"  warning: {warning}")
    return bool(verdict.valid)


def _cmd_show(args: argparse.Namespace) -> int:
    """Trees of every document in the files; what cannot be shown is named on stderr, and the exit is 1."""
    from .daemon.show import render_traces
    from .daemon.validate import Verdict, validate_document

    items: List[Tuple[Any, Verdict]] = []
    summaries: List[str] = []
    failed = False
    if args.db:
        stored = _store_documents(args, "show")
        if stored is None:
            return 2
        for doc in stored:
            verdict = validate_document(doc.document)
            failed = failed or not verdict.valid
            items.append((doc.document, verdict))
    elif not args.files:
        _say("otel-xray show: give FILE(s), or --db PATH", file=sys.stderr)
        return 2
    for path in args.files:
        text = _read_text(path, "show")
        if text is None:
            return 2
        invalid = unreadable = rejected = 0
        for entry in _entries(text):
            if entry.rejected_datagram:
                rejected += 1
            elif entry.reason is not None or not isinstance(entry.document, dict):
                unreadable += 1
                _say(f"{path} {entry.label}: not shown: {entry.reason or 'not a JSON object'}", file=sys.stderr)
            else:
                verdict = validate_document(entry.document)
                invalid += not verdict.valid
                items.append((entry.document, verdict))
        notes = [f"{invalid} invalid document(s)"] if invalid else []
        notes += [f"{unreadable} entry(ies) not shown"] if unreadable else []
        if notes:
            failed = True
            summaries.append(f"otel-xray show: {path}: {', '.join(notes)}; 'otel-xray validate {path}' lists the errors")
        if rejected:
            summaries.insert(0, f"otel-xray show: {path}: {rejected} rejected datagram(s) recorded, not traces")
    for line in render_traces(items).splitlines():
        _say(line)
    sys.stdout.flush()
    for summary in summaries:
        _say(summary, file=sys.stderr)
    return 1 if failed else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    if getattr(args, "sampling", False):
        from .demo_sampling import run_sampling_demo

        return run_sampling_demo()
    from .demo import run_demo

    return run_demo(out_path=args.out, db_path=args.db, console=args.console)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-xray", description="OpenTelemetry to AWS X-Ray, with no collector.")
    parser.add_argument("--version", action="version", version=f"otel-xray {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    daemon = commands.add_parser("daemon", help="stand in for the X-Ray daemon: receive, validate, show, store")
    daemon.add_argument("--listen", default="127.0.0.1:2000", help="UDP address to listen on (default 127.0.0.1:2000)")
    daemon.add_argument("--out", metavar="FILE.jsonl", help="append each document and its verdict to this file (JSON lines)")
    daemon.add_argument(
        "--out-max-bytes",
        metavar="SIZE",
        type=_size_argument,
        default="64M",
        help="rotate the --out file before it grows past SIZE: FILE.jsonl becomes FILE.jsonl.1 (FILE.jsonl.1 becomes "
        "FILE.jsonl.2, and so on) and a new FILE.jsonl is begun; bytes, or with K, M or G; 0 for no cap (default 64M)",
    )
    daemon.add_argument(
        "--out-backups",
        metavar="N",
        type=_count_argument,
        default=4,
        help="rotated files to keep, FILE.jsonl.1 to FILE.jsonl.N; older ones are deleted (default 4)",
    )
    daemon.add_argument("--quiet", action="store_true", help="print only the summary")
    daemon.add_argument("--duration", type=float, help="stop after this many seconds")
    daemon.add_argument("--allow-remote", action="store_true", help="allow listening on a non-loopback address")
    _add_daemon_store_arguments(daemon)
    daemon.add_argument(
        "--sampling-rules", metavar="FILE",
        help="sampling rules to serve on TCP (the API's SamplingRule list, or an aws-xray-sdk local rules file); "
        "default: X-Ray's Default rule, 1 request/s + 5%%",
    )
    daemon.set_defaults(run=_cmd_daemon)

    validate = commands.add_parser("validate", help="check documents offline against X-Ray's rules")
    validate.add_argument("files", nargs="*", metavar="FILE")
    validate.add_argument("--db", metavar="PATH", help="validate the documents in this trace database")
    validate.add_argument("-v", "--verbose", action="store_true", help="also list valid documents")
    validate.set_defaults(run=_cmd_validate)

    show = commands.add_parser("show", help="print the traces in files written by 'daemon --out', or in a trace database, as trees")
    show.add_argument("files", nargs="*", metavar="FILE", help="read in order: rotated files oldest first (FILE.jsonl.2 FILE.jsonl.1 FILE.jsonl)")
    show.add_argument("--db", metavar="PATH", help="show the traces in this trace database")
    show.add_argument("--trace", metavar="TRACE_ID", help="with --db: only this trace")
    show.set_defaults(run=_cmd_show)

    demo = commands.add_parser("demo", help="trace a small workload into an in-process daemon and show it")
    demo.add_argument("--out", metavar="FILE.jsonl", help="also store what the daemon received")
    demo.add_argument("--db", metavar="PATH", help="the trace database to store into (default: demo.db in the cache directory)")
    demo.add_argument("--console", action="store_true", help="then keep the console open until Ctrl-C")
    demo.add_argument("--sampling", action="store_true", help="show X-Ray sampling rules deciding over a few hundred requests")
    demo.set_defaults(run=_cmd_demo)
    _add_store_commands(commands)

    sampling = commands.add_parser("sampling", help="X-Ray sampling rules")
    sampling_commands = sampling.add_subparsers(dest="sampling_command", required=True)
    explain = sampling_commands.add_parser(
        "explain", help="which rule a request matches, and why the others do not",
        description="Which sampling rule a request matches, and why each other rule does not.",
    )
    source = explain.add_mutually_exclusive_group(required=True)
    source.add_argument("--rules", metavar="FILE", help="a rules file (the API's SamplingRule list, or an aws-xray-sdk local rules file)")
    source.add_argument("--daemon", metavar="HOST:PORT", help="fetch the rules from a running daemon's TCP address")
    explain.add_argument("--service", default="", help="the service name (resource service.name)")
    explain.add_argument("--service-type", default="", help="AWS::ECS::Container, … or a cloud.platform such as aws_ecs")
    explain.add_argument("--resource-arn", default="", help="the resource ARN (an ECS container or Lambda function ARN)")
    explain.add_argument("--method", help="HTTP method")
    explain.add_argument("--path", help="URL path (default /)")
    explain.add_argument("--host", help="host name")
    explain.add_argument("--url", help="a full URL: its path and host, unless given")
    explain.add_argument("--attr", action="append", metavar="KEY=VALUE", help="a span attribute (repeatable)")
    explain.set_defaults(run=_cmd_sampling_explain)
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
        status: int = args.run(args)
        return status
    except ValueError as exc:
        print(f"otel-xray: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _output_closed()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
