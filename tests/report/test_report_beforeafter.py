"""Before -> after from hand-made summaries: summary.json's verify block, the terminal table, and
the report that opens with it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.report.beforeafter import lines, verify_block
from harness.report.html import render_report
from harness.table import before_after_table


def _entry(requests: int, failed: int, p99: float, exits: list[float], **classes: int) -> Any:
    return {
        "requests": requests,
        "failed": failed,
        "failure_rate": failed / requests,
        "failures_by_class": {"connection_refused": 0, "connection_reset": 0, **classes},
        "failures_by_phase": {"propagating": failed, "draining": 0, "after_exit": 0},
        "latency_ms": {"p50": 3.0, "p99": p99},
        "deletions": len(exits),
        "per_deletion": [{"pod": f"p{i}", "ts": 100.0 + i, "exit": 100.0 + i + e}
                         for i, e in enumerate(exits)],
    }  # fmt: skip


ORDERS = {
    "naive": _entry(1767, 26, 610.0, [0.1, 0.3], connection_refused=20, connection_reset=6),
    "graceful": _entry(1735, 0, 590.0, [5.1]),
    "naive+fix": _entry(1750, 2, 580.0, [3.2, 3.4, 3.3], connection_reset=2),
}


def test_each_fixed_variant_is_paired_with_its_variant() -> None:
    block = verify_block(ORDERS)
    assert list(block) == ["naive"]  # graceful had no fix run
    pair = block["naive"]
    assert pair["fixed_variant"] == "naive+fix"
    assert pair["before"] == {
        "requests": 1767,
        "failed": 26,
        "failure_rate": 26 / 1767,
        "failures_by_class": {"connection_refused": 20, "connection_reset": 6},
        "failures_by_phase": {"propagating": 26},
        "latency_p99_ms": 610.0,
        "termination_s": {"median": 0.2, "max": 0.3, "samples": 2},
    }
    assert pair["after"]["termination_s"] == {"median": 3.3, "max": 3.4, "samples": 3}
    assert pair["after"]["failures_by_class"] == {"connection_reset": 2}


def test_no_fix_run_no_block_and_a_fix_without_its_variant_is_not_paired() -> None:
    assert verify_block({"naive": ORDERS["naive"]}) == {}
    assert verify_block({"naive+fix": ORDERS["naive+fix"]}) == {}


def test_missing_numbers_read_as_gaps_and_no_deletion_has_no_termination() -> None:
    block = verify_block({"a": {"failed": 1}, "a+fix": {}})
    after = block["a"]["after"]
    assert after["failed"] is None and after["termination_s"]["samples"] == 0
    assert [line.after for line in lines({"verify": block})] == [
        "— of — (—)",
        "none",
        "none",
        "—",
        "—",
    ]


def test_a_partial_fix_is_said_as_such_with_what_it_cannot_change() -> None:
    unfixable = [
        {"what": "requests cut in flight at SIGTERM: the app must drain", "evidence": "8 of 14"},
        {"what": "kept connections closed without `Connection: close`: say it", "evidence": "1"},
    ]
    summary = {
        "verify": verify_block(ORDERS),
        "fixes": {"naive": {"file": "fix-naive.yaml", "partial": True, "unfixable": unfixable}},
    }
    (fix,) = [line for line in lines(summary) if line.measure == "fix"]
    causes = (
        "requests cut in flight at SIGTERM; kept connections closed without `Connection: close`"
    )
    assert (fix.before, fix.after) == ("fix-naive.yaml", f"partial: {causes}")
    assert f"partial: {causes}" in before_after_table({"orders": ORDERS, **summary})
    summary["fixes"]["naive"]["partial"] = False
    assert [line.after for line in lines(summary) if line.measure == "fix"] == ["complete"]


def test_the_terminal_table_says_before_and_after_per_measure() -> None:
    text = before_after_table({"orders": ORDERS, "verify": verify_block(ORDERS)})
    rows = [line.rstrip() for line in text.splitlines()]
    assert rows[0].startswith("before -> after")
    assert rows[1].split() == ["variant", "measure", "before", "after"]
    assert re.fullmatch(r"naive +failed +26 of 1,767 \(1\.47 %\) +2 of 1,750 \(0\.114 %\)", rows[3])
    assert re.fullmatch(r" +classes +refused 20, reset 6 +reset 2", rows[4])
    assert re.fullmatch(r" +phases +propagating 26 +propagating 2", rows[5])
    assert re.fullmatch(r" +p99 latency +610 ms +580 ms", rows[6])
    assert "0.20 s median, 0.30 s max (2 pods)" in rows[7]
    assert before_after_table({"orders": ORDERS}) == ""


def test_the_report_opens_with_before_and_after(tmp_path: Path) -> None:
    summary = {"schema_version": 1, "orders": ORDERS, "verify": verify_block(ORDERS)}
    page = render_report(tmp_path, summary)
    main = page[page.index("<main>") :]
    assert re.match(r"<main>\s*<section id=\"before-after\"", main)
    section = main[: main.index("</section>")]
    rows = re.findall(r'<tr data-order="naive" data-fixed="naive\+fix" data-measure="([^"]+)" '
                      r'data-verdict="(\w+)">', section)  # fmt: skip
    assert rows == [
        ("failed", "better"),
        ("classes", "better"),
        ("phases", "better"),
        ("p99 latency", "better"),
        ("termination (delete -&gt; stopped)", "same"),
    ]
    assert '<a href="#order-naive+fix">naive+fix</a>' in section
    assert "26 of 1,767 (1.47 %)" in section and "2 of 1,750 (0.114 %)" in section
    assert 'href="#before-after"' in page


def test_a_report_without_a_fix_run_has_no_before_after(tmp_path: Path) -> None:
    page = render_report(
        tmp_path, {"schema_version": 1, "orders": {"graceful": ORDERS["graceful"]}}
    )
    assert 'id="before-after"' not in page and 'href="#before-after"' not in page
