"""What `harness run` prints once the run has ended, before the gate's line: the comparison,
the pod lifecycle durations, before -> after of any verified fix, and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.analysis.pods import lifecycle_report
from harness.jsonl import iter_jsonl
from harness.report.fixes import fix_sentences
from harness.runfolder import pods_name
from harness.table import before_after_table, comparison_table, lifecycle_table


def print_run_result(run_dir: Path, summary: dict[str, Any]) -> None:
    print(comparison_table(summary))
    print()
    print(lifecycle_table(_lifecycle_reports(run_dir, summary)))
    print()
    if verified := before_after_table(summary):
        print(verified + "\n")
    # One sentence per variant that dropped requests (harness.fixes).
    lines = fix_sentences(summary)
    if lines:
        print("what to do:")
        for line in lines:
            print(f"  {line}")
        print()


def _lifecycle_reports(run_dir: Path, summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    reports = {}
    for order in summary.get("orders", {}):
        path = run_dir / pods_name(order)
        rows = list(iter_jsonl(path)) if path.exists() else []
        reports[order] = lifecycle_report(rows)
    return reports
