"""What stopped each pod, on the page: the "Drops by action" table of a variant whose pods were
stopped by more than a plain delete, and the waterfall row that says why its pod stopped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.synthetic import make_run

from harness.analysis.phases import DELETION_PHASES
from harness.report import write_report
from harness.report.charts import order_chart
from harness.report.lifecycle import pod_label, stopped_words
from harness.report.tables import action_rows
from harness.report.traffic import TrafficScan, bin_traffic


def by_phase(**counts: int) -> dict[str, int]:
    return {**dict.fromkeys(DELETION_PHASES, 0), **counts}


MIXED = {
    "crash": {"stops": 2, "failed": 5, "by_phase": by_phase(after_exit=4, unknown=1)},
    "delete": {"stops": 3, "failed": 0, "by_phase": by_phase()},
}


def test_the_table_lists_each_action_unless_every_stop_was_a_plain_delete() -> None:
    rows = action_rows({"by_action": MIXED})
    assert [(r["action"], r["words"], r["stops"], r["failed"]) for r in rows] == [
        ("crash", "crashed", "2", "5"),
        ("delete", "deleted", "3", "0"),
    ]
    assert rows[0]["phases"] == "after exit 4, unknown 1" and rows[0]["css"] == "bad"
    assert rows[1]["phases"] == "none" and rows[1]["css"] == "zero"
    only_evict = action_rows({"by_action": {"evict": MIXED["delete"]}})
    assert [r["words"] for r in only_evict] == ["evicted"]
    assert action_rows({"by_action": {"delete": MIXED["delete"]}}) == []
    assert action_rows({"by_action": {}}) == []
    assert action_rows({}) == []  # an older summary


def _with_actions(run_dir: Path, block: dict[str, Any], stopped_by: str) -> str:
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text())
    for entry in summary["orders"].values():
        entry["by_action"] = block
        entry["per_deletion"][0]["stopped_by"] = stopped_by
    path.write_text(json.dumps(summary))
    return write_report(run_dir).read_text(encoding="utf-8")


def _section(page: str) -> str:
    start = page.index('<section id="order-naive"')
    return page[start : page.index("</section>", start)]


def test_the_page_shows_the_table_and_the_deletions_action_only_beyond_plain_deletes(
    tmp_path: Path,
) -> None:
    run_dir = make_run(tmp_path, orders=("naive",), rate=20)
    plain = write_report(run_dir).read_text(encoding="utf-8")
    assert "Drops by action" not in plain
    delete_only = _with_actions(run_dir, {"delete": MIXED["delete"]}, "delete")
    assert _section(delete_only) == _section(plain)  # a plain delete run's section, unchanged
    page = _with_actions(run_dir, MIXED, "crash")
    assert "<h3>Drops by action</h3>" in page
    assert '<tr data-action="crash"><td>crashed</td>' in page
    assert '<span class="muted">crashed</span>' in page  # the crash's row of the deletions


def test_a_pods_row_says_why_it_stopped() -> None:
    assert stopped_words(["crash", "crash", "evict"]) == "crashed ×2, then evicted"
    assert stopped_words(["scale_down"]) == "scaled down"
    assert stopped_words(["rollout"]) == "rolled out"
    assert stopped_words(["drain"]) == "drained"
    assert stopped_words([]) == ""
    assert pod_label({"pod": "p", "stopped_by": ["crash"]}) == "p (crashed)"
    assert pod_label({"pod": "p", "stopped_by": None}) == "p"
    # A row written before stopped_by was: deleted when it has a delete call.
    assert pod_label({"pod": "p", "delete_requested": 5.0}) == "p (deleted)"


def test_the_waterfall_names_each_row_with_why_its_pod_stopped() -> None:
    rows = [
        {"pod": "web-a", "created": 1.0, "ready": 2.0, "stopped_by": ["crash"], "exited": 4.0},
        {"pod": "web-b", "created": 1.0, "ready": 2.0, "delete_requested": 5.0},
        {"pod": "web-c", "created": 1.0, "ready": 2.0, "stopped_by": None},
    ]
    scan = TrafficScan()
    svg = order_chart("v", bin_traffic(scan, 0.0, (0.0, 10.0)), [], rows, scan, (0.0, 10.0))
    assert ">web-a (crashed)<" in svg
    assert ">web-b (deleted)<" in svg
    assert ">web-c<" in svg
