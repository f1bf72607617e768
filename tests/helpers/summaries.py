"""A small summary.json as the gate, JUnit and summary-file tests need it: three orders, one of
them clean, with failures by class."""

from __future__ import annotations

import copy
from typing import Any

# An order's block in summary.json, its keys in the order the analysis writes them.
ORDER_KEYS = [
    "requests",
    "failed",
    "failure_rate",
    "failures_by_class",
    "failures_by_phase",
    "deletions",
    "per_deletion",
    "phase_basis",
    "latency_ms",
    "latency_ms_around_deletions",
    "propagation_ms",
    "outage",
    "window",
    "files",
]


def order_entry(requests: int, failed: int, **by_class: int) -> dict[str, Any]:
    classes = {"connection_refused": 0, "connection_reset": 0, "timeout": 0, **by_class}
    assert sum(classes.values()) == failed
    return {
        "requests": requests,
        "failed": failed,
        "failure_rate": failed / requests if requests else 0.0,
        "failures_by_class": classes,
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


def summary(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(SUMMARY)
    data.update(changes)
    return data
