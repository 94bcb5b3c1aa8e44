"""The AWS distro's ``OTLPUdpSpanExporter`` as a baseline, in a virtualenv of its own.

aws-opentelemetry-distro pins its own OpenTelemetry SDK, which cannot share a
virtualenv with ours. The benchmark makes ``.venv-bench-adot/`` (gitignored)
on first use with pip, then starts a long-lived process there that records
the benchmark's request (``workload.py``) with that SDK and exports the spans
on command, so that its rounds alternate with ours over a pipe; both send to
a UDP sink on loopback. Where the distro cannot be installed (no network, an
unsupported Python) the caller gets the reason and skips the row.

    python -m benchmarks.adot      # set up the virtualenv and print one round
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Dict, Optional, Tuple

ADOT_REQUIREMENT = "aws-opentelemetry-distro==0.21.0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-bench-adot")
_MARKER = os.path.join(VENV, ".installed")

_CHILD = textwrap.dedent(
    """
    import gc, json, logging, socket, sys, time
    sys.path.insert(0, sys.argv[1])
    from benchmarks.workload import SPANS_PER_TRACE, finished_spans
    from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from amazon.opentelemetry.distro.otlp_udp_exporter import OTLPUdpSpanExporter
    from importlib.metadata import version
    from google.protobuf.internal import api_implementation

    # A datagram over UDP's limit is refused by the kernel and logged as an ERROR per call: not measured.
    logging.getLogger("amazon.opentelemetry.distro.otlp_udp_exporter").disabled = True
    traces, port = int(sys.argv[2]), int(sys.argv[3])
    spans = finished_spans(AwsXRayIdGenerator(), traces)
    exporter = OTLPUdpSpanExporter(endpoint="127.0.0.1:%d" % port)
    print(json.dumps({"spans": len(spans), "distro": version("aws-opentelemetry-distro"),
                      "sdk": version("opentelemetry-sdk"), "protobuf": api_implementation.Type()}), flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        batch = int(command[1])
        chunks = [spans[start:start + batch] for start in range(0, len(spans), batch)]
        if command[0] == "size":
            sizes = [len(encode_spans(chunk).SerializeToString()) for chunk in chunks]
            print(json.dumps({"protobuf_bytes": max(sizes)}), flush=True)
            continue
        failed = 0
        gc.collect()
        start = time.perf_counter()
        for chunk in chunks:
            if exporter.export(chunk).name != "SUCCESS":
                failed += 1
        elapsed = time.perf_counter() - start
        print(json.dumps({"seconds": elapsed, "spans": len(spans), "failed_calls": failed, "calls": len(chunks)}), flush=True)
    """
)


def ensure_virtualenv() -> Tuple[Optional[str], str]:
    """``(python, "")`` of the distro's virtualenv, made on first use; ``(None, reason)`` where it cannot be."""
    python = os.path.join(VENV, "bin", "python")
    if os.path.exists(_MARKER) and os.path.exists(python):
        with open(_MARKER) as handle:
            if handle.read().strip() == ADOT_REQUIREMENT:
                return python, ""
    try:
        if not os.path.exists(python):
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True, capture_output=True, timeout=300)
        print(f"  (installing {ADOT_REQUIREMENT} into {os.path.relpath(VENV, ROOT)}/, once)", flush=True)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", ADOT_REQUIREMENT],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.CalledProcessError as failure:
        detail = (failure.stderr or failure.stdout or "").strip().splitlines()
        return None, f"cannot install {ADOT_REQUIREMENT}: {detail[-1] if detail else failure}"
    except (OSError, subprocess.TimeoutExpired) as failure:
        return None, f"cannot make {VENV}: {failure}"
    with open(_MARKER, "w") as handle:
        handle.write(ADOT_REQUIREMENT + "\n")
    return python, ""


class AdotExporter:
    """The AWS distro's exporter in its own process: ``round(batch)`` exports every span once and says how long it took."""

    def __init__(self, python: str, traces: int, port: int) -> None:
        self._process = subprocess.Popen(
            [python, "-c", _CHILD, ROOT, str(traces), str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info: Dict[str, Any] = self._answer()

    def _answer(self) -> Dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the AWS distro's benchmark process ended early")
        answer: Dict[str, Any] = json.loads(line)
        return answer

    def _ask(self, command: str) -> Dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return self._answer()

    def round(self, batch: int) -> Dict[str, Any]:
        """Export every recorded span, ``batch`` per call: ``{"seconds", "spans", "failed_calls", "calls"}``."""
        return self._ask(f"export {batch}")

    def protobuf_bytes(self, batch: int) -> int:
        """The largest protobuf payload of one call (the datagram carries it base64-encoded, a third larger)."""
        return int(self._ask(f"size {batch}")["protobuf_bytes"])

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                assert self._process.stdin is not None
                self._process.stdin.write("quit\n")
                self._process.stdin.close()
                self._process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()


def start(traces: int, port: int) -> Tuple[Optional[AdotExporter], str]:
    """The distro's exporter process, or ``(None, why not)``."""
    python, reason = ensure_virtualenv()
    if python is None:
        return None, reason
    try:
        return AdotExporter(python, traces, port), ""
    except (OSError, RuntimeError, ValueError) as failure:
        return None, f"the AWS distro's benchmark process did not start: {failure}"


if __name__ == "__main__":
    import socket

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    adot, why = start(50, receiver.getsockname()[1])
    if adot is None:
        print(f"skipped: {why}")
        sys.exit(0)
    print(adot.info)
    for size in (10, 512):
        result = adot.round(size)
        print(f"{size} per call: {result['seconds'] / result['spans'] * 1e6:.2f} us/span, {result}")
    adot.close()
