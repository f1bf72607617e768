"""Requests per second from a records file, in one pass and without keeping the records.

A run can hold a million requests, and the report only needs counts per time bin plus where the
failures fell: completion times, and for failures their pod and class. The lines are read by
``harness.records.RecordRows`` (torn or garbled lines skipped and counted).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from harness.classify import ERROR_CLASSES
from harness.records import RecordRows

# Bin widths the chart may use, in seconds. Rates are always drawn per second whatever the width.
BIN_WIDTHS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
MAX_BINS = 300  # more bars than this are thinner than a pixel on a laptop screen
MIN_PER_BIN = 40  # fewer requests per bin on average and the line is mostly noise


@dataclass(slots=True)
class TrafficScan:
    """What one pass over a records file keeps: completion times, and failures' pod and class."""

    ok_ends: array[float] = field(default_factory=lambda: array("d"))
    failed_ends: array[float] = field(default_factory=lambda: array("d"))
    failed_pod: array[int] = field(
        default_factory=lambda: array("i")
    )  # index into pods, -1: unknown
    failed_class: array[int] = field(default_factory=lambda: array("b"))  # index into ERROR_CLASSES
    pods: list[str] = field(default_factory=list)
    skipped_lines: int = 0  # torn or garbled lines, as iter_jsonl skips them

    @property
    def requests(self) -> int:
        return len(self.ok_ends) + len(self.failed_ends)


@dataclass(frozen=True, slots=True)
class TrafficBins:
    """Rates per bin on a time axis relative to ``t0`` (the order's window start)."""

    t0: float
    width: float  # seconds per bin
    starts: NDArray[np.float64]  # bin start, seconds from t0
    ok_rate: NDArray[np.float64]  # successful requests per second in each bin
    failed_rate: NDArray[np.float64]
    requests: int
    failed: int


def scan_lines(lines: Iterable[bytes]) -> TrafficScan:
    """Reads record lines (as bytes, as a file opened in binary mode yields them)."""
    scan = TrafficScan()
    pod_index: dict[str, int] = {}
    class_index = {name: i for i, name in enumerate(ERROR_CLASSES)}
    other = class_index["other"]
    ok_append = scan.ok_ends.append
    rows = RecordRows(lines)
    for end, _latency_ms, pod, error in rows:
        if error is None:
            ok_append(end)
            continue
        scan.failed_ends.append(end)
        scan.failed_class.append(class_index.get(str(error), other))
        if isinstance(pod, str):
            if pod not in pod_index:
                pod_index[pod] = len(scan.pods)
                scan.pods.append(pod)
            scan.failed_pod.append(pod_index[pod])
        else:
            scan.failed_pod.append(-1)
    scan.skipped_lines = rows.skipped
    return scan


def scan_file(path: Path) -> TrafficScan:
    with path.open("rb") as handle:
        return scan_lines(handle)


def bin_traffic(
    scan: TrafficScan, t0: float, span: tuple[float, float] | None = None
) -> TrafficBins:
    """Rates per bin from ``t0``; ``span`` (relative seconds) widens the axis to cover the run."""
    ok = np.frombuffer(scan.ok_ends, dtype=np.float64) - t0
    failed = np.frombuffer(scan.failed_ends, dtype=np.float64) - t0
    lo, hi = _extent(ok, failed, span)
    width = bin_width(hi - lo, scan.requests)
    first = math.floor(lo / width) * width
    count = max(1, math.ceil((hi - first) / width))
    edges = first + width * np.arange(count + 1, dtype=np.float64)
    ok_counts, _ = np.histogram(ok, bins=edges)
    failed_counts, _ = np.histogram(failed, bins=edges)
    return TrafficBins(
        t0=t0,
        width=width,
        starts=edges[:-1],
        ok_rate=ok_counts.astype(np.float64) / width,
        failed_rate=failed_counts.astype(np.float64) / width,
        requests=scan.requests,
        failed=len(scan.failed_ends),
    )


def bin_width(span_s: float, requests: int) -> float:
    """The narrowest bin that keeps the bars few and each bar's count meaningful: a one-second
    outage must be visible in a 20 s run, and a 2 h run must not become 72,000 bars."""
    rate = requests / span_s if span_s > 0 else 0.0
    for width in BIN_WIDTHS:
        if span_s / width <= MAX_BINS and width * rate >= MIN_PER_BIN:
            return float(width)
    fitting = [w for w in BIN_WIDTHS if span_s / w <= MAX_BINS]
    return float(fitting[0] if fitting else math.ceil(span_s / MAX_BINS))


def _extent(
    ok: NDArray[np.float64], failed: NDArray[np.float64], span: tuple[float, float] | None
) -> tuple[float, float]:
    lows = [float(a.min()) for a in (ok, failed) if a.size]
    highs = [float(a.max()) for a in (ok, failed) if a.size]
    if span is not None:
        lows.append(span[0])
        highs.append(span[1])
    if not lows:
        return 0.0, 1.0
    lo, hi = min(lows), max(highs)
    return lo, max(hi, lo + 1.0)
