"""The X-Ray API operations the local daemon answers from its store, as :class:`HttpRoutes`.

``PutTraceSegments`` (``/TraceSegments``), ``BatchGetTraces`` (``/Traces``),
``GetTraceSummaries`` (``/TraceSummaries``), ``GetServiceGraph``
(``/ServiceGraph``), and ``PutTelemetryRecords`` (``/TelemetryRecords``,
answered ``{}``: the real X-Ray daemon posts its counters there). Requests and
answers have the service's rest-json shapes, so botocore's X-Ray client, the
real X-Ray daemon, the CloudWatch agent and the Collector's
``awsxrayexporter`` can use the local daemon as their X-Ray endpoint.

Documents that X-Ray would reject are stored all the same (with the verdict,
for the console's Lint view) and reported in ``UnprocessedTraceSegments``.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .filter_expr import FilterError
from .graph import service_graph
from .http_api import ApiError, HttpRoutes, epoch_seconds
from .store import StoredDocument, TraceStore
from .validate import Verdict, parse_body, validate_document

PAGE_SIZE = 100
MAX_TRACE_IDS = 100
MAX_DOCUMENTS_PER_PUT = 1000

#: Called for every document accepted through the API: ``(document, verdict, size)``.
DocumentHook = Callable[[Dict[str, Any], Verdict, int], None]


def _timestamp(request: Dict[str, Any], key: str) -> float:
    value = request.get(key)
    if value is None:
        raise ApiError(f"{key} is required")
    seconds = epoch_seconds(value)
    if seconds is None:
        raise ApiError(f"{key} must be epoch seconds or an ISO 8601 time, got {str(value)[:40]!r}")
    return seconds


def _time_range(request: Dict[str, Any]) -> Tuple[float, float]:
    """The request's required ``StartTime`` and ``EndTime``, in order."""
    start = _timestamp(request, "StartTime")
    end = _timestamp(request, "EndTime")
    if end < start:
        raise ApiError("EndTime is before StartTime")
    return start, end


def _string_list(request: Dict[str, Any], key: str, items: str, most: int, unit: str) -> List[str]:
    """The request's ``key``, a list of at most ``most`` strings (``items`` and ``unit`` word the errors)."""
    value = request.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(f"{key} must be a list of {items}")
    if len(value) > most:
        raise ApiError(f"at most {most} {unit} per call")
    return value


def _encode_token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _decode_token(token: Any) -> Any:
    if not isinstance(token, str):
        raise ApiError("NextToken must be a string")
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise ApiError("NextToken is not one this server issued") from None


def _error_code(verdict: Verdict) -> str:
    text = " ".join(verdict.errors)
    if ".name" in text or "'name'" in text:
        return "InvalidName"
    if "trace_id" in text:
        return "InvalidTraceId"
    if "document:" in text and "bytes" in text:
        return "SegmentTooLarge"
    return "InvalidSegment"


def merge_trace_documents(stored: List[StoredDocument]) -> List[Dict[str, Any]]:
    """A trace's documents as X-Ray returns them: independent subsegments placed inside their parents.

    Returns ``[{"Id": ..., "Document": dict}]``; a subsegment whose parent is not
    stored stays a document of its own.
    """
    documents = [(doc.id, doc.document) for doc in stored]
    by_id: Dict[str, Dict[str, Any]] = {}
    for _, document in documents:
        stack = [document]
        while stack:
            entity = stack.pop()
            if not isinstance(entity, dict):
                continue
            if isinstance(entity.get("id"), str):
                by_id.setdefault(entity["id"], entity)
            children = entity.get("subsegments")
            if isinstance(children, list):
                stack.extend(children)
    result = []
    for doc_id, document in documents:
        if isinstance(document, dict) and document.get("type") == "subsegment":
            parent = by_id.get(document.get("parent_id"))  # type: ignore[arg-type]
            if parent is not None and parent is not document:
                parent.setdefault("subsegments", [])
                if isinstance(parent["subsegments"], list):
                    parent["subsegments"].append(document)
                    continue
        result.append({"Id": doc_id, "Document": document})
    return result


def _annotation_value(value: Any, kind: str) -> Dict[str, Any]:
    if kind == "b":
        return {"BooleanValue": bool(value)}
    if kind == "n":
        return {"NumberValue": value}
    return {"StringValue": value}


def _service_id(name: str, node_type: str) -> Dict[str, Any]:
    service: Dict[str, Any] = {"Name": name, "Names": [name]}
    if node_type:
        service["Type"] = node_type
    return service


