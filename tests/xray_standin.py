"""Test helpers for the X-Ray API transport: an isolated AWS environment, and a scripted X-Ray API stand-in.

``XRayStandIn`` is a real HTTP/1.1 server on loopback that answers botocore's
real (signed) ``PutTraceSegments`` requests from a script of replies, one per
request, in order: success (optionally with ``UnprocessedTraceSegments``),
throttling, server errors, client errors, or a reply held back until the test
releases it. It records every request it is sent.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, NamedTuple, Optional

import pytest

# How long a held reply waits for release at most, so that a failing test cannot hang the suite.
HOLD_GUARD_SECONDS = 60.0


@pytest.fixture
def isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No AWS configuration at all: no variables, no files, no instance metadata (never 169.254.x.x)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def fake_aws(isolated_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a Region in the environment, as botocore's chain reads them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


class Reply(NamedTuple):
    status: int = 200
    error_type: Optional[str] = None
    message: str = ""
    #: ``(request documents) -> UnprocessedTraceSegments entries`` for a 200 reply.
    unprocessed: Optional[Callable[[List[str]], List[Dict[str, str]]]] = None
    headers: Dict[str, str] = {}
    #: A held reply waits for this event before it answers.
    hold: Optional[threading.Event] = None


def ok(unprocessed: Optional[Callable[[List[str]], List[Dict[str, str]]]] = None) -> Reply:
    return Reply(unprocessed=unprocessed)


def throttled(retry_after_ms: Optional[int] = None) -> Reply:
    headers = {"x-amz-retry-after": str(retry_after_ms)} if retry_after_ms is not None else {}
    return Reply(429, "ThrottledException", "Rate exceeded", headers=headers)


def server_error(status: int = 500) -> Reply:
    return Reply(status, "InternalFailure" if status == 500 else "ServiceUnavailable", "try again later")


def client_error(status: int, error_type: str, message: str) -> Reply:
    return Reply(status, error_type, message)


def held(event: threading.Event) -> Reply:
    return Reply(hold=event)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a held reply (a read timeout) closed the connection: expected.
        pass


class Request(NamedTuple):
    path: str
    headers: Dict[str, str]
    documents: List[str]


class XRayStandIn:
    """A loopback X-Ray API that answers from a script; ``ok()`` once the script is used up."""

    def __init__(self, script: Iterable[Reply] = ()) -> None:
        self.script: Deque[Reply] = deque(script)
        self.requests: List[Request] = []
        self.arrived = threading.Event()  # set when a held reply's request has arrived
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                payload = json.loads(body or b"{}")
                documents = list(payload.get("TraceSegmentDocuments") or [])
                with standin._lock:
                    standin.requests.append(Request(self.path, dict(self.headers), documents))
                    reply = standin.script.popleft() if standin.script else ok()
                if reply.hold is not None:
                    standin.arrived.set()
                    reply.hold.wait(HOLD_GUARD_SECONDS)
                if reply.status == 200:
                    unprocessed = reply.unprocessed(documents) if reply.unprocessed else []
                    self._answer(200, {"UnprocessedTraceSegments": unprocessed}, {})
                else:
                    headers = {"x-amzn-ErrorType": reply.error_type or "UnknownError", **reply.headers}
                    self._answer(reply.status, {"message": reply.message}, headers)

            def _answer(self, status: int, payload: Dict[str, Any], headers: Dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="xray-standin", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def documents(self) -> List[str]:
        """Every document received, in order (retried ones as often as they were sent)."""
        with self._lock:
            return [document for request in self.requests for document in request.documents]

    def __enter__(self) -> "XRayStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


@pytest.fixture
def standin() -> Iterator[XRayStandIn]:
    with XRayStandIn() as running:
        yield running
