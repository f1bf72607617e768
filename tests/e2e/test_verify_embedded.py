"""`--verify-fix` end to end on the embedded backend: close-first drops requests, its fix (a
preStop sleep longer than the Service proxy's propagation, given here by hand through
run_experiment's fix source) runs as close-first+fix with the same seed and schedule, and the
report opens with before -> after."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers.e2e import interrupted, pods, processes_left, start_harness, wait_until_recording

from harness.appspec import Variant
from harness.backends.select import Choice
from harness.console import Console
from harness.fixes.model import Fix
from harness.run import run_experiment
from harness.scenario import Embedded, Scenario, Traffic
from harness.timeline import read_timeline

pytestmark = pytest.mark.slow

# Longer than the embedded proxy's propagation (at most 1.5 s below), so the endpoint is gone
# before close-first closes its listener.
FIX = Variant(prestop_sleep_s=2.5, grace_period_s=10.0)


def _fixes(summary: Any, run_dir: Path, scenario: Scenario) -> dict[str, Fix]:
    assert summary["orders"]["close-first"]["failed"] > 0  # asked only after the variant ran
    return {"close-first": Fix(variant="close-first", change=FIX)}


def test_close_firsts_fix_runs_with_the_same_seed_and_schedule_and_drops_none(
    tmp_path: Path,
) -> None:
    scenario = Scenario(
        orders=["close-first"],
        replicas=3,
        duration_s=8.0,
        seed=7,
        traffic=Traffic(users=4, keepalive=False),  # close-first refuses new connections
        embedded=Embedded(propagation_min_s=0.5, propagation_max_s=1.5),
    )
    scenario.chaos.count = 2
    console = Console(io.StringIO())
    journal = asyncio.run(
        run_experiment(scenario, Choice("embedded", "test"), tmp_path, console, None, _fixes)
    )
    run_dir = journal.run_dir
    summary = json.loads((run_dir / "summary.json").read_text())
    orders = summary["orders"]
    assert list(orders) == ["close-first", "close-first+fix"]
    assert orders["close-first"]["failed"] > 0
    assert orders["close-first+fix"]["requests"] > 100
    assert orders["close-first+fix"]["failed"] == 0
    # The same schedule: deletions at the same offsets from the load's start.
    assert _delete_offsets(run_dir, "close-first") == pytest.approx(
        _delete_offsets(run_dir, "close-first+fix"), abs=0.3
    )
    assert len(_delete_offsets(run_dir, "close-first")) == 2
    # The fix reached the kubelet model: a preStop sleep before SIGTERM.
    slept = [r for r in pods(run_dir, "close-first+fix") if r["prestop_started"] is not None]
    assert len(slept) == 2
    for row in slept:
        assert row["sigterm"] - row["prestop_started"] >= 2.4
    verify = summary["verify"]["close-first"]
    assert verify["fixed_variant"] == "close-first+fix"
    assert verify["before"]["failed"] == orders["close-first"]["failed"]
    assert verify["after"]["failed"] == 0 and verify["after"]["termination_s"]["samples"] == 2
    page = (run_dir / "report.html").read_text()
    main = page[page.index("<main>") :]
    assert re.match(r"<main>\s*<section id=\"before-after\"", main), main[:300]
    assert "records-close-first+fix.jsonl" in page
    assert (run_dir / "records-close-first+fix.jsonl").stat().st_size > 0


def _delete_offsets(run_dir: Path, variant: str) -> list[float]:
    events = read_timeline(run_dir / f"timeline-{variant}.jsonl")
    start = next(e.ts for e in events if e.kind == "load_started")
    return [round(e.ts - start, 2) for e in events if e.kind == "delete_requested"]


def test_ctrl_c_during_a_fix_run_still_writes_a_partial_report(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    env = {**os.environ, "DRAINLAB_TEST_MARKER": marker}
    # A new connection per request: close-first cuts some at every deletion; 3 deletions give
    # the recommendation (harness.verify.recommended_fixes) its samples.
    proc = start_harness(
        ["--backend", "embedded", "--orders", "close-first", "--duration", "8",
         "--deletions", "3", "--new-connections", "--verify-fix"],
        tmp_path,
        env,
    )  # fmt: skip
    run_dir = wait_until_recording(tmp_path, "close-first+fix", proc, min_bytes=2000)
    out, summary = interrupted(proc, run_dir)
    assert list(summary["orders"]) == ["close-first", "close-first+fix"]
    assert summary["verify"]["close-first"]["after"]["requests"] > 0
    page = (run_dir / "report.html").read_text()
    assert '<div id="partial-banner"' in page and '<section id="before-after"' in page
    assert "before -> after" in out
    assert processes_left(marker, within_s=10) == []
