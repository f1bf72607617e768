"""The synthetic run folder of helpers/synthetic.py is internally consistent, so a report test that
fails points at the report, not at the fixture."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.synthetic import make_run

from harness.analysis import analyse_order
from harness.analysis.causes import CAUSE_KEYS, UNEXPLAINED_KEY
from harness.records import read_records
from harness.timeline import read_timeline


def test_synthetic_run_is_consistent(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    for order, entry in summary["orders"].items():
        records = read_records(run_dir / entry["files"]["records"])
        assert len(records) == entry["requests"]  # the torn tail line is not a record
        assert sum(r.failed for r in records) == entry["failed"]
        assert sum(entry["failures_by_class"].values()) == entry["failed"]
        assert sum(entry["failures_by_phase"].values()) == entry["failed"]
        assert entry["deletions"] == 5
        assert read_timeline(run_dir / entry["files"]["timeline"]), order


def test_synthetic_run_covers_the_cases_the_report_must_show(tmp_path: Path) -> None:
    orders = json.loads((make_run(tmp_path) / "summary.json").read_text())["orders"]
    assert orders["graceful"]["failed"] == 0
    assert orders["naive"]["failures_by_phase"]["after_exit"] > 0
    assert orders["close-first"]["failures_by_phase"]["propagating"] > 0
    assert orders["close-first"]["failures_by_phase"]["unattributed"] == 2
    assert orders["prestop"]["failures_by_phase"]["draining"] == 2
    assert orders["prestop"]["failures_by_phase"]["before_sigterm"] == 1
    classes = {c for o in orders.values() for c, n in o["failures_by_class"].items() if n}
    assert {"connection_refused", "connection_reset", "timeout", "http_5xx"} <= classes


def test_synthetic_phase_basis_is_what_the_analysis_finds(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    for entry in summary["orders"].values():
        records = read_records(run_dir / entry["files"]["records"])
        timeline = read_timeline(run_dir / entry["files"]["timeline"])
        window = (entry["window"]["start"], entry["window"]["end"])
        found = analyse_order("x", records, timeline, window).summary
        assert entry["phase_basis"] == found["phase_basis"]
        assert entry["confidence"] == found["confidence"]
        assert [d["basis"] for d in entry["per_deletion"]] == [
            d["basis"] for d in found["per_deletion"]
        ]


def test_synthetic_pod_rows_count_the_causes_the_analysis_finds(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    keys = (*CAUSE_KEYS, UNEXPLAINED_KEY, "failed")
    for entry in summary["orders"].values():
        records = read_records(run_dir / entry["files"]["records"])
        timeline = read_timeline(run_dir / entry["files"]["timeline"])
        window = (entry["window"]["start"], entry["window"]["end"])
        found = analyse_order("x", records, timeline, window).pods
        written = [json.loads(line) for line in (run_dir / entry["files"]["pods"]).open()]
        by_pod = {row["pod"]: row for row in written}
        for row in found:
            assert {k: row[k] for k in keys} == {k: by_pod[row["pod"]][k] for k in keys}
