"""Outage measures that the client's speed cannot bend (issue 18, item 4).

Counting failures measures the client as much as the service: under a closed loop a refused
connection fails in under a millisecond and the user sends its next request at once, so a short
outage of fast refusals makes hundreds of failures while a longer outage of slow failures makes
few. These measures are in seconds of the service's time instead:

- an outage stretch: the time between two consecutive successful requests (by their ``end``,
  the moment the client learned the service worked) with at least one failure (by its ``end``)
  between them. Before the first success the stretch starts at the window's start, after the
  last one it ends at the window's end. A lone success with failures on both sides (a request
  that was in flight when the outage began) does not split it. ``total_s`` sums the stretches,
  ``longest_s`` is the longest; many failures inside one stretch add nothing;
- per deletion: the stretches that overlap the deletion's window [delete call, window end];
- per user (``user`` of the records: the locust user's number): the longest wait from a failed
  request's start to that user's next success (to the window's end when none came); users that
  never failed waited 0. A user's requests are sequential, so its records come in order;
- failures per offered second: failed / offered rate, the seconds of offered load lost. Only a
  paced load has an offered rate that does not depend on the service (``None`` under a closed
  loop).

Streaming: ``OutageScan`` takes one sample at a time and keeps the successes' and failures' end
times (8 bytes each, like the latency samples of harness.analysis.scan) and two numbers per
user, never the records; records are written roughly in end order, not strictly, so the times
are sorted once at the end.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.analysis.stats import finite_sorted, percentile
from harness.load.pacing import Load
from harness.samples import Sample


@dataclass(frozen=True, slots=True)
class Stretch:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


class OutageScan:
    """Feed it every request's ``Sample`` (any order across users, in order per user)."""

    def __init__(self) -> None:
        self.failed = 0
        self._successes: array[float] = array("d")
        self._failures: array[float] = array("d")
        self._waiting_since: dict[int, float] = {}  # user -> start of its first unanswered failure
        self._longest_wait: dict[int, float] = {}  # user -> its longest wait so far (0: none)

    def add(self, start: float, end: float, failed: bool, user: int | None) -> None:
        if failed:
            self.failed += 1
            self._failures.append(end)
            if user is not None:
                self._waiting_since.setdefault(user, start)
                self._longest_wait.setdefault(user, 0.0)
        else:
            self._successes.append(end)
            if user is not None:
                since = self._waiting_since.pop(user, None)
                longest = self._longest_wait.get(user, 0.0)
                if since is not None:
                    longest = max(longest, end - since)
                self._longest_wait[user] = longest

    def add_all(self, samples: Iterable[Sample]) -> None:
        add = self.add
        for start, end, failed, user in samples:
            add(start, end, failed, user)

    def stretches(self, window: tuple[float, float]) -> list[Stretch]:
        """The outage stretches, sorted and disjoint."""
        successes = finite_sorted(self._successes)
        failures = finite_sorted(self._failures)
        # Each failure's gap: how many successes ended at or before it; a gap is one stretch
        # however many failures it holds.
        gaps = np.unique(np.searchsorted(successes, failures, side="right"))
        first, last = window
        found: list[Stretch] = []
        previous = -2
        for gap in gaps.tolist():
            start = float(successes[gap - 1]) if gap > 0 else min(first, float(failures[0]))
            end = float(successes[gap]) if gap < len(successes) else max(last, float(failures[-1]))
            if gap == previous + 1:  # one lone success between failures: the same outage
                found[-1] = Stretch(found[-1].start, end)
            else:
                found.append(Stretch(start, end))
            previous = gap
        return found

    def user_waits(self, until: float) -> list[float]:
        """Each user's longest wait; a wait still open at the end runs to ``until``."""
        waits = dict(self._longest_wait)
        for user, since in self._waiting_since.items():
            waits[user] = max(waits[user], until - since)
        return list(waits.values())


