"""`harness run` with several load workers (traffic.workers: 2) on the embedded backend: real
locust master and workers, real pods, real signals; every request recorded once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from helpers.e2e import ROOT, processes_left, run_harness, start_harness, wait_until_recording

from harness.load.status import read_status
from harness.records import read_records, worker_files

pytestmark = pytest.mark.slow


def two_workers(tmp_path: Path) -> Path:
    scenario = tmp_path / "workers.yaml"
    scenario.write_text("traffic:\n  workers: 2\n")
    return scenario


def check_counted(run_dir: Path, order: str, requests: int) -> None:
    """The records (joined), the summary and locust's own count agree, and both workers sent."""
    path = run_dir / f"records-{order}.jsonl"
    assert worker_files(path) == []  # joined when the order ended
    records = read_records(path)
    assert len(records) == requests
    assert {r.worker for r in records} == {0, 1}
    status = read_status(run_dir / "logs" / f"locust-{order}.status.jsonl", workers=2)
    assert status.locust_requests == status.records == requests
    users = {r.user for r in records}
    assert len(users) == 10 and all(isinstance(u, int) for u in users)


def test_two_workers_naive_drops_graceful_does_not_and_every_request_is_counted_once(
    tmp_path: Path,
) -> None:
    run_dir, summary = run_harness(
        ["--backend", "embedded", "--scenario", str(two_workers(tmp_path)),
         "--orders", "naive,graceful", "--duration", "14", "--deletions", "4"],
        tmp_path / "runs",
        timeout_s=400,
    )  # fmt: skip
    orders = summary["orders"]
    assert orders["naive"]["failed"] > 0
    assert orders["graceful"]["failed"] == 0 and orders["graceful"]["requests"] > 500
    for order in ("naive", "graceful"):
        check_counted(run_dir, order, orders[order]["requests"])
        assert "load_worker_deaths" not in orders[order]
    assert summary["scenario"]["traffic"]["workers"] == "2"


def test_a_worker_killed_mid_run_is_warned_noted_and_its_records_kept(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = start_harness(
        ["--backend", "embedded", "--scenario", str(two_workers(tmp_path)),
         "--orders", "graceful", "--duration", "12", "--deletions", "1"],
        out,
        dict(os.environ),
    )  # fmt: skip
    run_dir = wait_until_recording(out, "graceful.w1", proc, min_bytes=20_000)
    started = json.loads(
        (run_dir / "logs" / "locust-graceful.status.w1.jsonl").read_text().splitlines()[1]
    )
    assert started["event"] == "started"
    os.kill(started["pid"], signal.SIGKILL)
    killed_at = time.time()
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stdout + stderr
    assert f"load worker 1 (pid {started['pid']}) died with code -9" in stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    entry = summary["orders"]["graceful"]
    (death,) = entry["load_worker_deaths"]
    assert death["worker"] == 1 and death["code"] == -9
    load_start = summary["orders"]["graceful"]["window"]["start"]
    assert killed_at - load_start - 1 <= death["at_s"] <= killed_at - load_start + 3
    records = read_records(run_dir / "records-graceful.jsonl")
    dead = [r for r in records if r.worker == 1]
    assert dead and all(r.end <= load_start + death["at_s"] for r in dead)
    assert max(r.end for r in records if r.worker == 0) > load_start + death["at_s"] + 3
    assert len(records) == entry["requests"] and entry["failed"] == 0
    assert "load worker 1 died" in (run_dir / "report.html").read_text()


def test_a_killed_harness_leaves_worker_files_that_the_report_joins(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    out = tmp_path / "runs"
    proc = start_harness(
        ["--backend", "embedded", "--scenario", str(two_workers(tmp_path)),
         "--orders", "naive", "--duration", "30", "--deletions", "2", "--quiet"],
        out,
        {**os.environ, "DRAINLAB_TEST_MARKER": marker},
    )  # fmt: skip
    run_dir = wait_until_recording(out, "naive.w0", proc, min_bytes=30_000)
    os.kill(proc.pid, signal.SIGKILL)  # the harness alone: locust's processes die with it
    proc.communicate(timeout=60)
    assert processes_left(marker, within_s=15) == []
    parts = worker_files(run_dir / "records-naive.jsonl")
    assert len(parts) == 2
    lines = sum(len(part.read_bytes().splitlines()) for part in parts)

    report = subprocess.run(
        [sys.executable, "-m", "harness", "report", str(run_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert report.returncode == 0, report.stdout + report.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert worker_files(run_dir / "records-naive.jsonl") == []
    # Every whole line of both workers is counted (a line torn by the kill is not a record).
    assert lines - 2 <= summary["orders"]["naive"]["requests"] <= lines
