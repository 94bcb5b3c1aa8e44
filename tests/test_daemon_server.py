"""The local daemon: receiving over real UDP, storing, rendering, surviving bad input."""

from __future__ import annotations

import base64
import io
import json
import random
import socket
import time

from otel_xray.daemon.server import LocalDaemon
from otel_xray.daemon.show import render_traces
from otel_xray.daemon.validate import REJECTION_CATEGORIES

from .test_daemon_validate import GOOD

HEADER = b'{"format":"json","version":1}\n'


def send(endpoint, *datagrams):
    host, port = endpoint.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, (host, int(port)))


def test_binds_to_loopback_by_default():
    with LocalDaemon(port=0) as daemon:
        assert daemon.address[0] == "127.0.0.1"


def test_receives_validates_and_stores_jsonl():
    out = io.StringIO()
    with LocalDaemon("127.0.0.1", 0, out=out) as daemon:
        send(daemon.endpoint, HEADER + json.dumps(GOOD).encode(), HEADER + b'{"name":"bad,name"}', b"no header")
        assert daemon.wait_for(2)
        daemon.wait_quiet(quiet=0.2, timeout=2)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == 3
    assert records[0]["valid"] is True and records[0]["document"] == GOOD
    assert records[1]["valid"] is False and any("InvalidName" in e for e in records[1]["errors"])
    assert records[2]["valid"] is False and "raw" in records[2]
    assert daemon.invalid_count == 1 and sum(daemon.rejected.values()) == 1


def test_survives_a_fuzzing_run_and_counts_rejections_by_reason():
    rng = random.Random(1234)
    datagrams = []
    for index in range(2100):
        choice = index % 7
        if choice == 0:
            datagrams.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))))
        elif choice == 1:
            datagrams.append(HEADER + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))))
        elif choice == 2:
            body = bytearray(json.dumps(GOOD).encode())
            for _ in range(3):
                body[rng.randrange(len(body))] = rng.getrandbits(8)
            datagrams.append(HEADER + bytes(body))
        elif choice == 3:
            datagrams.append(HEADER + b"[" * rng.randint(1, 100_000 // 10))
        elif choice == 4:
            datagrams.append(HEADER + json.dumps(dict(GOOD, id="%016x" % rng.getrandbits(64))).encode())
        elif choice == 6:  # JSON, but not an object
            datagrams.append(HEADER + json.dumps(rng.choice([[GOOD], 5, "svc", None, 1.5, True])).encode())
        else:  # OTLP framing around garbage: random bytes, or valid base64 of random bytes
            garbage = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
            datagrams.append(HEADER + rng.choice([b"T1S", b"T1U"]) + (base64.b64encode(garbage) if index % 12 == 5 else garbage))
    deadline = time.monotonic() + 30
    with LocalDaemon("127.0.0.1", 0, keep=False) as daemon:
        for start in range(0, len(datagrams), 100):
            send(daemon.endpoint, *datagrams[start : start + 100])
            time.sleep(0.005)
        daemon.wait_quiet(quiet=0.3, timeout=max(1.0, deadline - time.monotonic()))
        total = daemon.document_count + sum(daemon.rejected.values())
        assert daemon._thread.is_alive()
    assert total == len(datagrams)
    assert daemon.document_count >= 300  # every well-formed datagram was parsed
    assert set(daemon.rejected) <= set(REJECTION_CATEGORIES)
    # the seeded run exercises every category a datagram can fail in
    unreachable_here = {"datagram too large", "too many spans", "internal error"}
    assert all(daemon.rejected[category] >= 1 for category in set(REJECTION_CATEGORIES) - unreachable_here)


def test_stopping_handles_what_was_already_received_first():
    daemon = LocalDaemon("127.0.0.1", 0, keep=False)
    try:
        send(daemon.endpoint, *[HEADER + json.dumps(dict(GOOD, id="%016x" % (i + 1))).encode() for i in range(300)])
        daemon.request_stop()
        daemon.serve()  # returns at once, after draining the socket
        assert daemon.document_count == 300
    finally:
        daemon.stop()


def test_render_traces_as_trees():
    segment = dict(GOOD, http={"request": {"method": "GET"}, "response": {"status": 200}})
    child = dict(GOOD, id="0000000000000002", name="db", type="subsegment", parent_id=GOOD["id"], fault=True)
    text = render_traces([(segment, None), (child, None)])
    lines = text.splitlines()
    assert lines[0] == f"trace {GOOD['trace_id']}"
    assert lines[1].startswith("  svc  [segment]") and "http 200" in lines[1]
    assert lines[2].startswith("    db  [subsegment]") and "FAULT" in lines[2]
