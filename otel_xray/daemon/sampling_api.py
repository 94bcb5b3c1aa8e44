"""The local daemon's sampling API: ``POST /GetSamplingRules`` and ``POST /SamplingTargets``.

Answers in the X-Ray API's exact JSON shapes (rest-json, as botocore's X-Ray
client parses them), so samplers pointed at the local daemon (ours, the X-Ray
SDKs', the AWS distro's) and ``boto3.client("xray", endpoint_url=...)`` work
against it.

How targets approximate the service (whose algorithm is not public):

* a client is *active* for a rule when it reported requests for that rule
  within the last three intervals (clients report every interval, plus jitter);
* the rule's ``ReservoirSize`` is split evenly among the active clients
  (``size // n`` each, the remainder one apiece to the lowest client IDs);
* ``FixedRate`` is the rule's, ``Interval`` is 10 s, and the quota is valid for
  ten intervals (``ReservoirQuotaTTL`` = now + 100 s);
* ``LastRuleModification`` is when the rules last changed (:meth:`SamplingRulesService.set_rules`);
* with ``withhold_first_quota``, a client's first report for a rule gets a
  target without a quota, as the service may answer, which keeps it borrowing.

Requests are validated as the API model says (at most 25 documents, 24-character
hexadecimal client IDs, rule names of 1-32 characters, counts >= 0, a
timestamp given as epoch seconds or an ISO-8601 string); a bad request is a
400 ``InvalidRequestException``. ``SampleCount`` (a misspelling some samplers
send) is accepted for ``SampledCount`` and flagged. Statistics for a rule the
daemon does not have come back in ``UnprocessedStatistics``.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ..sampling.rules import SamplingRule, default_rule, sort_rules
from ..values import json_int
from .http_api import ApiError, HttpRoutes, epoch_seconds

MAX_STATISTICS_DOCUMENTS = 25
_CLIENT_ID = re.compile(r"^[0-9a-fA-F]{24}$")


@dataclass(frozen=True)
class ClientStatistics:
    """One statistics document as it arrived."""

    client_id: str
    rule_name: str
    request_count: int
    sampled_count: int
    borrow_count: int
    timestamp: float
    received_at: float
    #: Problems worth telling the sampler's author (e.g. ``SampleCount`` instead of ``SampledCount``).
    flags: Tuple[str, ...] = ()
    known_rule: bool = True


def _count(document: Mapping[str, Any], member: str, where: str, required: bool = True) -> int:
    value = document.get(member)
    if value is None and not required:
        return 0
    count = json_int(value)
    if count is None or count < 0:
        raise ApiError(f"{where}: {member} must be an integer >= 0, got {value!r}")
    return count


class SamplingRulesService:
    """Sampling rules and the targets computed for the clients that report statistics; thread-safe.

    ``on_statistics(client_id, documents)`` is called for every
    ``SamplingTargets`` request (e.g. to print them); ``clock`` gives epoch seconds.
    """

    def __init__(
        self,
        rules: Sequence[SamplingRule] = (),
        *,
        interval: int = 10,
        quota_ttl: Optional[float] = None,
        withhold_first_quota: bool = False,
        page_size: int = 100,
        on_statistics: Optional[Callable[[str, List[ClientStatistics]], None]] = None,
        clock: Callable[[], float] = time.time,
        region: str = "us-east-1",
        account: str = "000000000000",
    ) -> None:
        if interval < 1 or page_size < 1:
            raise ValueError("interval and page_size must be at least 1")
        self.interval = int(interval)
        self.quota_ttl = 10.0 * self.interval if quota_ttl is None else float(quota_ttl)
        self.withhold_first_quota = withhold_first_quota
        self.page_size = page_size
        self._on_statistics = on_statistics
        self._clock = clock
        self._region = region
        self._account = account
        self._lock = threading.Lock()
        self._rules: Tuple[SamplingRule, ...] = ()
        self._stamps: Dict[str, Tuple[float, float]] = {}  # name -> (CreatedAt, ModifiedAt)
        self._last_modification = 0.0
        # rule -> client -> when it last reported requests for it
        self._activity: Dict[str, Dict[str, float]] = {}
        self._reported: Dict[str, Set[str]] = {}
        self.totals: Dict[str, "Counter[str]"] = {}
        self.received: List[ClientStatistics] = []
        self.set_rules(rules or (default_rule(),))

    # -- rules -----------------------------------------------------------------
    @property
    def rules(self) -> Tuple[SamplingRule, ...]:
        return self._rules

    @property
    def last_rule_modification(self) -> float:
        return self._last_modification

    def set_rules(self, rules: Sequence[SamplingRule]) -> None:
        """Replace the rules (as edits in the console do); changed and new rules get a new ``ModifiedAt``."""
        names = [rule.rule_name for rule in rules]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"rules defined twice: {', '.join(duplicated)}")
        now = self._clock()
        with self._lock:
            old = {rule.rule_name: rule for rule in self._rules}
            stamps: Dict[str, Tuple[float, float]] = {}
            changed = set(old) - set(names)
            for rule in rules:
                created, modified = self._stamps.get(rule.rule_name, (now, now))
                if old.get(rule.rule_name) != rule:
                    modified = now
                    changed.add(rule.rule_name)
                stamps[rule.rule_name] = (created, modified)
            self._rules = sort_rules(rules)
            self._stamps = stamps
            if changed:
                self._last_modification = now
            for name in set(self._activity) - set(names):
                del self._activity[name]

    def record(self, rule: SamplingRule) -> Dict[str, Any]:
        created, modified = self._stamps[rule.rule_name]
        return {
            "SamplingRule": rule.to_api(self._region, self._account),
            "CreatedAt": created,
            "ModifiedAt": modified,
        }

    # -- operations ------------------------------------------------------------
    def get_sampling_rules(self, request: Mapping[str, Any]) -> Dict[str, Any]:
        token = request.get("NextToken")
        start = 0
        if token is not None:
            try:
                start = int(base64.urlsafe_b64decode(str(token).encode("ascii")).decode("ascii"))
            except (ValueError, UnicodeError):
                raise ApiError(f"NextToken {token!r} is not one this daemon handed out") from None
        with self._lock:
            rules = self._rules
            page = [self.record(rule) for rule in rules[start : start + self.page_size]]
        answer: Dict[str, Any] = {"SamplingRuleRecords": page}
        if start + self.page_size < len(rules):
            answer["NextToken"] = base64.urlsafe_b64encode(str(start + self.page_size).encode("ascii")).decode("ascii")
        return answer

    def sampling_targets(self, request: Mapping[str, Any]) -> Dict[str, Any]:
        documents = request.get("SamplingStatisticsDocuments")
        if not isinstance(documents, list):
            raise ApiError("SamplingStatisticsDocuments is required (a list)")
        if len(documents) > MAX_STATISTICS_DOCUMENTS:
            raise ApiError(f"SamplingStatisticsDocuments holds {len(documents)} documents; at most {MAX_STATISTICS_DOCUMENTS}")
        boost = request.get("SamplingBoostStatisticsDocuments")
        if boost is not None and (not isinstance(boost, list) or len(boost) > MAX_STATISTICS_DOCUMENTS):
            raise ApiError(f"SamplingBoostStatisticsDocuments must be a list of at most {MAX_STATISTICS_DOCUMENTS}")
        now = self._clock()
        parsed = [self._parse_document(document, index, now) for index, document in enumerate(documents)]

        targets: List[Dict[str, Any]] = []
        unprocessed: List[Dict[str, str]] = []
        with self._lock:
            by_name = {rule.rule_name: rule for rule in self._rules}
            stats: List[ClientStatistics] = []
            for item in parsed:
                rule = by_name.get(item.rule_name)
                if rule is None:
                    item = replace(item, known_rule=False)
                    unprocessed.append(
                        {"RuleName": item.rule_name, "ErrorCode": "400", "Message": f"no sampling rule named {item.rule_name!r}"}
                    )
                    stats.append(item)
                    continue
                stats.append(item)
                totals = self.totals.setdefault(rule.rule_name, Counter())
                totals["RequestCount"] += item.request_count
                totals["SampledCount"] += item.sampled_count
                totals["BorrowCount"] += item.borrow_count
                if item.request_count > 0:
                    self._activity.setdefault(rule.rule_name, {})[item.client_id] = now
                first = item.client_id not in self._reported.setdefault(rule.rule_name, set())
                self._reported[rule.rule_name].add(item.client_id)
                target: Dict[str, Any] = {"RuleName": rule.rule_name, "FixedRate": rule.fixed_rate, "Interval": self.interval}
                if not (first and self.withhold_first_quota):
                    target["ReservoirQuota"] = self._quota(rule, item.client_id, now)
                    target["ReservoirQuotaTTL"] = now + self.quota_ttl
                targets.append(target)
            self.received.extend(stats)
            last_modification = self._last_modification
        if self._on_statistics is not None:
            by_client: Dict[str, List[ClientStatistics]] = {}
            for item in stats:
                by_client.setdefault(item.client_id, []).append(item)
            for client_id, items in by_client.items():
                self._on_statistics(client_id, items)
        return {
            "SamplingTargetDocuments": targets,
            "LastRuleModification": last_modification,
            "UnprocessedStatistics": unprocessed,
            "UnprocessedBoostStatistics": [],
        }

    def _quota(self, rule: SamplingRule, client_id: str, now: float) -> int:
        active = self._active_locked(rule.rule_name, now)
        if client_id not in active:
            active = sorted(active + [client_id])
        share, remainder = divmod(rule.reservoir_size, len(active))
        return share + (1 if active.index(client_id) < remainder else 0)

    def active_clients(self, rule_name: str) -> List[str]:
        """The clients that reported requests for the rule in the last three intervals, which share its reservoir."""
        now = self._clock()
        with self._lock:
            return self._active_locked(rule_name, now)

    def _active_locked(self, rule_name: str, now: float) -> List[str]:
        seen = self._activity.get(rule_name, {})
        return sorted(client for client, at in seen.items() if now - at <= 3 * self.interval)

    @staticmethod
    def _parse_document(document: Any, index: int, now: float) -> ClientStatistics:
        where = f"SamplingStatisticsDocuments[{index}]"
        if not isinstance(document, Mapping):
            raise ApiError(f"{where} must be an object")
        name = document.get("RuleName")
        if not isinstance(name, str) or not 1 <= len(name) <= 32:
            raise ApiError(f"{where}: RuleName must be 1-32 characters, got {name!r}")
        client = document.get("ClientID")
        if not isinstance(client, str) or not _CLIENT_ID.match(client):
            raise ApiError(f"{where}: ClientID must be 24 hexadecimal characters, got {client!r}")
        if "Timestamp" not in document:
            raise ApiError(f"{where}: Timestamp is required")
        stamp = epoch_seconds(document["Timestamp"])
        if stamp is None:
            raise ApiError(f"{where}: Timestamp must be epoch seconds or an ISO-8601 date-time, got {document['Timestamp']!r}")
        flags: List[str] = []
        requests = _count(document, "RequestCount", where)
        if "SampledCount" in document:
            sampled = _count(document, "SampledCount", where)
        elif "SampleCount" in document:
            sampled = _count(document, "SampleCount", where)
            flags.append("sent SampleCount; the API's member is SampledCount")
        else:
            raise ApiError(f"{where}: SampledCount is required")
        borrowed = _count(document, "BorrowCount", where, required=False)
        if sampled > requests or borrowed > sampled:
            flags.append("counts do not add up (expected BorrowCount <= SampledCount <= RequestCount)")
        return ClientStatistics(client, name, requests, sampled, borrowed, stamp, now, tuple(flags))


def sampling_routes(service: SamplingRulesService) -> HttpRoutes:
    """The two operations, as routes to serve (merge them with others' with :meth:`HttpRoutes.merge`)."""
    return HttpRoutes(
        post_json={
            "/GetSamplingRules": service.get_sampling_rules,
            "/SamplingTargets": service.sampling_targets,
        }
    )


def format_statistics(client_id: str, documents: Sequence[ClientStatistics]) -> str:
    """One line per report, for the daemon's output."""
    parts = []
    for item in documents:
        text = f"{item.rule_name}: {item.request_count} request(s), {item.sampled_count} sampled, {item.borrow_count} borrowed"
        if not item.known_rule:
            text += " (no such rule)"
        if item.flags:
            text += " [" + "; ".join(item.flags) + "]"
        parts.append(text)
    return f"sampling statistics from client {client_id}: " + "; ".join(parts)
