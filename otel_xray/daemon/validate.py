"""X-Ray's rules for segment documents and daemon datagrams, as a validator.

Written from the X-Ray developer guide ("Segment documents", "Sending data to
X-Ray"), AWS's published JSON schema and the daemon's source, and kept apart
from the exporter's own sanitising so that one checks the other. It is
stricter than the 2017 schema where the service is (finite numbers, hex IDs,
``end_time`` or ``in_progress``, independent-subsegment fields, 64 kB) and
looser where the service has moved on (dotted annotation keys).

``errors`` are what X-Ray rejects; ``warnings`` are what it accepts but
probably not as intended (over 50 annotations, a reserved metadata namespace).

The validator is total: any JSON value (and any Python value) gets a verdict,
never an exception, whatever its types, sizes or depth. Subsegments are walked
without recursion, values are quoted shortened, and at most
``MAX_MESSAGES`` errors (and as many warnings) are listed per document, then
a count of the rest: a hostile document's verdict stays small.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = [
    "Verdict",
    "validate_document",
    "parse_datagram",
    "split_datagram",
    "parse_body",
    "MAX_DOCUMENT_BYTES",
    "MAX_DATAGRAM_BYTES",
    "REJECTION_CATEGORIES",
    "rejection_category",
    "MAX_MESSAGES",
]

MAX_DOCUMENT_BYTES = 64_000  # "64 kB", read strictly
MAX_DATAGRAM_BYTES = 65_507  # largest IPv4 UDP payload
_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")
_TRACE_ID = re.compile(r"^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$")
_ANNOTATION_KEY = re.compile(r"^[A-Za-z0-9_.]{1,500}$")
_NAME_SYMBOLS = set("_.:/%&#=+-@")
_NAME_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No", "Zs", "Zl", "Zp"}
_MAX_250 = 250
MAX_MESSAGES = 100
# A location ("document.subsegments[0]...") is cut in the middle beyond this many characters.
_MAX_WHERE = 160
_MAX_QUOTED = 80


@dataclass
class Verdict:
    errors: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_dict(self) -> Dict[str, Any]:
        return {"valid": self.valid, "errors": self.errors, "warnings": self.warnings}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_epoch(value: Any) -> bool:
    """A positive number that is finite as a float (X-Ray reads times as float64)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        # A 400-digit integer is no float64: comparing never converts, so it cannot overflow.
        return 0 < value < 2**1024
    return isinstance(value, float) and math.isfinite(value) and value > 0


