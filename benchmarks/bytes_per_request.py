"""Bytes per request: otel-xray's documents against aws-xray-sdk's, for the same requests to the same app.

The side-by-side app of ``tests/parity`` (a Flask service calling SQLite, a
second traced service over HTTP and DynamoDB on moto's server) runs once under
aws-xray-sdk and once under ``opentelemetry-instrument`` with the otel_xray
distro, each into a local daemon; every document the daemon receives is
counted against the request whose trace it belongs to. Sizes are the JSON
documents (each datagram also carries the same 30-byte header line).

    python -m benchmarks.bytes_per_request
"""

from __future__ import annotations

import sys
from typing import Dict, List, Tuple

FULL_REQUEST = "orders"  # the request that exercises everything: 2 services, SQL, HTTP, DynamoDB, an exception


def measure() -> Dict[str, Dict[str, Tuple[int, int]]]:
    """``{tracer: {request label: (document bytes, documents)}}``, plus ``"all"``."""
    from tests.parity import harness

    results: Dict[str, Dict[str, Tuple[int, int]]] = {}
    with harness.backends() as shared:
        for tracer in harness.TRACERS:
            run = harness.run(tracer, shared)
            label_of_trace = _label_of_trace(run)
            totals: Dict[str, List[int]] = {}
            for received in run.received:
                label = label_of_trace.get(str(received.document.get("trace_id")), "unattributed")
                for key in (label, "all"):
                    entry = totals.setdefault(key, [0, 0])
                    entry[0] += received.size
                    entry[1] += 1
            results[tracer] = {label: (size, count) for label, (size, count) in totals.items()}
    return results


def _label_of_trace(run: object) -> Dict[str, str]:
    """Each request's trace ID, from the segment that served it (its URL path)."""
    import urllib.parse

    from otel_xray.daemon.server import flatten

    labels: Dict[str, str] = {}
    paths = {urllib.parse.urlsplit(request.path).path: request.label for request in run.requests}  # type: ignore[attr-defined]
    for document in run.documents():  # type: ignore[attr-defined]
        for entity in flatten(document):
            url = ((entity.get("http") or {}).get("request") or {}).get("url")
            if entity.get("type") != "subsegment" and entity.get("name") == "parity-shop" and isinstance(url, str):
                label = paths.get(urllib.parse.urlsplit(url).path)
                if label is not None:
                    labels[str(entity.get("trace_id"))] = label
    return labels


def main() -> int:
    try:
        import aws_xray_sdk  # noqa: F401
        import flask  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as missing:
        print(f"\nBytes per request: skipped ({missing.name} is not installed; `make bench` installs the test extras)")
        return 0
    results = measure()
    sdk, ours = results["xray-sdk"], results["otel"]
    print("\nBytes per request: otel-xray documents vs aws-xray-sdk's, same app, same requests (tests/parity)")
    print(f"  {'request':26s} {'aws-xray-sdk':>20s} {'otel-xray':>20s}  ratio")
    labels = [label for label in sdk if label != "all"] + ["all"]
    for label in labels:
        sdk_bytes, sdk_docs = sdk.get(label, (0, 0))
        our_bytes, our_docs = ours.get(label, (0, 0))
        ratio = f"{our_bytes / sdk_bytes:.2f}x" if sdk_bytes else "-"
        print(f"  {label:26s} {sdk_bytes:>8,d} B in {sdk_docs:>2d} doc(s) {our_bytes:>8,d} B in {our_docs:>2d} doc(s)  {ratio}")
    sdk_bytes, _ = sdk[FULL_REQUEST]
    our_bytes, _ = ours[FULL_REQUEST]
    print(f"  the full request ({FULL_REQUEST}): {our_bytes:,d} B vs {sdk_bytes:,d} B, otel-xray/aws-xray-sdk = {our_bytes / sdk_bytes:.2f}")
    from . import targets

    ratios = {label: ours.get(label, (0, 0))[0] / sdk[label][0] for label in labels if label != "all" and sdk[label][0]}
    worst = max(ratios, key=ratios.__getitem__)
    targets.record_value("3", f"bytes per request, Flask app: the full request ({FULL_REQUEST})", our_bytes / sdk_bytes, 1.0)
    targets.record_value("3", "bytes per request, Flask app: all requests together", ours["all"][0] / sdk["all"][0], 1.0)
    targets.record_value("3", f"bytes per request, Flask app: the worst request ({worst})", ratios[worst], 1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
