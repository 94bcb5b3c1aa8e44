"""``XRayRemoteSampler``: X-Ray sampling rules, polled through the daemon, decide which traces are sampled.

Decision path (the application's thread; never touches the network, never raises):

* a span with a valid parent follows the parent's decision (parent-based);
* a root span is matched against the rules (priority, then name) and the first
  match decides (:mod:`.reservoir`); its statistics are counted per trace;
* until rules arrive, once they are older than an hour, and when none
  matches, the fallback decides: the aws-xray-sdk local rules given as
  ``fallback_rules``, by default 1 request/s plus 5%.

Polling (one daemon thread per process, started on the first decision, again
in a forked child with its own client ID and statistics, stopped by
:meth:`XRayRemoteSampler.shutdown`): rules at once and then every
``polling_interval`` (300 s) plus up to 5 s of jitter; statistics and targets
after 10 s plus up to 0.1 s, then at the shortest ``Interval`` the service
returns; rules again as soon as a target says they changed.

Internal: the public names are those of ``otel_xray.sampling``, which imports
them from here.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from .. import _fork
from ..config import parse_sampler_arg, sampler_settings
from ..values import json_number
from .client import MAX_STATISTICS_PER_CALL, SamplingApiError, SamplingClient
from .local import DEFAULT_LOCAL_RULES, LocalRules, load_local_rules
from .matching import CompiledRule, Matcher, ResourceFacts, compile_matcher, compile_rule, request_values, resource_facts
from .reservoir import RuleState, RuleStatistics
from .rules import SamplingRule, parse_rule, sort_rules

_logger = logging.getLogger("otel_xray.sampling")

#: Rules not refreshed for this long are no longer used: the fallback decides (SP24).
RULES_CACHE_TTL = 3600.0
TARGETS_INTERVAL = 10.0
_RULES_JITTER = 5.0
_TARGETS_JITTER = 0.1
#: A failure to fetch rules is logged as a WARNING at most this often while it lasts.
_WARNING_INTERVAL = 3600.0

# A dropped root span is not recorded: of the result only its decision and trace state (None) are read.
_DROPPED = SamplingResult(Decision.DROP)

FallbackRules = Union[str, "os.PathLike[str]", Mapping[str, Any], LocalRules]
_EMPTY: Mapping[str, Any] = {}


def new_client_id() -> str:
    """24 lower-case hex characters, as the X-Ray SDKs make it."""
    return os.urandom(12).hex()


class _Decider(NamedTuple):
    """Rules ready to decide: the generated matcher and, by the index it returns, each rule's state."""

    match: Matcher
    states: Tuple[RuleState, ...]


def _decider(compiled: Sequence[Tuple[CompiledRule, RuleState]]) -> _Decider:
    usable = [(c, state) for c, state in compiled if c.resource_ok]
    return _Decider(compile_matcher([c for c, _ in usable]), tuple(state for _, state in usable))


_NO_RULES = _Decider(lambda path, method, host, attributes: -1, ())


