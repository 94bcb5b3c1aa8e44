"""Where the exporter's time goes: a sampling profile of export, summarised by stage and function.

``python -m benchmarks.profile [--batch 512] [--seconds 20]`` runs the export loop of target 1
(the benchmark's request, ``--batch`` spans per ``export`` call, into a UDP sink on loopback) in
a child process under py-spy (``pip install py-spy``), then prints each stage's share of the
samples (translate, assemble, encode, send, the exporter's own bookkeeping) and the functions
with the most samples of their own.

To compare two versions of the package, run it with ``PYTHONPATH`` pointing at the other
checkout: the child imports ``otel_xray`` from there, and this module's loop is the same.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

# A frame belongs to the first stage whose marker its file path contains, searched from the
# innermost frame outwards: time in orjson under the encoder is the encoder's.
STAGES: Tuple[Tuple[str, str], ...] = (
    ("translate", "otel_xray/translate/"),
    ("assemble", "otel_xray/assemble.py"),
    ("encode", "otel_xray/wire/framing.py"),
    ("send", "otel_xray/wire/udp.py"),
    ("exporter bookkeeping", "otel_xray/exporter.py"),
)


def run_loop(batch: int, seconds: float) -> None:
    """Export the benchmark's spans, ``batch`` per call, for ``seconds``."""
    from otel_xray import XRaySpanExporter

    from .bench import make_spans, sink

    spans = make_spans(500)
    receiver, address = sink()
    exporter = XRaySpanExporter(endpoint="%s:%d" % address)
    deadline = time.monotonic() + seconds
    exported = 0
    while time.monotonic() < deadline:
        for start in range(0, len(spans), batch):
            exporter.export(spans[start : start + batch])
        exported += len(spans)
    exporter.shutdown()
    receiver.close()
    print(f"exported {exported} spans, {batch} per call, in {seconds:.0f} s", file=sys.stderr)


def parse_collapsed(lines: Sequence[str]) -> List[Tuple[List[str], int]]:
    """py-spy's raw output: one line per distinct stack, ``frame;frame;... count``, outermost first."""
    stacks = []
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        stacks.append((stack.split(";"), int(count)))
    return stacks


def stage_of(frames: Sequence[str]) -> Optional[str]:
    for frame in reversed(frames):
        for stage, marker in STAGES:
            if marker in frame:
                return stage
    return None


def summarise(stacks: Sequence[Tuple[List[str], int]], top: int = 15) -> str:
    in_export = [(frames, count) for frames, count in stacks if any("otel_xray/exporter.py" in f for f in frames)]
    total = sum(count for _, count in in_export)
    if not total:
        return "no samples inside the exporter"
    by_stage: Dict[str, int] = collections.Counter()
    by_function: Dict[str, int] = collections.Counter()
    for frames, count in in_export:
        by_stage[stage_of(frames) or "other"] += count
        by_function[_short(frames[-1])] += count
    lines = [f"{total} samples inside XRaySpanExporter.export", "", "share by stage:"]
    for stage, count in sorted(by_stage.items(), key=lambda item: -item[1]):
        lines.append(f"  {stage:<24} {100 * count / total:5.1f}%")
    lines += ["", f"top {top} functions by samples of their own:"]
    for function, count in sorted(by_function.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f}%  {function}")
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``name (path/to/otel_xray/translate/http.py:12)`` → ``name (translate/http.py)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for root in ("otel_xray/", "site-packages/"):
        if root in path:
            path = path.split(root, 1)[1]
            break
    return f"{name} ({path})" if path else name


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=512, help="spans per export call (default 512)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to export (default 20)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second (default 250)")
    parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args(argv)
    if args.loop:
        run_loop(args.batch, args.seconds)
        return 0
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")  # installed in this virtualenv
    py_spy = beside if os.path.exists(beside) else shutil.which("py-spy")
    if py_spy is None:
        print("py-spy is not installed (pip install py-spy): nothing profiled", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "export.txt")
        child = [sys.executable, "-m", "benchmarks.profile", "--loop", "--batch", str(args.batch), "--seconds", str(args.seconds)]
        command = [py_spy, "record", "--format", "raw", "--rate", str(args.rate), "--output", out, "--", *child]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not os.path.exists(out):
            print(f"py-spy failed ({result.returncode}): {result.stderr.strip()}", file=sys.stderr)
            return 2
        with open(out) as handle:
            stacks = parse_collapsed(handle.readlines())
    import otel_xray

    print(f"otel_xray from {os.path.dirname(otel_xray.__file__)}; {args.batch} spans per call")
    print(summarise(stacks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