def summary_of(
    row: Dict[str, Any], annotations: List[Tuple[str, Any, str]], services: List[Tuple[str, str]]
) -> Dict[str, Any]:
    """One ``TraceSummary`` from a row of the store's ``traces`` table."""
    http: Dict[str, Any] = {}
    for key, column in (
        ("HttpURL", "http_url"), ("HttpStatus", "http_status"), ("HttpMethod", "http_method"),
        ("UserAgent", "user_agent"), ("ClientIp", "client_ip"),
    ):
        if row.get(column) is not None:
            http[key] = row[column]
    grouped: Dict[str, List[Dict[str, Any]]] = {}
    for key, value, kind in annotations:
        grouped.setdefault(key, []).append({"AnnotationValue": _annotation_value(value, kind), "ServiceIds": []})
    summary: Dict[str, Any] = {
        "Id": row["trace_id"],
        "StartTime": row["start_time"],
        "Duration": round(row["duration"] or 0.0, 6),
        "HasFault": bool(row["fault"]),
        "HasError": bool(row["error"]),
        "HasThrottle": bool(row["throttle"]),
        "IsPartial": bool(row["in_progress"]),
        "Http": http,
        "Annotations": grouped,
        "Users": [{"UserName": row["user"], "ServiceIds": []}] if row.get("user") else [],
        "ServiceIds": [_service_id(name, node_type) for name, node_type in sorted(services) if node_type != "client"],
        "Revision": row["documents"],
        "MatchedEventTime": row["start_time"],
    }
    if row.get("response_time") is not None:
        summary["ResponseTime"] = round(row["response_time"], 6)
    if row.get("name"):
        summary["EntryPoint"] = _service_id(row["name"], row.get("origin") or "")
    return summary


class XRayApi:
    """The operations over one store; ``on_document`` sees each document put through the API."""

    def __init__(self, store: TraceStore, on_document: Optional[DocumentHook] = None) -> None:
        self.store = store
        self.on_document = on_document

    def routes(self) -> HttpRoutes:
        return HttpRoutes(
            post_json={
                "/TraceSegments": self.put_trace_segments,
                "/Traces": self.batch_get_traces,
                "/TraceSummaries": self.get_trace_summaries,
                "/ServiceGraph": self.get_service_graph,
                "/TelemetryRecords": self.put_telemetry_records,
            }
        )

    # -- operations --------------------------------------------------------------
    def put_trace_segments(self, request: Dict[str, Any]) -> Dict[str, Any]:
        documents = _string_list(request, "TraceSegmentDocuments", "strings", MAX_DOCUMENTS_PER_PUT, "documents")
        unprocessed = []
        now = time.time()
        for text in documents:
            raw = text.encode("utf-8", "surrogatepass")
            document, reason, size = parse_body(raw)
            if document is None:
                unprocessed.append({"ErrorCode": "InvalidSegment", "Message": reason or "not a document"})
                continue
            verdict = validate_document(document, size, check_numbers=False)
            self.store.submit(document, verdict, size, now, "api", body=text)
            if self.on_document is not None:
                self.on_document(document, verdict, size)
            if not verdict.valid:
                entry = {"ErrorCode": _error_code(verdict), "Message": "; ".join(verdict.errors)[:1000]}
                if isinstance(document, dict) and isinstance(document.get("id"), str):
                    entry = {"Id": document["id"], **entry}
                unprocessed.append(entry)
        return {"UnprocessedTraceSegments": unprocessed}

    def batch_get_traces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        trace_ids = _string_list(request, "TraceIds", "trace IDs", MAX_TRACE_IDS, "trace IDs")
        unique = list(dict.fromkeys(trace_ids))
        stored = self.store.documents(unique)
        durations = {
            row["trace_id"]: row["duration"]
            for row in self.store.query(
                f"SELECT trace_id, duration FROM traces WHERE trace_id IN ({','.join('?' * len(unique))})", unique
            )
        } if unique else {}
        traces, missing = [], []
        for trace_id in unique:
            if trace_id not in stored:
                missing.append(trace_id)
                continue
            segments = [
                {"Id": item["Id"], "Document": json.dumps(item["Document"], ensure_ascii=False, separators=(",", ":"))}
                for item in merge_trace_documents(stored[trace_id])
            ]
            traces.append(
                {
                    "Id": trace_id,
                    "Duration": round(durations.get(trace_id) or 0.0, 6),
                    "LimitExceeded": False,
                    "Segments": segments,
                }
            )
        return {"Traces": traces, "UnprocessedTraceIds": missing}

    def get_trace_summaries(self, request: Dict[str, Any]) -> Dict[str, Any]:
        start, end = _time_range(request)
        time_range = request.get("TimeRangeType") or "Event"
        if time_range not in ("TraceId", "Event", "Service"):
            raise ApiError("TimeRangeType must be TraceId, Event or Service")
        expression = request.get("FilterExpression")
        if expression is not None and not isinstance(expression, str):
            raise ApiError("FilterExpression must be a string")
        after = None
        if request.get("NextToken"):
            token = _decode_token(request["NextToken"])
            if not (isinstance(token, list) and len(token) == 2):
                raise ApiError("NextToken is not one this server issued")
            after = (token[0], token[1])
        try:
            rows = self.store.trace_rows(start, end, expression, time_range, PAGE_SIZE + 1, after)
        except FilterError as exc:
            raise ApiError(f"invalid filter expression: {exc}") from None
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        ids = [row["trace_id"] for row in rows]
        annotations = self.store.annotations(ids)
        services = self.store.trace_services(ids)
        answer: Dict[str, Any] = {
            "TraceSummaries": [summary_of(row, annotations.get(row["trace_id"], []), services.get(row["trace_id"], [])) for row in rows],
            "ApproximateTime": time.time(),
            "TracesProcessedCount": len(rows),
        }
        if more and rows:
            answer["NextToken"] = _encode_token([rows[-1]["start_time"], rows[-1]["trace_id"]])
        return answer

    def get_service_graph(self, request: Dict[str, Any]) -> Dict[str, Any]:
        start, end = _time_range(request)
        return service_graph(self.store, start, end)

    def put_telemetry_records(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return {}