class XRayRemoteSampler(Sampler):
    """Sample as the X-Ray sampling rules say, polling them through the X-Ray daemon.

    ``resource``: what ServiceName, ServiceType and ResourceARN rules match
    (``service.name``, ``cloud.platform``, ``aws.ecs.container.arn``…). Left
    out, it is the resource of the global tracer provider when that provider
    uses this sampler (so ``OTEL_TRACES_SAMPLER=xray`` works), else the one
    ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` describe, found on
    the first decision.

    ``endpoint``: the daemon's TCP address, ``http://host:port`` or
    ``host:port``; default the ``tcp`` part of ``AWS_XRAY_DAEMON_ADDRESS``,
    else its address, else ``127.0.0.1:2000``.

    ``polling_interval``: seconds between rule fetches (default 300).

    ``fallback_rules``: an aws-xray-sdk local rules file (path, or its parsed
    dict; version 1 or 2) deciding while central rules are unavailable; by
    default 1 request/s plus 5%.

    ``targets_interval``: seconds before the first statistics report (default
    10; the service's ``Interval`` decides after that). ``timeout``: seconds
    per HTTP call (default 2). ``clock``: epoch seconds (tests inject one).
    ``poll``: ``False`` starts no thread; rules and targets are then fetched
    only by :meth:`fetch_rules` and :meth:`fetch_targets`.
    """

    def __init__(
        self,
        resource: Optional[Resource] = None,
        endpoint: Optional[str] = None,
        polling_interval: Optional[float] = None,
        fallback_rules: Optional[FallbackRules] = None,
        *,
        targets_interval: Optional[float] = None,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
        poll: bool = True,
    ) -> None:
        settings = sampler_settings(endpoint=endpoint, polling_interval=polling_interval)
        self._client = SamplingClient(settings.host, settings.port, timeout=timeout)
        self._polling_interval = settings.polling_interval
        self._targets_interval = TARGETS_INTERVAL if targets_interval is None else float(targets_interval)
        if not self._targets_interval > 0:
            raise ValueError(f"targets_interval must be a positive number of seconds, got {targets_interval!r}")
        self._fallback_rules = DEFAULT_LOCAL_RULES if fallback_rules is None else load_local_rules(fallback_rules)
        self._resource = resource
        self._resource_facts: Optional[ResourceFacts] = None
        self._clock = clock
        self._poll = poll
        self._random = random.Random()

        self._lock = threading.Lock()  # rules, resource, start/stop
        self.client_id = new_client_id()
        self._states: Dict[str, RuleState] = {}
        self._rules: Tuple[SamplingRule, ...] = ()
        self._active = _NO_RULES
        self._rules_expire_at = float("-inf")
        self._rules_fetched_at: Optional[float] = None
        self._rules_modified_at = float("-inf")
        fallback_states = [RuleState(rule, local=True) for rule in self._fallback_rules.to_sampling_rules()]
        neutral = ResourceFacts("", "", "")
        self._fallback = _decider([(compile_rule(s.rule, neutral), s) for s in fallback_states])

        self._started = False
        self._stopping = False
        self._thread: Optional[threading.Thread] = None
        self._wake = threading.Event()
        self._next_rules = 0.0
        self._next_targets = 0.0
        self._warned: Dict[str, float] = {}
        self._decision_failed = False
        _fork.reset_after_fork(self)

    # -- the decision ----------------------------------------------------------
    def should_sample(
        self,
        parent_context: Optional[Context],
        trace_id: int,
        name: str,
        kind: Optional[SpanKind] = None,
        attributes: Attributes = None,
        links: Optional[Sequence[Link]] = None,
        trace_state: Optional[TraceState] = None,
    ) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        if parent.is_valid:
            # The SDK gives a recorded span the result's attributes, and its trace state.
            if parent.trace_flags.sampled:
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, parent.trace_state)
            return SamplingResult(Decision.DROP, None, parent.trace_state)
        if not self._started:
            self._start()
        try:
            return self._decide_root(trace_id, attributes)
        except Exception:  # a bug here must not reach the application: drop, and say so once
            if not self._decision_failed:
                self._decision_failed = True
                _logger.exception("X-Ray sampler failed to decide; root spans are dropped while this lasts")
            return _DROPPED

    def _decide_root(self, trace_id: int, attributes: Attributes) -> SamplingResult:
        now = self._clock()
        path, method, host = request_values(attributes)
        if path is not None:
            path = path.lower()
        if method is not None:
            method = method.lower()
        if host is not None:
            host = host.lower()
        if attributes is None:
            attributes = _EMPTY
        decider = self._active if now < self._rules_expire_at else _NO_RULES
        index = decider.match(path, method, host, attributes)
        if index < 0:
            decider = self._fallback
            index = decider.match(path, method, host, attributes)
            if index < 0:  # never: the fallback's default matches everything
                return _DROPPED
        if decider.states[index].sample(trace_id, now):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return _DROPPED

    def get_description(self) -> str:
        return f"XRayRemoteSampler{{endpoint={self._client.url}}}"

    # -- what it holds, for people and tests -----------------------------------
    @property
    def endpoint(self) -> str:
        return self._client.url

    @property
    def rules(self) -> Tuple[SamplingRule, ...]:
        """The rules last fetched, in the order they are tried (empty before the first fetch)."""
        return self._rules

    @property
    def rules_fresh(self) -> bool:
        """Whether the fetched rules decide now (``False``: the fallback does)."""
        return self._clock() < self._rules_expire_at

    @property
    def fallback_rules(self) -> LocalRules:
        return self._fallback_rules

    @property
    def polling(self) -> bool:
        """Whether this process's polling thread is running."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    # -- starting, stopping, forking ------------------------------------------
    def _start(self) -> None:
        """First decision in this process: find the resource, start the poller. Never raises."""
        with self._lock:
            if self._started:
                return
            try:
                self._ensure_resource()
                if self._poll and not self._stopping:
                    self._next_rules = 0.0
                    self._next_targets = time.monotonic() + self._targets_interval + self._jitter(_TARGETS_JITTER)
                    thread = threading.Thread(
                        target=_poll_loop,
                        args=(weakref.ref(self), self._wake),
                        name="otel-xray-sampling",
                        daemon=True,
                    )
                    thread.start()
                    self._thread = thread
            except Exception:  # the application must not notice
                _logger.exception("X-Ray sampler could not start; sampling with the fallback")
            finally:
                self._started = True

    def _ensure_resource(self) -> ResourceFacts:
        facts = self._resource_facts
        if facts is None:
            resource = self._resource
            if resource is None:
                resource = _provider_resource(self)
                self._resource = resource
            facts = resource_facts(resource.attributes)
            self._resource_facts = facts
            if self._rules:
                self._active = _decider([(compile_rule(r, facts), self._states[r.rule_name]) for r in self._rules])
        return facts

    def shutdown(self) -> None:
        """Stop polling (decisions go on with the rules held, until they expire)."""
        with self._lock:
            self._stopping = True
            thread, self._thread = self._thread, None
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self._client.timeout + 1)

    def _after_fork_in_child(self) -> None:
        # Locks may have been held by threads that do not exist here; the poller is gone.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._started = False
        self.client_id = new_client_id()
        self._warned = {}
        for state in self._states.values():
            state.after_fork()
        for state in self._fallback.states:
            state.after_fork()

    # -- polling ---------------------------------------------------------------
    def _jitter(self, most: float) -> float:
        return self._random.uniform(0, most)

    def _poll_due(self) -> float:
        """Run the polls that are due; seconds until the next one."""
        now = time.monotonic()
        if now >= self._next_rules:
            self.fetch_rules()
            self._next_rules = time.monotonic() + self._polling_interval + self._jitter(_RULES_JITTER)
        if now >= self._next_targets:
            interval = self.fetch_targets()
            self._next_targets = time.monotonic() + interval + self._jitter(_TARGETS_JITTER)
        self._warn_if_expired()
        return max(0.0, min(self._next_rules, self._next_targets) - time.monotonic())

    def fetch_rules(self) -> bool:
        """Fetch the rules now (the poller does this on its own); ``True`` when new rules were installed."""
        try:
            records = self._client.get_sampling_rules()
        except SamplingApiError as exc:
            self._failed("rules", f"cannot fetch X-Ray sampling rules: {exc}")
            return False
        rules: List[SamplingRule] = []
        modified = float("-inf")
        for index, record in enumerate(records):
            try:
                rule = parse_rule(record, index, strict=False)
            except ValueError as exc:
                _logger.debug("X-Ray sampling rule skipped: %s", exc)
                continue
            if rule.version != 1:
                _logger.debug("X-Ray sampling rule %s skipped: Version %s (only 1 is used)", rule.rule_name, rule.version)
                continue
            rules.append(rule)
            stamp = json_number(record.get("ModifiedAt")) if isinstance(record, Mapping) else None
            if stamp is not None:
                modified = max(modified, stamp)
        if not rules:
            self._failed("rules", f"{self._client.url}/GetSamplingRules answered no usable rule")
            return False
        self._install(sort_rules(rules), modified)
        self._recovered("rules", f"X-Ray sampling rules from {self._client.url}: {len(rules)} rule(s)")
        return True

    def _install(self, rules: Tuple[SamplingRule, ...], modified: float) -> None:
        """Replace the rules; an unchanged rule keeps its state, a changed one keeps its unreported counts."""
        with self._lock:
            facts = self._ensure_resource()
            states: Dict[str, RuleState] = {}
            for rule in rules:
                old = self._states.get(rule.rule_name)
                if old is not None and old.rule == rule:
                    states[rule.rule_name] = old
                    continue
                state = RuleState(rule)
                if old is not None:
                    state.add_statistics(old.take_statistics())
                states[rule.rule_name] = state
            self._active = _decider([(compile_rule(rule, facts), states[rule.rule_name]) for rule in rules])
            self._states = states
            self._rules = rules
            now = self._clock()
            self._rules_fetched_at = now
            self._rules_expire_at = now + RULES_CACHE_TTL
            self._rules_modified_at = max(self._rules_modified_at, modified)
            self._warned.pop("expired", None)

    def statistics(self) -> List[RuleStatistics]:
        """Read and reset every rule's counters (what :meth:`fetch_targets` reports)."""
        return [state.take_statistics() for state in list(self._states.values())]

    def fetch_targets(self) -> float:
        """Report statistics and apply the targets answered now; returns seconds until the next report.

        Only rules with requests are reported; nothing is sent when none has any.
        """
        now = self._clock()
        documents = [
            {
                "RuleName": counts.rule_name,
                "ClientID": self.client_id,
                "Timestamp": now,
                "RequestCount": counts.request_count,
                "SampledCount": counts.sampled_count,
                "BorrowCount": counts.borrow_count,
            }
            for counts in self.statistics()
            if counts.request_count > 0
        ]
        intervals: List[float] = []
        last_modification = float("-inf")
        for start in range(0, len(documents), MAX_STATISTICS_PER_CALL):
            try:
                answer = self._client.get_sampling_targets(documents[start : start + MAX_STATISTICS_PER_CALL])
            except SamplingApiError as exc:
                # The counts are dropped, as the X-Ray SDKs drop them: the next report covers its own interval.
                self._failed(
                    "targets",
                    f"cannot report X-Ray sampling statistics: {exc}; without quotas from X-Ray each rule "
                    "borrows 1 request/s, then applies its fixed rate",
                )
                continue
            self._recovered("targets", None)
            for target in answer.get("SamplingTargetDocuments") or ():
                if not isinstance(target, Mapping):
                    continue
                state = self._states.get(target.get("RuleName"))  # type: ignore[arg-type]
                if state is None:
                    continue
                state.apply_target(target)
                interval = json_number(target.get("Interval"))
                if interval is not None and interval > 0:
                    intervals.append(interval)
            for unprocessed in answer.get("UnprocessedStatistics") or ():
                _logger.debug("X-Ray did not process sampling statistics: %s", unprocessed)
            stamp = json_number(answer.get("LastRuleModification"))
            if stamp is not None:
                last_modification = max(last_modification, stamp)
        if last_modification > self._rules_modified_at:
            # The rules changed at the service: fetch them at the next turn of the loop, not in 5 minutes.
            self._rules_modified_at = last_modification
            self._next_rules = 0.0
            self._wake.set()
        return min(intervals) if intervals else TARGETS_INTERVAL

    # -- logging that stays quiet ----------------------------------------------
    def _failed(self, what: str, message: str) -> None:
        now = time.monotonic()
        last = self._warned.get(what)
        # While rules cannot be fetched, the warning about that says enough.
        quiet = what == "targets" and "rules" in self._warned
        if quiet or (last is not None and now - last < _WARNING_INTERVAL):
            _logger.debug("%s", message)
            return
        self._warned[what] = now
        if what == "rules":
            fallback = f"the fallback ({self._fallback_rules.describe()})"
            fetched = self._rules_fetched_at
            if not self._rules or fetched is None:
                message += f"; sampling with {fallback} until they arrive"
            else:
                message += (
                    f"; keeping the {len(self._rules)} rule(s) fetched {self._clock() - fetched:.0f} s ago "
                    f"until they are an hour old, then {fallback}"
                )
        _logger.warning("%s", message)

    def _recovered(self, what: str, message: Optional[str]) -> None:
        if self._warned.pop(what, None) is not None and message is not None:
            _logger.info("%s", message)

    def _warn_if_expired(self) -> None:
        if self._rules and self._clock() >= self._rules_expire_at and "expired" not in self._warned:
            self._warned["expired"] = time.monotonic()
            _logger.warning(
                "X-Ray sampling rules were last fetched over %d s ago; sampling with the fallback (%s)",
                RULES_CACHE_TTL,
                self._fallback_rules.describe(),
            )


