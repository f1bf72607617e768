"""A small summary.json as the gate, JUnit and summary-file tests need it: three orders, one of
them clean, with failures by class, each over three deletions with a quarter of its requests
inside their windows (the evidence the gate asks for)."""

from __future__ import annotations

import copy
from typing import Any

from harness.analysis.evidence import confidence_block

# An order's block in summary.json, its keys in the order the analysis writes them.
ORDER_KEYS = [
    "requests",
    "failed",
    "failure_rate",
    "failures_by_class",
    "failures_by_phase",
    "deletions",
    "confidence",
    "per_deletion",
    "by_action",
    "phase_basis",
    "latency_ms",
    "latency_ms_around_deletions",
    "propagation_ms",
    "outage",
    "window",
    "files",
]


def order_entry(
    requests: int,
    failed: int,
    *,
    deletions: int = 3,
    in_windows: int | None = None,
    **by_class: int,
) -> dict[str, Any]:
    """An order's block; ``in_windows``: its requests inside deletion windows (default a quarter,
    all of its failures among them)."""
    classes = {"connection_refused": 0, "connection_reset": 0, "timeout": 0, **by_class}
    assert sum(classes.values()) == failed
    inside = (requests // 4 if deletions else 0) if in_windows is None else in_windows
    failed_inside = min(failed, inside)
    return {
        "requests": requests,
        "failed": failed,
        "failure_rate": failed / requests if requests else 0.0,
        "failures_by_class": classes,
        "deletions": deletions,
        "confidence": confidence_block(requests, failed, deletions, inside, failed_inside),
    }


SUMMARY: dict[str, Any] = {
    "schema_version": 1,
    "partial": False,
    "orders": {
        "naive": order_entry(5120, 8, connection_refused=6, timeout=2),
        "graceful": order_entry(5000, 0),
        "prestop": order_entry(4000, 3, timeout=3),
    },
}


# The least a summary needs for the gate to pass it: counts, and the evidence behind them.
MINIMAL: dict[str, Any] = {
    "schema_version": 1,
    "orders": {
        "graceful": {
            "requests": 10,
            "failed": 0,
            "confidence": {"deletions": 1, "requests_in_windows": 2},
        }
    },
}


def summary(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(SUMMARY)
    data.update(changes)
    return data
