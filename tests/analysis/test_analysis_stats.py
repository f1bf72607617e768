"""Nearest-rank percentiles."""

from __future__ import annotations

import pytest

from harness.analysis.stats import finite_sorted, latency_block, percentile


def test_nearest_rank_on_ten_values() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
    assert percentile(values, 50) == 50.0  # rank ceil(5.0) = 5
    assert percentile(values, 51) == 60.0  # rank ceil(5.1) = 6
    assert percentile(values, 95) == 100.0  # rank ceil(9.5) = 10
    assert percentile(values, 0) == 10.0  # rank is at least 1
    assert percentile(values, 100) == 100.0


def test_few_samples_make_p99_the_maximum() -> None:
    assert percentile([1.0, 2.0, 3.0], 99) == 3.0
    assert percentile([7.0], 50) == 7.0


def test_no_samples_is_none() -> None:
    assert percentile([], 50) is None
    assert latency_block([], "none here") == {
        "p50": None,
        "p95": None,
        "p99": None,
        "max": None,
        "samples": 0,
        "reason": "none here",
    }


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_values_that_are_not_finite_are_dropped(bad: float) -> None:
    assert finite_sorted([3.0, bad, 1.0]).tolist() == [1.0, 3.0]


def test_a_thousand_values() -> None:
    block = latency_block([float(i) for i in range(1000, 0, -1)], "unused")
    assert block == {
        "p50": 500.0,
        "p95": 950.0,
        "p99": 990.0,
        "max": 1000.0,
        "samples": 1000,
        "reason": None,
    }