def _quote(value: Any) -> str:
    """``repr`` of a value for a message: short, and never raising (huge ints, broken objects)."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 1] + "…"


def _key(key: Any) -> str:
    return _quote(key if isinstance(key, str) else str(type(key).__name__))


def _child_where(where: str, suffix: str) -> str:
    """``where`` + ``suffix``, cut in the middle when long: deep nesting must not make messages grow."""
    joined = where + suffix
    if len(joined) <= _MAX_WHERE:
        return joined
    return joined[:80] + "…" + joined[-(_MAX_WHERE - 81) :]


class _Checker:
    def __init__(self, verdict: Verdict) -> None:
        self.v = verdict
        self.more_errors = 0
        self.more_warnings = 0

    def error(self, where: str, message: str) -> None:
        if len(self.v.errors) < MAX_MESSAGES:
            self.v.errors.append(f"{where}: {message}")
        else:
            self.more_errors += 1

    def warn(self, where: str, message: str) -> None:
        if len(self.v.warnings) < MAX_MESSAGES:
            self.v.warnings.append(f"{where}: {message}")
        else:
            self.more_warnings += 1

    def finish(self) -> None:
        if self.more_errors:
            self.v.errors.append(f"document: {self.more_errors} more error(s) not listed")
        if self.more_warnings:
            self.v.warnings.append(f"document: {self.more_warnings} more warning(s) not listed")

    # -- field kinds -------------------------------------------------------
    def string(self, obj: Dict[str, Any], key: str, where: str, max_chars: Optional[int] = None) -> None:
        if key not in obj:
            return
        value = obj[key]
        if not isinstance(value, str):
            self.error(f"{where}.{key}", f"must be a string, not {type(value).__name__}")
        elif max_chars is not None and len(value) > max_chars:
            self.error(f"{where}.{key}", f"{len(value)} characters, over the limit of {max_chars}")

    def boolean(self, obj: Dict[str, Any], key: str, where: str) -> None:
        if key in obj and not isinstance(obj[key], bool):
            self.error(f"{where}.{key}", "must be a boolean")

    def integer(self, obj: Dict[str, Any], key: str, where: str) -> None:
        if key in obj and not _is_int(obj[key]):
            self.error(f"{where}.{key}", "must be an integer")

    def obj(self, parent: Dict[str, Any], key: str, where: str) -> Optional[Dict[str, Any]]:
        if key not in parent:
            return None
        value = parent[key]
        if not isinstance(value, dict):
            self.error(f"{where}.{key}", "must be an object")
            return None
        return value

    def hex_id(self, obj: Dict[str, Any], key: str, where: str, required: bool = False) -> None:
        if key not in obj:
            if required:
                self.error(where, f"'{key}' is required")
            return
        value = obj[key]
        if not isinstance(value, str) or not _HEX16.match(value):
            self.error(f"{where}.{key}", f"must be 16 hexadecimal digits, got {_quote(value)}")
        elif value.strip("0") == "":
            self.error(f"{where}.{key}", "must not be all zeros")

    # -- parts -------------------------------------------------------------
    def name(self, doc: Dict[str, Any], where: str) -> None:
        if "name" not in doc:
            self.error(where, "'name' is required")
            return
        name = doc["name"]
        if not isinstance(name, str):
            self.error(f"{where}.name", "must be a string")
            return
        if not 1 <= len(name) <= 200:
            self.error(f"{where}.name", f"must be 1 to 200 characters, has {len(name)}")
        bad = sorted(
            {
                ch
                for ch in name
                if ch not in _NAME_SYMBOLS
                and (ord(ch) > 0xFFFF or unicodedata.category(ch) not in _NAME_CATEGORIES)
            }
        )
        if bad:
            self.error(f"{where}.name", f"characters X-Ray rejects (InvalidName): {_quote(''.join(bad))}")

    def times(self, doc: Dict[str, Any], where: str) -> None:
        start: Any = doc.get("start_time")
        if "start_time" not in doc:
            self.error(where, "'start_time' is required")
        elif not _is_epoch(start):
            self.error(f"{where}.start_time", f"must be positive epoch seconds, got {_quote(start)}")
            start = None
        in_progress = doc.get("in_progress")
        if "in_progress" in doc and not isinstance(in_progress, bool):
            self.error(f"{where}.in_progress", "must be a boolean")
        if "end_time" in doc:
            end = doc["end_time"]
            if not _is_epoch(end):
                self.error(f"{where}.end_time", f"must be positive epoch seconds, got {_quote(end)}")
            elif _is_number(start) and end < start:
                self.error(f"{where}.end_time", "is before start_time")
            if in_progress is True:
                self.error(where, "'in_progress' is true but 'end_time' is set")
        elif in_progress is not True:
            self.error(where, "needs 'end_time', or 'in_progress': true")

    def http(self, doc: Dict[str, Any], where: str) -> None:
        http = self.obj(doc, "http", where)
        if http is None:
            return
        where = f"{where}.http"
        request = self.obj(http, "request", where)
        if request is not None:
            for key in ("method", "url", "user_agent", "client_ip"):
                self.string(request, key, f"{where}.request", _MAX_250)
            self.boolean(request, "x_forwarded_for", f"{where}.request")
            self.boolean(request, "traced", f"{where}.request")
        response = self.obj(http, "response", where)
        if response is not None:
            self.integer(response, "status", f"{where}.response")
            self.integer(response, "content_length", f"{where}.response")

    def aws(self, doc: Dict[str, Any], where: str) -> None:
        aws = self.obj(doc, "aws", where)
        if aws is None:
            return
        where = f"{where}.aws"
        for key in ("account_id", "operation", "region", "request_id", "queue_url", "table_name"):
            self.string(aws, key, where)
        if "table_names" in aws and not (
            isinstance(aws["table_names"], list) and all(isinstance(t, str) for t in aws["table_names"])
        ):
            self.error(f"{where}.table_names", "must be an array of strings")
        self.integer(aws, "retries", where)
        for block, keys in (
            ("ec2", ("instance_id", "availability_zone", "instance_size", "ami_id")),
            ("ecs", ("container", "container_id", "container_arn")),
            ("eks", ("pod", "cluster_name", "container_id")),
            ("elastic_beanstalk", ("environment_name", "version_label")),
            ("xray", ("sdk", "sdk_version")),
        ):
            inner = self.obj(aws, block, where)
            if inner is not None:
                for key in keys:
                    self.string(inner, key, f"{where}.{block}")
        beanstalk = aws.get("elastic_beanstalk")
        if isinstance(beanstalk, dict) and "deployment_id" in beanstalk and not _is_number(beanstalk["deployment_id"]):
            self.error(f"{where}.elastic_beanstalk.deployment_id", "must be a number")
        xray = aws.get("xray")
        if isinstance(xray, dict):
            self.boolean(xray, "auto_instrumentation", f"{where}.xray")

    def sql(self, doc: Dict[str, Any], where: str) -> None:
        sql = self.obj(doc, "sql", where)
        if sql is None:
            return
        where = f"{where}.sql"
        for key in ("connection_string", "url", "sanitized_query", "database_type", "database_version", "driver_version"):
            self.string(sql, key, where)
        self.string(sql, "user", where, _MAX_250)
        if "preparation" in sql and sql["preparation"] not in ("call", "statement"):
            self.error(f"{where}.preparation", "must be 'call' or 'statement'")

    def annotations(self, doc: Dict[str, Any], where: str) -> None:
        annotations = self.obj(doc, "annotations", where)
        if annotations is None:
            return
        for key, value in annotations.items():
            place = f"{where}.annotations[{_key(key)}]"
            if not isinstance(key, str) or not _ANNOTATION_KEY.match(key):
                self.error(place, "keys may hold only letters, digits, '_' and '.' (1-500)")
            if isinstance(value, str):
                if len(value) > 1000:
                    self.error(place, f"string of {len(value)} characters, over 1000")
            elif not (isinstance(value, bool) or _is_number(value)):
                self.error(place, f"must be a string, number or boolean, not {type(value).__name__}")
        if len(annotations) > 50:
            self.warn(f"{where}.annotations", f"{len(annotations)} annotations; X-Ray indexes 50 per trace")

    def metadata(self, doc: Dict[str, Any], where: str) -> None:
        metadata = self.obj(doc, "metadata", where)
        if metadata is None:
            return
        for namespace, value in metadata.items():
            if not isinstance(namespace, str):
                self.error(f"{where}.metadata[{_key(namespace)}]", "namespaces must be strings")
            if not isinstance(value, dict):
                self.error(f"{where}.metadata[{_key(namespace)}]", "each namespace must be an object")
            if isinstance(namespace, str) and namespace.startswith("AWS."):
                self.warn(f"{where}.metadata[{_key(namespace)}]", "namespaces starting with 'AWS.' are reserved")

    def cause(self, doc: Dict[str, Any], where: str) -> None:
        if "cause" not in doc:
            return
        cause = doc["cause"]
        where = f"{where}.cause"
        if isinstance(cause, str):
            if not _HEX16.match(cause):
                self.error(where, "a string cause must be a 16-digit exception ID")
            return
        if not isinstance(cause, dict):
            self.error(where, "must be an exception ID or an object")
            return
        self.string(cause, "working_directory", where)
        if "paths" in cause and not (isinstance(cause["paths"], list) and all(isinstance(p, str) for p in cause["paths"])):
            self.error(f"{where}.paths", "must be an array of strings")
        exceptions = cause.get("exceptions", [])
        if not isinstance(exceptions, list):
            self.error(f"{where}.exceptions", "must be an array")
            return
        for index, exception in enumerate(exceptions):
            place = f"{where}.exceptions[{index}]"
            if not isinstance(exception, dict):
                self.error(place, "must be an object")
                continue
            self.hex_id(exception, "id", place, required=True)
            for key in ("message", "type", "cause"):
                self.string(exception, key, place)
            self.boolean(exception, "remote", place)
            self.integer(exception, "truncated", place)
            self.integer(exception, "skipped", place)
            stack = exception.get("stack", [])
            if not isinstance(stack, list):
                self.error(f"{place}.stack", "must be an array")
                continue
            for number, frame in enumerate(stack):
                frame_place = f"{place}.stack[{number}]"
                if not isinstance(frame, dict):
                    self.error(frame_place, "must be an object")
                    continue
                self.string(frame, "path", frame_place)
                self.string(frame, "label", frame_place)
                self.integer(frame, "line", frame_place)

    def links(self, doc: Dict[str, Any], where: str) -> None:
        if "links" not in doc:
            return
        links = doc["links"]
        if not isinstance(links, list):
            self.error(f"{where}.links", "must be an array")
            return
        for index, link in enumerate(links):
            place = f"{where}.links[{index}]"
            if not isinstance(link, dict):
                self.error(place, "must be an object")
                continue
            if not isinstance(link.get("trace_id"), str) or not _TRACE_ID.match(link["trace_id"]):
                self.error(f"{place}.trace_id", "must be an X-Ray trace ID")
            self.hex_id(link, "id", place, required=True)
            self.obj(link, "attributes", place)
        if len(links) > 20:
            self.warn(f"{where}.links", f"{len(links)} links; a segment can link to at most 20 traces")

    # -- documents ---------------------------------------------------------
    def document(self, doc: Dict[str, Any]) -> None:
        """The document and, depth first, every subsegment in it: a loop, not recursion."""
        pending: List[Tuple[Dict[str, Any], str, bool]] = [(doc, "document", False)]
        while pending:
            entity, where, embedded = pending.pop()
            children = self.entity(entity, where, embedded)
            pending.extend(reversed(children))

    def entity(self, doc: Dict[str, Any], where: str, embedded: bool) -> List[Tuple[Dict[str, Any], str, bool]]:
        """Check one segment or subsegment; returns its subsegments, to be checked next."""
        self.name(doc, where)
        self.hex_id(doc, "id", where, required=True)
        self.times(doc, where)
        if "parent_id" in doc:
            self.hex_id(doc, "parent_id", where)
        for key in ("error", "fault", "throttle"):
            self.boolean(doc, key, where)
        self.string(doc, "namespace", where)
        self.string(doc, "origin", where)
        self.string(doc, "user", where, _MAX_250)
        self.string(doc, "resource_arn", where)
        service = self.obj(doc, "service", where)
        if service is not None:
            self.string(service, "version", f"{where}.service")
        if "precursor_ids" in doc and not (
            isinstance(doc["precursor_ids"], list) and all(isinstance(i, str) and _HEX16.match(i) for i in doc["precursor_ids"])
        ):
            self.error(f"{where}.precursor_ids", "must be an array of 16-digit IDs")
        self.http(doc, where)
        self.aws(doc, where)
        self.sql(doc, where)
        self.annotations(doc, where)
        self.metadata(doc, where)
        self.cause(doc, where)
        self.links(doc, where)
        if "trace_id" in doc and (not isinstance(doc["trace_id"], str) or not _TRACE_ID.match(doc["trace_id"])):
            self.error(f"{where}.trace_id", f"must look like 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx, got {_quote(doc['trace_id'])}")
        if "type" in doc and doc["type"] != "subsegment":
            self.error(f"{where}.type", "the only type is 'subsegment'")
        if not embedded:
            if "trace_id" not in doc:
                self.error(where, "'trace_id' is required")
            if doc.get("type") == "subsegment" and "parent_id" not in doc:
                self.error(where, "an independent subsegment needs 'parent_id'")
            if doc.get("type") != "subsegment" and "namespace" in doc and doc["namespace"] not in ("aws", "remote"):
                self.warn(f"{where}.namespace", "segments do not normally carry a namespace")
        children: List[Tuple[Dict[str, Any], str, bool]] = []
        subsegments = doc.get("subsegments")
        if subsegments is not None:
            if not isinstance(subsegments, list):
                self.error(f"{where}.subsegments", "must be an array")
            else:
                for index, sub in enumerate(subsegments):
                    place = _child_where(where, f".subsegments[{index}]")
                    if isinstance(sub, dict):
                        children.append((sub, place, True))
                    else:
                        self.error(place, "must be an object")
        return children


def _non_finite(document: Any) -> List[str]:
    """Where NaN and infinities are, found without recursion."""
    found: List[str] = []
    pending: List[Tuple[Any, str]] = [(document, "document")]
    while pending:
        value, where = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            found.append(where)
        elif isinstance(value, dict):
            pending.extend(
                (item, _child_where(where, f".{key}" if isinstance(key, str) else f"[{_key(key)}]")) for key, item in value.items()
            )
        elif isinstance(value, list):
            pending.extend((item, _child_where(where, f"[{index}]")) for index, item in enumerate(value))
    found.reverse()  # in document order
    return found


def _encoded_size(doc: Dict[str, Any]) -> Tuple[Optional[int], Optional[str]]:
    """Size of ``doc`` as compact UTF-8 JSON, or why it cannot be encoded (a Python-built value)."""
    try:
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        return None, "nested too deeply to encode as JSON"
    except (TypeError, ValueError) as exc:
        return None, f"cannot be encoded as JSON ({_quote(str(exc))})"
    return len(text.encode("utf-8", "surrogatepass")), None


def validate_document(doc: Any, encoded_size: Optional[int] = None, check_numbers: bool = True) -> Verdict:
    """Check one document. ``encoded_size`` is its size in bytes on the wire, if known.

    ``check_numbers=False`` skips the search for NaN and infinities, for documents
    from :func:`parse_body`, which refuses them while parsing.
    """
    if (
        not check_numbers
        and encoded_size is not None
        and encoded_size <= MAX_DOCUMENT_BYTES
        and type(doc) is dict
        and _clean_entities(doc) >= 0
    ):
        return Verdict()  # the common case, proven clean without building a message
    return _full_verdict(doc, encoded_size, check_numbers)


def _full_verdict(doc: Any, encoded_size: Optional[int], check_numbers: bool) -> Verdict:
    """Every check, with its message: what :func:`validate_document` runs when the fast path cannot clear ``doc``."""
    verdict = Verdict()
    checker = _Checker(verdict)
    if not isinstance(doc, dict):
        checker.error("document", "must be a JSON object")
        return verdict
    if encoded_size is None:
        encoded_size, unencodable = _encoded_size(doc)
        if unencodable is not None:
            checker.error("document", unencodable)
    if encoded_size is not None and encoded_size > MAX_DOCUMENT_BYTES:
        checker.error("document", f"{encoded_size} bytes, over X-Ray's 64 kB per document")
    if check_numbers:
        for where in _non_finite(doc):
            checker.error(where, "NaN and Infinity are not JSON")
    checker.document(doc)
    checker.finish()
    return verdict


# Every rejection reason starts with one of these; counters use them as keys.
REJECTION_CATEGORIES = (
    "empty datagram",
    "datagram too large",
    "missing header or document",
    "invalid header",
    "document is not UTF-8",
    "document is not JSON",
    "document is not a JSON object",
    "invalid OTLP",
    "too many spans",
    "internal error",  # a bug in this package, caught so that the daemon carries on
)


def rejection_category(reason: str) -> str:
    for category in REJECTION_CATEGORIES:
        if reason.startswith(category):
            return category
    return "other"


# The header of nearly every datagram, byte for byte.
_USUAL_HEADER = b'{"format":"json","version":1}\n'
# Integers of 19 digits or more: orjson turns them into floats where the standard library keeps
# the exact int, so a body that may hold one is parsed by the latter. Runs of digits are found at
# C speed (digits mapped to '0', everything else to ' '); a run inside a string, such as in a
# trace ID, is told apart by what precedes it (a number follows '[', ':' or ',').
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_RUN = b"0" * 19
_JSON_SPACE = frozenset(b" \t\r\n")
_BEFORE_A_NUMBER = frozenset(b"[:,")


def _long_integer(body: bytes) -> bool:
    """Whether ``body`` may hold a JSON integer of 19 digits or more."""
    digits = body.translate(_DIGITS_ONLY)
    found = digits.find(_RUN)
    while found >= 0:
        at = found - 1
        if at >= 0 and body[at] == 0x2D:  # '-'
            at -= 1
        while at >= 0 and body[at] in _JSON_SPACE:
            at -= 1
        if at < 0 or body[at] in _BEFORE_A_NUMBER:
            return True
        end = digits.find(b" ", found)  # past this run
        if end < 0:
            return False
        found = digits.find(_RUN, end)
    return False


_orjson_loads: Optional[Callable[[bytes], Any]]
try:  # the `fast` extra
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - depends on the environment
    _orjson_loads = None


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity
        raise ValueError(f"{text} is not a finite number")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def split_datagram(data: bytes) -> Tuple[Optional[bytes], Optional[str]]:
    """Check a datagram's header and return its body: ``(body, rejection reason)``.

    The header rules are the daemon's: text up to the first newline must be a
    JSON object with ``format`` ``json`` (any case) and integer ``version`` 1.
    """
    if not data:
        return None, "empty datagram"
    if len(data) > MAX_DATAGRAM_BYTES:
        return None, f"datagram too large: {len(data)} bytes, over the UDP limit of {MAX_DATAGRAM_BYTES}"
    if data.startswith(_USUAL_HEADER):  # what the SDKs and the exporter send: no need to parse it
        body = data[len(_USUAL_HEADER) :]
        if body.strip():
            return body, None
    header, newline, body = data.partition(b"\n")
    if not newline or not body.strip():
        return None, "missing header or document"
    try:
        parsed_header = json.loads(header)
    except ValueError:
        parsed_header = None
    if not (
        isinstance(parsed_header, dict)
        and isinstance(parsed_header.get("format"), str)
        and parsed_header["format"].lower() == "json"
        and _is_int(parsed_header.get("version"))
        and parsed_header["version"] == 1
    ):
        return None, f"invalid header {header[:80]!r}"
    return body, None


def parse_datagram(data: bytes) -> Tuple[Optional[Dict[str, Any]], Optional[str], int]:
    """Split and parse a JSON daemon datagram: ``(document, rejection reason, body size)``."""
    body, reason = split_datagram(data)
    if body is None:
        return None, reason, 0
    return parse_body(body)


def parse_body(body: bytes) -> Tuple[Optional[Dict[str, Any]], Optional[str], int]:
    """Parse a datagram's JSON body: ``(document, rejection reason, size)``.

    With orjson installed (the ``fast`` extra) a well-formed object is parsed by it; anything
    it refuses, and any body with an integer it would turn into a float (19 digits or more),
    is parsed again by the standard library, which gives the same values and the rejection
    reasons (and accepts what JSON allows and orjson refuses, such as a lone surrogate escape).
    """
    if _orjson_loads is not None and not _long_integer(body):
        try:
            document = _orjson_loads(body)
        except Exception:  # orjson.JSONDecodeError, or anything else: let the standard library say why
            pass
        else:
            if type(document) is dict:
                return document, None, len(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"document is not UTF-8 ({exc.reason} at byte {exc.start})", len(body)
    try:
        document = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        return None, f"document is not JSON ({exc})", len(body)
    if not isinstance(document, dict):
        kind = "array" if isinstance(document, list) else "null" if document is None else type(document).__name__
        return None, f"document is not a JSON object (a JSON {kind})", len(body)
    return document, None, len(body)


# ---------------------------------------------------------------- the fast path
# Most documents break no rule. ``_clean_entities`` proves that cheaply for the common shapes (a
# conservative re-statement of the checks above, with no message built) and returns -1 the moment
# anything is unusual: wrong types, non-ASCII names, fields it does not know how to clear (links,
# precursor IDs), or anything that would be a warning. Then the full checker runs and says what
# is wrong; a document the fast path clears gets from the full checker an empty verdict too
# (tests/test_daemon_validate.py checks that on hostile, fuzzed and real documents).
_FAST_NAME = re.compile(r"[A-Za-z0-9 _.:/%&#=+\-@]{1,200}\Z")
_FAST_HEX16 = re.compile(r"[0-9a-fA-F]{16}\Z")
_FAST_TRACE_ID = re.compile(r"1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}\Z")
_FAST_ANNOTATION_KEY = re.compile(r"[A-Za-z0-9_.]{1,500}\Z")
_ZERO_ID = "0" * 16
_INF = float("inf")
_FLOAT_LIMIT = 2**1024
_MISSING: Any = object()
_REQUEST_TEXT = ("method", "url", "user_agent", "client_ip")
_AWS_TEXT = ("account_id", "operation", "region", "request_id", "queue_url", "table_name")
_AWS_BLOCKS = {
    "ec2": ("instance_id", "availability_zone", "instance_size", "ami_id"),
    "ecs": ("container", "container_id", "container_arn"),
    "eks": ("pod", "cluster_name", "container_id"),
    "elastic_beanstalk": ("environment_name", "version_label"),
    "xray": ("sdk", "sdk_version"),
}
_SQL_TEXT = ("connection_string", "url", "sanitized_query", "database_type", "database_version", "driver_version")


def _fast_epoch(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return bool(0.0 < value < _INF)
    return kind is int and bool(0 < value < _FLOAT_LIMIT)


def _fast_hex_id(value: Any) -> bool:
    return type(value) is str and _FAST_HEX16.match(value) is not None and value != _ZERO_ID


def _fast_texts(obj: Dict[str, Any], keys: Tuple[str, ...], limit: int = -1) -> bool:
    for key in keys:
        value = obj.get(key, _MISSING)
        if value is not _MISSING and (type(value) is not str or (limit >= 0 and len(value) > limit)):
            return False
    return True


def _fast_bool(obj: Dict[str, Any], key: str) -> bool:
    value = obj.get(key, _MISSING)
    return value is _MISSING or value is True or value is False


def _fast_int(obj: Dict[str, Any], key: str) -> bool:
    value = obj.get(key, _MISSING)
    return value is _MISSING or type(value) is int


_AWS_RULES: Dict[str, Any] = {key: "text" for key in _AWS_TEXT}
_AWS_RULES.update(_AWS_BLOCKS, retries="int", table_names="names")


def _fast_aws(aws: Any) -> bool:
    if type(aws) is not dict:
        return False
    for key, value in aws.items():
        rule = _AWS_RULES.get(key)
        if rule is None:
            continue
        if rule == "text":
            if type(value) is not str:
                return False
        elif type(rule) is tuple:
            if type(value) is not dict or not _fast_texts(value, rule):
                return False
            if key == "xray" and not _fast_bool(value, "auto_instrumentation"):
                return False
            if key == "elastic_beanstalk" and "deployment_id" in value and type(value["deployment_id"]) not in (int, float):
                return False
        elif rule == "int":
            if type(value) is not int:
                return False
        elif not (type(value) is list and all(type(name) is str for name in value)):
            return False
    return True


def _fast_http(http: Any) -> bool:
    if type(http) is not dict:
        return False
    request = http.get("request", _MISSING)
    if request is not _MISSING:
        if type(request) is not dict or not _fast_texts(request, _REQUEST_TEXT, _MAX_250):
            return False
        if not (_fast_bool(request, "x_forwarded_for") and _fast_bool(request, "traced")):
            return False
    response = http.get("response", _MISSING)
    if response is not _MISSING:
        if type(response) is not dict or not (_fast_int(response, "status") and _fast_int(response, "content_length")):
            return False
    return True


def _fast_sql(sql: Any) -> bool:
    if type(sql) is not dict or not _fast_texts(sql, _SQL_TEXT) or not _fast_texts(sql, ("user",), _MAX_250):
        return False
    preparation = sql.get("preparation", _MISSING)
    return preparation is _MISSING or (type(preparation) is str and preparation in ("call", "statement"))


def _fast_annotations(annotations: Any) -> bool:
    if type(annotations) is not dict or len(annotations) > 50:  # over 50: a warning
        return False
    for key, value in annotations.items():
        if type(key) is not str or _FAST_ANNOTATION_KEY.match(key) is None:
            return False
        kind = type(value)
        if kind is str:
            if len(value) > 1000:
                return False
        elif kind is not bool and kind is not int and kind is not float:
            return False
    return True


def _fast_metadata(metadata: Any) -> bool:
    if type(metadata) is not dict:
        return False
    for namespace, value in metadata.items():
        if type(namespace) is not str or type(value) is not dict or namespace.startswith("AWS."):
            return False
    return True


def _fast_cause(cause: Any) -> bool:
    if type(cause) is str:
        return _FAST_HEX16.match(cause) is not None
    if type(cause) is not dict or not _fast_texts(cause, ("working_directory",)):
        return False
    paths = cause.get("paths", _MISSING)
    if paths is not _MISSING and not (type(paths) is list and all(type(p) is str for p in paths)):
        return False
    exceptions = cause.get("exceptions", _MISSING)
    if exceptions is _MISSING:
        return True
    if type(exceptions) is not list:
        return False
    for exception in exceptions:
        if type(exception) is not dict or not _fast_hex_id(exception.get("id")):
            return False
        if not _fast_texts(exception, ("message", "type", "cause")) or not _fast_bool(exception, "remote"):
            return False
        if not (_fast_int(exception, "truncated") and _fast_int(exception, "skipped")):
            return False
        stack = exception.get("stack", _MISSING)
        if stack is _MISSING:
            continue
        if type(stack) is not list:
            return False
        for frame in stack:
            if type(frame) is not dict or not _fast_texts(frame, ("path", "label")) or not _fast_int(frame, "line"):
                return False
    return True


# What the fast path does with each key of a segment or subsegment (other keys: nothing, as the
# full checker does nothing with them either).
_FLAG, _TEXT, _TEXT_250, _HEX_ID, _TRACE, _TYPE, _NESTED, _CHILDREN, _UNUSUAL = range(9)
_ENTITY_KEYS: Dict[str, Any] = {
    "error": _FLAG, "fault": _FLAG, "throttle": _FLAG, "in_progress": _FLAG,
    "namespace": _TEXT, "origin": _TEXT, "resource_arn": _TEXT, "user": _TEXT_250,
    "id": _HEX_ID, "parent_id": _HEX_ID, "trace_id": _TRACE, "type": _TYPE,
    "service": _NESTED, "http": _NESTED, "aws": _NESTED, "sql": _NESTED, "annotations": _NESTED,
    "metadata": _NESTED, "cause": _NESTED, "subsegments": _CHILDREN,
    "links": _UNUSUAL, "precursor_ids": _UNUSUAL,  # rare: left to the full checker
}


def _fast_service(service: Any) -> bool:
    return type(service) is dict and _fast_texts(service, ("version",))


_NESTED_CHECKS: Dict[str, Callable[[Any], bool]] = {
    "service": _fast_service, "http": _fast_http, "aws": _fast_aws, "sql": _fast_sql,
    "annotations": _fast_annotations, "metadata": _fast_metadata, "cause": _fast_cause,
}


def _clean_entities(doc: Dict[str, Any]) -> int:
    """How many entities ``doc`` holds when it certainly breaks no rule and earns no warning; else -1."""
    if "trace_id" not in doc:
        return -1
    kind = doc.get("type", _MISSING)
    if kind is _MISSING:
        namespace = doc.get("namespace", _MISSING)
        if namespace is not _MISSING and (type(namespace) is not str or namespace not in ("aws", "remote")):
            return -1  # a warning
    elif "parent_id" not in doc:
        return -1
    rules = _ENTITY_KEYS
    nested = _NESTED_CHECKS
    count = 0
    pending = [doc]
    while pending:
        entity = pending.pop()
        count += 1
        name = entity.get("name")
        if type(name) is not str or _FAST_NAME.match(name) is None or "id" not in entity:
            return -1
        start = entity.get("start_time")
        if not _fast_epoch(start):
            return -1
        in_progress = entity.get("in_progress")
        end = entity.get("end_time", _MISSING)
        if end is _MISSING:
            if in_progress is not True:
                return -1
        elif in_progress is True or not _fast_epoch(end) or end < start:
            return -1
        for key, value in entity.items():
            rule = rules.get(key)
            if rule is None:
                continue
            if rule == _FLAG:
                if value is not True and value is not False:
                    return -1
            elif rule == _TEXT:
                if type(value) is not str:
                    return -1
            elif rule == _HEX_ID:
                if type(value) is not str or _FAST_HEX16.match(value) is None or value == _ZERO_ID:
                    return -1
            elif rule == _NESTED:
                if not nested[key](value):
                    return -1
            elif rule == _TRACE:
                if type(value) is not str or _FAST_TRACE_ID.match(value) is None:
                    return -1
            elif rule == _TYPE:
                if type(value) is not str or value != "subsegment":
                    return -1
            elif rule == _CHILDREN:
                if type(value) is not list:
                    return -1
                for child in value:
                    if type(child) is not dict:
                        return -1
                    pending.append(child)
            elif rule == _TEXT_250:
                if type(value) is not str or len(value) > _MAX_250:
                    return -1
            else:
                return -1
    return count
