"""The ``otel-xray`` command: ``daemon``, ``validate``, ``show``, ``demo`` and ``sampling explain``."""

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
    sampling = _sampling_service(args)
    out = open(args.out, "a", encoding="utf-8") if args.out else None

    def on_document(received: Any) -> None:
        if not args.quiet:
            print(document_line(received.document, received.verdict), flush=True)

    def on_rejected(reason: str, data: bytes) -> None:
        if not args.quiet:
            print(f"rejected datagram ({len(data)} bytes): {reason}", flush=True)

    daemon = LocalDaemon(
        host, port, out=out, on_document=on_document, on_rejected=on_rejected, keep=False,
        http_routes=_sampling_routes(sampling), allow_remote=args.allow_remote,
    )
    print(f"otel-xray daemon listening on udp {daemon.endpoint}" + (f", writing {args.out}" if args.out else ""), flush=True)
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
    rejected = sum(daemon.rejected.values())
    print(
        f"received {daemon.document_count} document(s) holding {daemon.entity_count} segment(s) and subsegment(s): "
        f"{daemon.document_count - daemon.invalid_count} valid, {daemon.invalid_count} invalid; {rejected} malformed datagram(s)"
        + (f" {dict(daemon.rejected)}" if rejected else ""),
        flush=True,
    )
    return 0


def _sampling_service(args: argparse.Namespace) -> Any:
    """The sampling API's rules: ``--sampling-rules FILE``, else X-Ray's Default rule (1/s + 5%)."""
    from .daemon.sampling_api import SamplingRulesService, format_statistics
    from .sampling.rules import load_rules_file

    rules = load_rules_file(args.sampling_rules) if args.sampling_rules else ()

    def on_statistics(client_id: str, documents: Any) -> None:
        if not args.quiet:
            print(format_statistics(client_id, documents), flush=True)

    return SamplingRulesService(rules, on_statistics=on_statistics)


def _sampling_routes(service: Any) -> Any:
    from .daemon.sampling_api import sampling_routes

    return sampling_routes(service)


def _print_sampling_rules(service: Any, endpoint: str, source: Optional[str]) -> None:
    """With ``--sampling-rules``, the rules served (without it, X-Ray's Default rule, silently)."""
    if not source:
        return
    print(
        f"sampling API on tcp {endpoint} (POST /GetSamplingRules, /SamplingTargets): "
        f"{len(service.rules)} rule(s) from {source}, in the order they are tried:",
        flush=True,
    )
    for rule in service.rules:
        print(f"  {rule.priority:>5}  {rule.rule_name}: {_rule_matchers(rule)} -> {rule.describe()}", flush=True)


def _rule_matchers(rule: Any) -> str:
    fields = [
        ("ServiceName", rule.service_name), ("ServiceType", rule.service_type), ("Host", rule.host),
        ("HTTPMethod", rule.http_method), ("URLPath", rule.url_path), ("ResourceARN", rule.resource_arn),
    ]
    shown = [f"{name} {value!r}" for name, value in fields if value != "*"]
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
            print(f"otel-xray sampling explain: {exc}", file=sys.stderr)
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
    print(format_explanation(rules, facts, source))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .daemon.validate import validate_document

    bad = total = 0
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

    with open(args.file, encoding="utf-8") as handle:
        items = [(doc, validate_document(doc)) for _, doc, reason in load_documents(handle.read()) if reason is None]
    print(render_traces(items))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    if getattr(args, "sampling", False):
        from .demo_sampling import run_sampling_demo

        return run_sampling_demo()
    from .demo import run_demo

    return run_demo(out_path=args.out)


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
    daemon.add_argument(
        "--sampling-rules", metavar="FILE",
        help="sampling rules to serve on TCP (the API's SamplingRule list, or an aws-xray-sdk local rules file); "
        "default: X-Ray's Default rule, 1 request/s + 5%%",
    )
    daemon.set_defaults(run=_cmd_daemon)

    validate = commands.add_parser("validate", help="check documents offline against X-Ray's rules")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("-v", "--verbose", action="store_true", help="also list valid documents")
    validate.set_defaults(run=_cmd_validate)

    show = commands.add_parser("show", help="print the traces in a file written by 'daemon --out' as trees")
    show.add_argument("file", metavar="FILE")
    show.set_defaults(run=_cmd_show)

    demo = commands.add_parser("demo", help="trace a small workload into an in-process daemon and show it")
    demo.add_argument("--out", metavar="FILE.jsonl", help="also store what the daemon received")
    demo.add_argument("--sampling", action="store_true", help="show X-Ray sampling rules deciding over a few hundred requests")
    demo.set_defaults(run=_cmd_demo)

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


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as exc:
        print(f"otel-xray: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
