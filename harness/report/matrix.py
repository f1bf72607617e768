"""The report's matrix table: variants (rows) x cells (columns: action, and profile), from
summary.json's ``matrix`` block (harness.analysis.matrix).

Each cell says "failed / requests" and its largest phase, and links to its order's section.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.report.formats import as_int, fmt_int
from harness.report.outcome import largest


@dataclass(frozen=True, slots=True)
class MatrixCell:
    order: str
    text: str  # "3 / 1,204", or "-" for a cell that did not run
    phase: str  # its largest phase ("after exit 3"), "" when it dropped nothing
    failed: int | None
    requests: int | None
    ran: bool


@dataclass(frozen=True, slots=True)
class MatrixRow:
    variant: str
    cells: list[MatrixCell]


@dataclass(frozen=True, slots=True)
class MatrixTable:
    columns: list[str]  # "crash" or "crash @ 1.28"
    rows: list[MatrixRow]
    profiles: bool  # the columns name embedded profiles too


def matrix_table(summary: Mapping[str, Any]) -> MatrixTable | None:
    """The table of a matrix run; None for any other run."""
    block = summary.get("matrix")
    if not isinstance(block, dict):
        return None
    cells = [c for c in block.get("cells") or [] if isinstance(c, dict)]
    columns: list[tuple[str, str | None]] = []
    rows: dict[str, list[MatrixCell]] = {}
    for cell in cells:
        column = (str(cell.get("action")), cell.get("profile"))
        if column not in columns:
            columns.append(column)
        rows.setdefault(str(cell.get("variant")), []).append(_cell(cell))
    return MatrixTable(
        [action if profile is None else f"{action} @ {profile}" for action, profile in columns],
        [MatrixRow(variant, row) for variant, row in rows.items()],
        any(profile is not None for _, profile in columns),
    )


def _cell(cell: Mapping[str, Any]) -> MatrixCell:
    failed, requests = as_int(cell.get("failed")), as_int(cell.get("requests"))
    ran = requests is not None
    top = largest(cell.get("by_phase"))
    return MatrixCell(
        order=str(cell.get("order")),
        text=f"{fmt_int(failed)} / {fmt_int(requests)}" if ran else "-",
        phase=f"mostly {top[0].replace('_', ' ')} ({fmt_int(top[1])})" if top else "",
        failed=failed,
        requests=requests,
        ran=ran,
    )
