"""summary.json's ``matrix`` block: a run's orders as variants x cells (harness.matrix).

Pure: read from the orders' blocks and the scenario as run.json keeps it. Every cell of every
variant that ran at least one cell is listed, in run order; a cell the run did not reach (cut
short) keeps its place with ``requests``, ``failed`` and ``by_phase`` null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.matrix import cells, parse_order, profile_name, recorded


def matrix_block(
    orders: Mapping[str, Mapping[str, Any]], scenario: Mapping[str, Any]
) -> dict[str, Any] | None:
    """``{"actions", "profiles", "cells"}``; None for a run without a matrix."""
    found = recorded(scenario)
    if found is None:
        return None
    matrix, action = found
    variants: list[str] = []
    for name in orders:
        cell = parse_order(name)
        if cell is not None and cell.variant not in variants:
            variants.append(cell.variant)
    return {
        "actions": matrix.actions if matrix.actions is not None else [action],
        "profiles": (
            [profile_name(p) for p in matrix.profiles] if matrix.profiles is not None else None
        ),
        "cells": [
            {
                "variant": cell.variant,
                "action": cell.action,
                "profile": cell.profile,
                "order": cell.order,
                **_counts(orders.get(cell.order)),
            }
            for cell in cells(matrix, variants, action)
        ],
    }


def _counts(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """A cell's numbers from its order's block: ``by_phase`` keeps the non-zero counts."""
    if entry is None:
        return {"requests": None, "failed": None, "by_phase": None}
    by_phase = entry.get("failures_by_phase")
    return {
        "requests": entry.get("requests"),
        "failed": entry.get("failed"),
        "by_phase": {k: v for k, v in by_phase.items() if v} if isinstance(by_phase, dict) else {},
    }
