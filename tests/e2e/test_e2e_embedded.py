"""`harness run` end to end on the embedded backend: real locust, real pods, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from helpers.e2e import (
    ROOT,
    assert_lifecycle_order,
    descendants,
    interrupted,
    pods,
    processes_left,
    run_harness,
    start_harness,
    survivors,
    wait_until_recording,
    whole_lines,
)
from helpers.embedded import processes_with

pytestmark = pytest.mark.slow


def test_naive_drops_and_graceful_does_not(tmp_path: Path) -> None:
    run_dir, summary = run_harness(
        [
            "--backend", "embedded", "--orders", "naive,prestop,graceful", "--duration", "16",
            "--deletions", "6", "--gate", "graceful",
        ],
        tmp_path,
        timeout_s=400,
    )  # fmt: skip
    orders = summary["orders"]
    assert orders["naive"]["failed"] > 0
    assert orders["naive"]["deletions"] == 6
    assert orders["graceful"]["requests"] > 100
    assert orders["graceful"]["failed"] == 0
    # Every naive failure is explained by a deletion phase, none left unattributed.
    by_phase = orders["naive"]["failures_by_phase"]
    assert sum(by_phase.values()) == orders["naive"]["failed"]
    assert by_phase["unattributed"] == 0
    assert summary["gate"]["ok"] is True
    for name in ("report.html", "junit.xml", "records-naive.jsonl", "timeline-graceful.jsonl"):
        assert (run_dir / name).stat().st_size > 0
    # The pod waterfall: both paths in order, the preStop sleep visible for the prestop order.
    for order in ("naive", "prestop", "graceful"):
        deleted, replaced = assert_lifecycle_order(pods(run_dir, order))
        assert deleted >= 5 and replaced >= 5, order
    prestop_rows = [r for r in pods(run_dir, "prestop") if r["prestop_started"] is not None]
    assert prestop_rows
    for row in prestop_rows:
        assert row["prestop_ended"] - row["prestop_started"] >= 4.5  # the 5 s default sleep
        assert row["sigterm"] >= row["prestop_ended"]


def test_ctrl_c_stops_cleanly_and_writes_a_partial_report(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    env = {**os.environ, "DRAINLAB_TEST_MARKER": marker}
    proc = start_harness(
        ["--backend", "embedded", "--orders", "naive,graceful", "--duration", "30"], tmp_path, env
    )
    run_dir = wait_until_recording(tmp_path, "naive", proc, min_bytes=2000)
    _, summary = interrupted(proc, run_dir)
    assert summary["orders"]["naive"]["requests"] > 0
    assert "graceful" not in summary["orders"]
    page = (run_dir / "report.html").read_text()
    assert '<div id="partial-banner"' in page and 'data-value="true"' in page
    assert processes_left(marker, within_s=10) == []


def test_after_sigkill_the_records_are_readable_the_run_recoverable_and_the_next_run_clean(
    tmp_path: Path,
) -> None:
    marker = uuid.uuid4().hex
    env = {**os.environ, "DRAINLAB_TEST_MARKER": marker}
    out = tmp_path / "runs"
    proc = start_harness(
        ["--backend", "embedded", "--orders", "naive,graceful", "--duration", "20",
         "--deletions", "3", "--quiet"],
        out,
        env,
    )  # fmt: skip
    run_dir = wait_until_recording(out, "naive", proc, min_bytes=60_000)  # some 400 records
    started = descendants(proc.pid)
    # Locust and 3 pods at least (by ancestry: a pod whose supervisor is starting the app has
    # no marker yet); the marker, which the harness hands down, is checked for below.
    assert len(started) >= 4 and proc.pid in processes_with(marker)
    os.kill(proc.pid, signal.SIGKILL)  # the harness alone: no handler, no teardown, no summary
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    # Nothing it started outlives it: pods (their supervisors) and locust die with it.
    assert processes_left(marker, within_s=15) == []
    assert survivors(started, within_s=15) == set()
    assert not (run_dir / "summary.json").exists()

    # Every line written is whole JSON; only a last line cut mid-write may be torn.
    records, tail_whole = whole_lines(run_dir / "records-naive.jsonl")
    assert len(records) >= 300
    for record in records:
        assert {"start", "end", "latency_ms", "status", "pod", "error"} <= record.keys()
        assert record["end"] >= record["start"]
    events, _ = whole_lines(run_dir / "timeline-naive.jsonl")
    assert events and all({"ts", "kind"} <= event.keys() for event in events)

    report = subprocess.run(
        [sys.executable, "-m", "harness", "report", str(run_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert report.returncode == 0, report.stdout + report.stderr
    assert "recovered" in report.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["partial"] is True and "killed" in summary["recovered"]
    assert summary["orders"]["naive"]["requests"] == len(records) + tail_whole
    assert (run_dir / "pods-naive.jsonl").exists() and (run_dir / "junit.xml").exists()
    assert 'id="ended-by"' in (run_dir / "report.html").read_text()

    # The next run finds nothing in its way: same ports, same addresses, same out folder.
    next_run, next_summary = run_harness(
        ["--backend", "embedded", "--orders", "graceful", "--duration", "6", "--deletions", "1"],
        out,
        timeout_s=300,
    )
    assert next_run != run_dir
    assert next_summary["partial"] is False
    assert next_summary["orders"]["graceful"]["deletions"] == 1


def test_run_gate_uses_the_scenarios_limits_and_flags_override_them(tmp_path: Path) -> None:
    """`--gate ORDER` alone applies the scenario's `gate:` limits, not built-in defaults."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "orders: [naive]\nduration_s: 8\nchaos: {count: 2}\ngate: {max_failed: 100000}\n"
    )
    args = ["--backend", "embedded", "--scenario", str(scenario), "--gate", "naive", "--quiet"]
    _, summary = run_harness(args, tmp_path / "loose", timeout_s=300)
    assert summary["orders"]["naive"]["failed"] > 0  # the default max_failed 0 would break
    assert summary["gate"]["max_failed"] == 100000 and summary["gate"]["ok"] is True
    strict = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--out", str(tmp_path / "strict"), *args,
         "--max-failed", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert strict.returncode == 1, strict.stdout + strict.stderr
    gate_line, report_line = strict.stdout.strip().splitlines()[-2:]
    assert gate_line.startswith("FAIL naive:") and "max_failed 0" in gate_line
    assert report_line.startswith("report: ") and report_line.endswith("report.html")
