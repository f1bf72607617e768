"""`harness run` end to end on the embedded backend: real locust, real pods, real signals."""

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
from e2e_helpers import ROOT, assert_lifecycle_order, pods, run_harness
from test_embedded_support import processes_with

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
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--backend", "embedded", "--orders",
         "naive,graceful", "--duration", "30", "--out", str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run_dir = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until traffic is being recorded
        records = list(tmp_path.glob("*/records-naive.jsonl"))
        if records and records[0].stat().st_size > 2000:
            run_dir = records[0].parent
            break
        time.sleep(0.2)
    assert run_dir is not None, "the run never started recording"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["partial"] is True
    assert summary["orders"]["naive"]["requests"] > 0
    assert "graceful" not in summary["orders"]
    assert (
        'data-partial="true"' in (run_dir / "report.html").read_text()
        or "partial" in (run_dir / "report.html").read_text().lower()
    )
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with(marker) == []
