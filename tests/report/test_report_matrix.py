"""The report's variants x cells table from a hand-made summary's matrix block."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.analysis.matrix import matrix_block
from harness.report.html import render_report
from harness.report.matrix import matrix_table


def _entry(requests: int, failed: int, **phases: int) -> dict[str, Any]:
    return {"requests": requests, "failed": failed, "failure_rate": failed / requests,
            "failures_by_phase": {"propagating": 0, "after_exit": 0, **phases}}  # fmt: skip


ORDERS = {
    "naive@scale_down": _entry(900, 12, after_exit=9, propagating=3),
    "naive@crash": _entry(880, 30, unknown=30),
    "graceful@scale_down": _entry(905, 0),
}
SCENARIO = {"chaos": {"action": "delete_random"}, "matrix": {"actions": ["scale_down", "crash"]}}


def _summary() -> dict[str, Any]:
    return {"schema_version": 1, "orders": ORDERS, "matrix": matrix_block(ORDERS, SCENARIO)}


def test_rows_are_variants_and_columns_cells() -> None:
    table = matrix_table(_summary())
    assert table is not None
    assert table.columns == ["scale_down", "crash"] and not table.profiles
    assert [row.variant for row in table.rows] == ["naive", "graceful"]
    naive, graceful = table.rows
    assert [(c.order, c.text, c.phase) for c in naive.cells] == [
        ("naive@scale_down", "12 / 900", "mostly after exit (9)"),
        ("naive@crash", "30 / 880", "mostly unknown (30)"),
    ]
    assert [(c.text, c.phase, c.ran) for c in graceful.cells] == [
        ("0 / 905", "", True),
        ("-", "", False),  # graceful@crash did not run
    ]
    assert matrix_table({"orders": ORDERS}) is None


def test_profile_columns_name_the_profile() -> None:
    orders = {"naive@crash@1.20": _entry(10, 1, unknown=1), "naive@crash@1.28": _entry(10, 0)}
    scenario = {"chaos": {}, "matrix": {"actions": ["crash"], "profiles": ["1.20", "1.28"]}}
    table = matrix_table({"matrix": matrix_block(orders, scenario)})
    assert table is not None and table.profiles
    assert table.columns == ["crash @ 1.20", "crash @ 1.28"]


def test_the_report_holds_the_table_linking_each_cell_to_its_order(tmp_path: Path) -> None:
    page = render_report(tmp_path, _summary())
    assert '<a href="#matrix">Matrix</a>' in page
    section = page[page.index('<section id="matrix">') :]
    section = section[: section.index("</section>")]
    heads = re.findall(r'<th scope="col">([^<]+)</th>', section)
    assert heads == ["variant", "scale_down", "crash"]
    cells = re.findall(r'<td class="num (\w*)" data-order="([^"]+)" data-failed="(\w+)"', section)
    assert cells == [
        ("bad", "naive@scale_down", "12"),
        ("bad", "naive@crash", "30"),
        ("good", "graceful@scale_down", "0"),
        ("", "graceful@crash", "null"),
    ]
    assert (
        '<a href="#order-naive@crash">30 / 880</a><br><small>mostly unknown (30)</small>' in section
    )
    assert 'id="order-naive@crash"' in page  # the section the cell links to
    assert "crash: exits at once on SIGTERM" in page  # its blurb names the cell, then the order
    assert '<section id="matrix">' not in render_report(
        tmp_path, {"schema_version": 1, "orders": ORDERS}
    )