def _provider_resource(sampler: XRayRemoteSampler) -> Resource:
    """The global SDK tracer provider's resource when it samples with ``sampler``.

    Else what ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` say (read by
    the SDK's own detector): not ``Resource.create()``, whose configured
    detectors may wait on the network, which a decision must never do.
    """
    from opentelemetry import trace
    from opentelemetry.sdk.resources import OTELResourceDetector

    provider = trace.get_tracer_provider()
    resource = getattr(provider, "resource", None)
    if getattr(provider, "sampler", None) is sampler and isinstance(resource, Resource):
        return resource
    return OTELResourceDetector().detect()


def _poll_loop(ref: "weakref.ReferenceType[XRayRemoteSampler]", wake: threading.Event) -> None:
    """The polling thread: holds the sampler only while polling, so a dropped sampler ends it."""
    while True:
        sampler = ref()
        if sampler is None or sampler._stopping or sampler._wake is not wake:
            return
        try:
            delay = sampler._poll_due()
        except Exception:  # a bug must not kill polling for good
            _logger.exception("X-Ray sampling poll failed")
            delay = TARGETS_INTERVAL
        del sampler
        wake.wait(delay)
        wake.clear()


def xray_sampler_from_arg(arg: Optional[str] = None) -> XRayRemoteSampler:
    """The ``opentelemetry_traces_sampler`` entry point ``xray``: ``OTEL_TRACES_SAMPLER_ARG`` -> a sampler.

    ``endpoint=http://127.0.0.1:2000,polling_interval=300,fallback_rules=/path/rules.json``
    (every key optional). The resource is found on the first decision.
    """
    return XRayRemoteSampler(**parse_sampler_arg(arg))  # type: ignore[arg-type]
