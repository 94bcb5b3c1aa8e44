"""One rule's decisions: its reservoir (targets, borrowing), its fixed rate and its statistics.

As the X-Ray SDKs decide (SP21, SP22), per root request that matched the rule:

1. **Reservoir.** While the quota from the last target is fresh (its TTL not
   passed), up to ``ReservoirQuota`` requests are sampled per clock second.
2. **Borrowing.** Before the first quota, and after one expires, a rule with
   ``ReservoirSize > 0`` samples ("borrows") one request per second.
3. **Fixed rate.** Otherwise the request is sampled with probability
   ``FixedRate`` (the target's, once one arrived), decided on the trace ID as
   OpenTelemetry's ``TraceIdRatioBased`` does, so a trace ID gets the same
   verdict wherever it is decided.

Statistics: every decision counts a request; every sampled one (borrowed
included, as the API documents it) counts as sampled; borrowed ones also count
as borrowed. :meth:`RuleState.take_statistics` reads and resets them.
A local rule (aws-xray-sdk file) is a fixed per-process reservoir of
``fixed_target`` per second, then ``rate``; it never borrows or reports.

Internal: the public names are those of ``otel_xray.sampling``, which imports
them from here.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping, NamedTuple, Optional

from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from ..values import json_int, json_number
from .rules import SamplingRule

# TraceIdRatioBased compares the trace ID's low 64 bits with rate * 2**64.
TRACE_ID_MASK = (1 << 64) - 1
_NEVER = float("-inf")
_FOREVER = float("inf")


def rate_bound(rate: float) -> int:
    return int(TraceIdRatioBased.get_bound_for_rate(rate))


class RuleStatistics(NamedTuple):
    rule_name: str
    request_count: int
    sampled_count: int
    borrow_count: int


class RuleState:
    """Reservoir, rate and counters of one rule; thread-safe."""

    __slots__ = (
        "rule",
        "_lock",
        "_can_borrow",
        "_quota",
        "_quota_expires",
        "_bound",
        "_second",
        "_taken",
        "_borrowed_this_second",
        "_requests",
        "_sampled",
        "_borrowed",
    )

    def __init__(self, rule: SamplingRule, local: bool = False) -> None:
        self.rule = rule
        self._lock = threading.Lock()
        self._reset_reservoir(local)
        self._requests = self._sampled = self._borrowed = 0

    def _reset_reservoir(self, local: bool = False) -> None:
        rule = self.rule
        self._can_borrow = rule.reservoir_size > 0 and not local
        # A local rule's reservoir is its own fixed_target, never expiring.
        self._quota: Optional[int] = rule.reservoir_size if local else None
        self._quota_expires = _FOREVER if local else _NEVER
        self._bound = rate_bound(rule.fixed_rate)
        self._second = -1
        self._taken = 0
        self._borrowed_this_second = 0

    # -- the decision ----------------------------------------------------------
    def sample(self, trace_id: int, now: float) -> bool:
        """Decide one root request that matched this rule, and count it."""
        with self._lock:
            self._requests += 1
            second = int(now)
            if second != self._second:
                self._second = second
                self._taken = 0
                self._borrowed_this_second = 0
            quota = self._quota
            if quota is not None and now <= self._quota_expires:
                if self._taken < quota:
                    self._taken += 1
                    self._sampled += 1
                    return True
            elif self._can_borrow and self._borrowed_this_second < 1:
                self._borrowed_this_second += 1
                self._sampled += 1
                self._borrowed += 1
                return True
            if trace_id & TRACE_ID_MASK < self._bound:
                self._sampled += 1
                return True
            return False

    # -- targets and statistics ------------------------------------------------
    def apply_target(self, target: Mapping[str, Any]) -> None:
        """A ``SamplingTargetDocument``: new quota and TTL (each when present), new fixed rate."""
        quota = json_int(target.get("ReservoirQuota"))
        ttl = json_number(target.get("ReservoirQuotaTTL"))
        rate = json_number(target.get("FixedRate"))
        with self._lock:
            if rate is not None and 0 <= rate <= 1:
                self._bound = rate_bound(rate)
            if quota is not None and quota >= 0:
                self._quota = quota
            if ttl is not None:
                self._quota_expires = ttl

    def take_statistics(self) -> RuleStatistics:
        with self._lock:
            counts = RuleStatistics(self.rule.rule_name, self._requests, self._sampled, self._borrowed)
            self._requests = self._sampled = self._borrowed = 0
        return counts

    def add_statistics(self, counts: RuleStatistics) -> None:
        """Carry unreported counts over (from the state this one replaces, or from a failed report)."""
        with self._lock:
            self._requests += counts.request_count
            self._sampled += counts.sampled_count
            self._borrowed += counts.borrow_count

    def after_fork(self) -> None:
        """In a forked child: a new lock (the parent's may have been held), no counts, borrowing again."""
        self._lock = threading.Lock()
        self._reset_reservoir(local=self._quota_expires == _FOREVER)
        self._requests = self._sampled = self._borrowed = 0

    @property
    def reservoir(self) -> str:
        """What the reservoir does now, for people: ``"quota 3/s until 1700000000"``, ``"borrowing 1/s"``…"""
        if self._quota_expires == _FOREVER:
            return f"{self._quota}/s (local)"
        if self._quota is not None and self._quota_expires != _NEVER:
            return f"quota {self._quota}/s until {self._quota_expires:.0f}"
        return "borrowing 1/s" if self._can_borrow else "none"
