"""The soak benchmark's judgement, as pure functions: is a series flat, do the counts agree.

The rule for "flat" (bench/RESULTS.md states it with the figures):

- Only samples taken while locust ran count (the load window), and of those only the second
  half: the first half is warm-up (allocator arenas, connection pools and caches grow to their
  working size), which is not a leak.
- Memory: the least-squares slope of RSS over that second half, in MiB per 10 minutes, must not
  exceed ``max_rss_slope_mib_per_10min``. A leak of a few hundred bytes per request or a few
  KiB per pod deletion shows as a steady slope; allocator noise does not.
- Open files other than sockets (run files, pod logs, pipes to the pods): over the same half,
  the largest count minus the smallest must not exceed ``max_fd_spread``, and the largest must
  not exceed the first half's largest by more than that either, so a slow climb that never
  falls back is caught even when each step is small. They move with the number of live pods.
- Sockets: they move with the connections (locust's users to the Service proxy, the proxy to
  the pods; a pod deletion closes and reopens some), and dip when many close at once, so only a
  climb counts: the second half's largest count must not exceed the first half's largest by
  more than ``max_socket_climb``.
- Threads: the same rule as open files, with ``max_thread_spread``.
- Processes below the harness other than locust (the pods, live or not yet reaped): their
  number moves with the deletions (a deleted pod drains for seconds while its replacement
  starts), so only a climb counts, within ``max_pod_climb``: a pod process that outlives its
  deletion never goes away.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MIB = 1024.0


@dataclass(frozen=True)
class Limits:
    max_rss_slope_mib_per_10min: float = 5.0
    max_fd_spread: int = 16
    max_socket_climb: int = 16
    max_thread_spread: int = 4
    max_pod_climb: int = 4


@dataclass(frozen=True)
class Series:
    """One quantity sampled over time: seconds since the start, and the values."""

    name: str
    times_s: Sequence[float]
    values: Sequence[float]


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    text: str


def slope_per_s(times_s: Sequence[float], values: Sequence[float]) -> float:
    """The least-squares slope of ``values`` over ``times_s``; 0 for fewer than two times."""
    n = len(times_s)
    if n < 2:
        return 0.0
    mean_t = sum(times_s) / n
    mean_v = sum(values) / n
    spread = sum((t - mean_t) ** 2 for t in times_s)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in zip(times_s, values, strict=True)) / spread


def halves(series: Series) -> tuple[Series, Series]:
    """The first and second half of a series by count (the middle sample goes to the second)."""
    mid = len(series.values) // 2
    first = Series(series.name, series.times_s[:mid], series.values[:mid])
    second = Series(series.name, series.times_s[mid:], series.values[mid:])
    return first, second


def rss_finding(rss_kib: Series, limit_mib_per_10min: float) -> Finding:
    _, second = halves(rss_kib)
    slope = slope_per_s(second.times_s, second.values) * 600.0 / MIB
    ok = slope <= limit_mib_per_10min
    low, high = min(second.values) / MIB, max(second.values) / MIB
    text = (
        f"{rss_kib.name}: second-half slope {slope:+.2f} MiB/10 min "
        f"(limit {limit_mib_per_10min:g}); range {low:.1f}-{high:.1f} MiB"
    )
    return Finding(rss_kib.name, ok, text)


def count_finding(counts: Series, max_spread: int, climb_only: bool = False) -> Finding:
    """Flat counts: the second half's spread and its climb over the first half's largest within
    ``max_spread``; ``climb_only`` checks the climb alone."""
    first, second = halves(counts)
    low, high = int(min(second.values)), int(max(second.values))
    first_high = int(max(first.values)) if first.values else high
    climb = high - first_high
    ok = climb <= max_spread and (climb_only or high - low <= max_spread)
    rule = "climb" if climb_only else "spread and climb"
    text = (
        f"{counts.name}: second half {low}-{high} (spread {high - low}), first half max "
        f"{first_high} (climb {climb:+d}); {rule} limit {max_spread}"
    )
    return Finding(counts.name, ok, text)


def enough_samples(series: Series, minimum: int = 4) -> bool:
    """A verdict needs at least ``minimum`` samples in the second half."""
    return len(halves(series)[1].values) >= minimum


# locust's --only-summary table ends with a line such as
#          Aggregated                                           1289     0(0.00%) |  91 ...
# The first such line is the request table (the percentile table that follows repeats the count
# in its last column).
_AGGREGATED = re.compile(rb"^\s+Aggregated\s+(\d+)\s+(\d+)\(", re.MULTILINE)


def locust_counts(log: bytes) -> tuple[int, int] | None:
    """Locust's own request and failure counts from its log's summary; None without one."""
    match = _AGGREGATED.search(log)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))
