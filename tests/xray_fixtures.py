"""Segment documents and helpers shared by the store, API and console tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

from otel_xray.daemon.server import LocalDaemon, Received

HEADER = b'{"format":"json","version":1}\n'


def trace_id(seed: int, epoch: Optional[int] = None) -> str:
    return "1-%08x-%024x" % (int(time.time()) if epoch is None else epoch, seed)


def segment(trace: str, doc_id: str, name: str = "checkout", start: Optional[float] = None, duration: float = 0.05,
            status: Optional[int] = 200, **extra: Any) -> Dict[str, Any]:
    start = time.time() - 1 if start is None else start
    document: Dict[str, Any] = {"name": name, "id": doc_id, "trace_id": trace, "start_time": start, "end_time": start + duration}
    if status is not None:
        document["http"] = {"request": {"method": "GET", "url": f"https://shop.example.com/{name}"},
                            "response": {"status": status}}
        document["fault"] = status >= 500
        document["error"] = 400 <= status < 500
        document["throttle"] = status == 429
    document.update(extra)
    return document


def subsegment(doc_id: str, name: str, start: float, duration: float = 0.01, **extra: Any) -> Dict[str, Any]:
    return {"name": name, "id": doc_id, "start_time": start, "end_time": start + duration, **extra}


def send(address, document: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(HEADER + json.dumps(document).encode(), address)


def entities_as_read(documents: Any) -> list:
    """Every segment and subsegment of ``documents``, as X-Ray reads them: an embedded subsegment,
    which leaves out ``trace_id``, ``parent_id`` and ``type``, takes them from its place."""
    found = []
    pending = [(document, None) for document in reversed(list(documents))]
    while pending:
        entity, parent = pending.pop()
        if parent is not None:
            entity = {**entity, "trace_id": parent["trace_id"], "parent_id": parent["id"], "type": "subsegment"}
        found.append(entity)
        pending.extend((child, entity) for child in reversed(entity.get("subsegments") or ()))
    return found


def received_from_script(script: Any, cwd: Any) -> List[Received]:
    """Run ``script`` (without the machine's OTEL_/AWS_ settings) into a local daemon; what arrived."""
    with LocalDaemon("127.0.0.1", 0) as daemon:
        daemon.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "_X_AMZN"))}
        env["AWS_XRAY_DAEMON_ADDRESS"] = daemon.endpoint
        result = subprocess.run([sys.executable, str(script)], env=env, cwd=cwd, capture_output=True, text=True, timeout=90)
        assert result.returncode == 0, result.stderr
        daemon.wait_quiet(quiet=0.3, timeout=10)
        return daemon.received()
