"""The two sampling calls, over HTTP to the X-Ray daemon's TCP proxy (stdlib only, short timeouts).

The daemon (or the CloudWatch agent) signs what it forwards to X-Ray, so the
requests here are plain, unsigned rest-json ``POST``s, as the X-Ray SDKs send
them through it. A new connection per call: calls are rare (every 10 s and
every 5 min), and nothing is left to a forked child. Every call runs with
instrumentation suppressed, so that an instrumented HTTP library never traces
the sampler itself.

Internal: the public names are those of ``otel_xray.sampling``, which imports
them from here.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any, Dict, List, Mapping, Sequence

from opentelemetry import context

from .._sdk import suppress_instrumentation_context

#: GetSamplingRules pages followed at most (a NextToken loop must end).
MAX_RULE_PAGES = 100
#: SamplingStatisticsDocuments per GetSamplingTargets call (the API's limit).
MAX_STATISTICS_PER_CALL = 25
_MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class SamplingApiError(Exception):
    """A call failed; ``str()`` says why, in words meant for a log line."""


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class SamplingClient:
    """``GetSamplingRules`` and ``GetSamplingTargets`` against ``http://host:port``."""

    def __init__(self, host: str, port: int, timeout: float = 2.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    @property
    def url(self) -> str:
        return f"http://{_format_host(self.host)}:{self.port}"

    def post(self, path: str, body: Mapping[str, Any]) -> Dict[str, Any]:
        """POST a JSON body, return the JSON object answered; :class:`SamplingApiError` otherwise."""
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        token = context.attach(suppress_instrumentation_context())
        try:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                connection.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                data = response.read(_MAX_RESPONSE_BYTES + 1)
                status = response.status
            except socket.timeout:
                raise SamplingApiError(f"no answer from {self.url} within {self.timeout:g} s") from None
            except ConnectionRefusedError:
                raise SamplingApiError(
                    f"connection refused by {self.url} (is the X-Ray daemon running, with its TCP port open?)"
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                raise SamplingApiError(f"{self.url}{path}: {type(exc).__name__}: {exc}") from None
            finally:
                connection.close()
        finally:
            context.detach(token)
        if len(data) > _MAX_RESPONSE_BYTES:
            raise SamplingApiError(f"{self.url}{path}: the answer is larger than {_MAX_RESPONSE_BYTES} bytes")
        try:
            parsed = json.loads(data.decode("utf-8")) if data.strip() else {}
        except (UnicodeDecodeError, ValueError):
            parsed = None
        if status != 200:
            detail = ""
            if isinstance(parsed, dict):
                code = parsed.get("__type") or ""
                message = parsed.get("message") or parsed.get("Message") or ""
                detail = f": {code} {message}".rstrip() if code or message else ""
            raise SamplingApiError(f"{self.url}{path} answered HTTP {status}{detail}")
        if not isinstance(parsed, dict):
            raise SamplingApiError(f"{self.url}{path} answered something that is not a JSON object")
        return parsed

    def get_sampling_rules(self) -> List[Any]:
        """Every ``SamplingRuleRecord``, following ``NextToken``."""
        records: List[Any] = []
        token = None
        for _ in range(MAX_RULE_PAGES):
            answer = self.post("/GetSamplingRules", {"NextToken": token} if token else {})
            page = answer.get("SamplingRuleRecords")
            if not isinstance(page, list):
                raise SamplingApiError(f"{self.url}/GetSamplingRules answered without a SamplingRuleRecords list")
            records.extend(page)
            next_token = answer.get("NextToken")
            if not next_token or not isinstance(next_token, str) or next_token == token:
                return records
            token = next_token
        raise SamplingApiError(f"{self.url}/GetSamplingRules: more than {MAX_RULE_PAGES} pages of rules")

    def get_sampling_targets(self, documents: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
        """One ``GetSamplingTargets`` call (at most 25 statistics documents)."""
        if len(documents) > MAX_STATISTICS_PER_CALL:
            raise ValueError(f"at most {MAX_STATISTICS_PER_CALL} statistics documents per call")
        return self.post("/SamplingTargets", {"SamplingStatisticsDocuments": list(documents)})
