"""The performance targets (issue 16) and the summary table ``make bench`` ends with.

Every target is a ratio of two figures measured in the same run, in
alternating rounds; each round gives one ratio, and the summary shows the
median with the spread (lowest and highest) of the per-round ratios.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple


@dataclass
class Outcome:
    target: str  # "1", "2", ... as numbered in the issue
    what: str
    ratio: float  # the median of the per-round ratios (nan when skipped)
    limit: float  # met when ratio <= limit
    spread: Tuple[float, float] = (float("nan"), float("nan"))
    rounds: int = 0
    skipped: str = ""

    @property
    def met(self) -> Optional[bool]:
        return None if self.skipped else self.ratio <= self.limit

    @property
    def verdict(self) -> str:
        if self.skipped:
            return "skipped"
        return "met" if self.met else "NOT MET"

    def describe(self) -> str:
        """``0.31x (0.28-0.35, 9 rounds; target <= 0.35: met)``."""
        if self.skipped:
            return f"skipped: {self.skipped}"
        low, high = self.spread
        spread = f"{low:.2f}-{high:.2f}, {self.rounds} rounds; " if self.rounds else ""
        return f"{self.ratio:.2f}x ({spread}target <= {self.limit:g}: {self.verdict})"


OUTCOMES: List[Outcome] = []


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> List[float]:
    """Per-round ratios of two figures measured in the same rounds."""
    return [a / b for a, b in zip(numerators, denominators) if b]


def record(target: str, what: str, per_round: Sequence[float], limit: float) -> Outcome:
    """Record a target from its per-round ratios."""
    outcome = Outcome(target, what, statistics.median(per_round), limit, (min(per_round), max(per_round)), len(per_round))
    OUTCOMES.append(outcome)
    return outcome


def record_value(target: str, what: str, ratio: float, limit: float) -> Outcome:
    """Record a target measured once (bytes, which do not vary between rounds)."""
    outcome = Outcome(target, what, ratio, limit)
    OUTCOMES.append(outcome)
    return outcome


def skip(target: str, what: str, reason: str, limit: float) -> Outcome:
    outcome = Outcome(target, what, float("nan"), limit, skipped=reason)
    OUTCOMES.append(outcome)
    return outcome


def print_summary(header: str = "") -> None:
    if not OUTCOMES:
        return
    print("\nSummary: the targets of issue 16 (each a ratio measured in this run; median and spread of per-round ratios)")
    if header:
        print(f"  {header}")
    width = max(len(outcome.what) for outcome in OUTCOMES)
    print(f"  {'#':2s} {'what'.ljust(width)}  {'ratio':>7s}  {'spread':>11s}  {'target':>8s}  verdict")
    for outcome in OUTCOMES:
        if outcome.skipped:
            print(f"  {outcome.target:2s} {outcome.what.ljust(width)}  {'-':>7s}  {'':>11s}  {'<= %g' % outcome.limit:>8s}  skipped ({outcome.skipped})")
            continue
        low, high = outcome.spread
        spread = f"{low:.2f}-{high:.2f}" if outcome.rounds else "(exact)"
        print(
            f"  {outcome.target:2s} {outcome.what.ljust(width)}  {outcome.ratio:6.2f}x  {spread:>11s}  "
            f"{'<= %g' % outcome.limit:>8s}  {outcome.verdict}"
        )
    met = sum(1 for outcome in OUTCOMES if outcome.met)
    counted = sum(1 for outcome in OUTCOMES if not outcome.skipped)
    print(f"  {met} of {counted} measured targets met")