def outage_block(
    scan: OutageScan,
    deletion_windows: Sequence[tuple[str, float, float]],
    window: tuple[float, float],
    load: Load,
) -> dict[str, Any]:
    """orders.<v>.outage of summary.json; ``deletion_windows``: (pod, delete call, window end)
    per deletion, in per_deletion's order (an open window ends at infinity)."""
    stretches = scan.stretches(window)
    waits = finite_sorted(scan.user_waits(window[1]))
    rate = load.offered_rate_per_s
    return {
        "load_model": load.model,
        "offered_rate_per_s": rate,
        "total_s": sum((s.seconds for s in stretches), 0.0),
        "longest_s": max((s.seconds for s in stretches), default=0.0),
        "stretches": len(stretches),
        "per_deletion": [
            {"pod": pod, "ts": ts, "no_success_s": _overlapping_s(stretches, ts, window_end)}
            for pod, ts, window_end in deletion_windows
        ],
        "user_wait_s": {
            "users": len(waits),
            "p50": percentile(waits, 50),
            "max": float(waits[-1]) if len(waits) else None,
        },
        "failures_per_offered_s": scan.failed / rate if rate else None,
    }


def _overlapping_s(stretches: Sequence[Stretch], start: float, end: float) -> float:
    """The seconds of the stretches that overlap [start, end], each counted whole: an outage
    that began just before the delete call is the deletion's all the same."""
    ends = [s.end for s in stretches]
    total = 0.0
    for stretch in stretches[bisect_right(ends, start) :]:
        if stretch.start >= end:
            break
        total += stretch.seconds
    return total


# -- Ranking ------------------------------------------------------------------------------------


def rank(outages: dict[str, dict[str, Any]]) -> list[str]:
    """Variants best first: by total outage, then failures per second of offered load (unknown
    last), then name. A variant without an outage block (an older summary) comes last."""

    def key(variant: str) -> tuple[float, float, str]:
        block = outages.get(variant) or {}
        total = block.get("total_s")
        per_offered = block.get("failures_per_offered_s")
        return (
            math.inf if total is None else float(total),
            math.inf if per_offered is None else float(per_offered),
            variant,
        )

    return sorted(outages, key=key)


def ranking_reasons(outages: dict[str, dict[str, Any]], ranking: list[str]) -> dict[str, str]:
    """One sentence per variant saying why it ranks where it does."""
    reasons = {}
    for place, variant in enumerate(ranking, start=1):
        block = outages.get(variant) or {}
        head = f"{variant} ranks {_ordinal(place)} of {len(ranking)}"
        if block.get("total_s") is None:
            reasons[variant] = f"{head}: no outage measures (a summary from an older drainlab)."
            continue
        what = _measures(block)
        if place == 1:
            reasons[variant] = f"{head}: {what}."
            continue
        above = ranking[place - 2]
        other = outages.get(above) or {}
        if not _same(block.get("total_s"), other.get("total_s")):
            why = f"a longer outage than {above} ({other.get('total_s', 0.0):.2f} s)"
        elif not _same(block.get("failures_per_offered_s"), other.get("failures_per_offered_s")):
            why = f"the same outage as {above}, more seconds of offered load lost"
        else:
            why = f"level with {above} on both measures (listed by name)"
        reasons[variant] = f"{head}: {what}; {why}."
    return reasons


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _measures(block: dict[str, Any]) -> str:
    total, stretches = block["total_s"], block["stretches"]
    if not stretches:
        text = "no time without a successful request"
    else:
        text = (
            f"{total:.2f} s without a successful request in {stretches} "
            f"stretch{'es' if stretches != 1 else ''} (longest {block['longest_s']:.2f} s)"
        )
    lost = block.get("failures_per_offered_s")
    if lost is not None:
        text += f", {lost:.2f} s of offered load lost"
    else:
        text += " (closed loop: no offered rate, so failures per offered second are unknown)"
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
