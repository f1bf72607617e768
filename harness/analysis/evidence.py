"""summary.json's verdict evidence: ``orders.<v>.confidence`` and the top-level ``comparisons``
(docs/summary-v1.md, "Confidence and comparisons").

A count of failures is only evidence about shutdowns when shutdowns happened while requests were
in flight: a variant with no deletion, no request inside any deletion window, or no request at
all is *inconclusive*, whatever its counts (``inconclusive_reason``, the one rule the summary and
the gate both apply). The numbers themselves come from ``confidence``.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

from harness.analysis.confidence import (
    FISHER_TEST,
    SIGNIFICANCE_LEVEL,
    UPPER_BOUND_METHOD,
    fisher_exact,
    upper_bound_95,
)
from harness.matrix import parse_order

NO_REQUEST = "no request completed"
NO_DELETION = "no deletion"
NO_REQUEST_IN_WINDOWS = "no request inside any deletion window"


def inconclusive_reason(
    requests: int, deletions: int | None, requests_in_windows: int | None
) -> str | None:
    """Why these counts cannot back a verdict on shutdowns, or None when they can. A count that
    is None was not recorded (a summary written before drainlab counted it) and proves nothing."""
    if requests == 0:
        return NO_REQUEST
    if deletions is None:
        return "the summary does not record its deletions"
    if deletions == 0:
        return NO_DELETION
    if requests_in_windows is None:
        return (
            "the summary does not count requests inside deletion windows "
            "(written before drainlab counted them)"
        )
    if requests_in_windows == 0:
        return NO_REQUEST_IN_WINDOWS
    return None


def confidence_block(
    requests: int,
    failed: int,
    deletions: int,
    requests_in_windows: int,
    failures_in_windows: int,
) -> dict[str, Any]:
    """``orders.<v>.confidence``: the evidence behind a variant's counts and the 95 % upper
    bounds on its failure rate, over all its requests and over those inside deletion windows."""
    return {
        "deletions": deletions,
        "requests_in_windows": requests_in_windows,
        "failures_in_windows": failures_in_windows,
        "upper_bound_95": upper_bound_95(failed, requests),
        "upper_bound_95_in_windows": upper_bound_95(failures_in_windows, requests_in_windows),
        "method": UPPER_BOUND_METHOD,
        "inconclusive": inconclusive_reason(requests, deletions, requests_in_windows),
    }


def comparisons_block(orders: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The top-level ``comparisons``: every pair of variants (in run order), whether their
    failure rates differ, by Fisher's exact test (why that test: harness.analysis.confidence).
    A matrix's cells are compared only with the cells of the same action and profile: the
    variants under one disruption (across disruptions, the matrix table shows them)."""
    counts = {name: (int(o["failed"]), int(o["requests"])) for name, o in orders.items()}
    pairs = []
    for a, b in combinations(counts, 2):
        if not _comparable(a, b):
            continue
        (failed_a, requests_a), (failed_b, requests_b) = counts[a], counts[b]
        p_value = fisher_exact(failed_a, requests_a, failed_b, requests_b)
        pairs.append(
            {
                "a": a,
                "b": b,
                "failed_a": failed_a,
                "requests_a": requests_a,
                "failed_b": failed_b,
                "requests_b": requests_b,
                "p_value": p_value,
                "test": FISHER_TEST,
                "significant": p_value < SIGNIFICANCE_LEVEL,
            }
        )
    return pairs


def _comparable(a: str, b: str) -> bool:
    cell_a, cell_b = parse_order(a), parse_order(b)
    if cell_a is None or cell_b is None:
        return cell_a is None and cell_b is None
    return (cell_a.action, cell_a.profile) == (cell_b.action, cell_b.profile)
