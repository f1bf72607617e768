"""Percentiles by the nearest-rank method.

The p-th percentile of n sorted samples is the sample at rank ceil(p/100 * n) (1-based): the
smallest sample with at least p % of all samples at or below it. It is always a value that was
actually measured (no interpolation between two requests), and with few samples p99 is the
maximum, which is the cautious reading for a recommendation. No samples: None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Sorted = npt.NDArray[np.float64]


def percentile(sorted_values: Sorted, p: float) -> float | None:
    n = len(sorted_values)
    if n == 0:
        return None
    rank = math.ceil(p / 100.0 * n)
    return float(sorted_values[min(max(rank, 1), n) - 1])


def finite_sorted(values: Sequence[float]) -> Sorted:
    """The samples, sorted, without NaN or infinities (a garbled record must not poison a p99)."""
    # numpy sorts a million latencies about five times faster than sorted() on a list; an
    # array('d') of samples is read without a copy.
    samples = np.asarray(values, dtype=np.float64)
    return np.sort(samples[np.isfinite(samples)])


def latency_block(values: Sequence[float], why_empty: str) -> dict[str, Any]:
    """p50/p95/p99/max and the sample count; without samples the numbers are None and
    ``reason`` is ``why_empty`` (summary.json puts a reason beside every null)."""
    ordered = finite_sorted(values)
    return {
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": float(ordered[-1]) if len(ordered) else None,
        "samples": len(ordered),
        "reason": None if len(ordered) else why_empty,
    }


def p50_p99_block(values: Sequence[float], why_empty: str) -> dict[str, Any]:
    ordered = finite_sorted(values)
    return {
        "p50": percentile(ordered, 50),
        "p99": percentile(ordered, 99),
        "samples": len(ordered),
        "reason": None if len(ordered) else why_empty,
    }
