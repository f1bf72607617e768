"""`--verify-fix` end to end on the embedded backend: close-first drops requests, the fix derived
from the run's measurements (harness.verify.measured_fixes: a preStop sleep longer than the
Service proxy's propagation) runs as close-first+fix with the same seed and schedule and drops
none, and the report opens with before -> after; naive's fix, with keep-alive, is partial and
says why."""

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

from harness.backends.select import Choice
from harness.console import Console
from harness.run import run_experiment
from harness.scenario import Embedded, Scenario, Traffic
from harness.timeline import read_timeline
from harness.verify import measured_fixes

pytestmark = pytest.mark.slow


def _run(tmp_path: Path, order: str, keepalive: bool) -> tuple[Path, dict[str, Any]]:
    """One order, 3 replicas, 3 deletions (the recommendation needs 3 propagation samples),
    then its measured fix; the run folder and its summary."""
    scenario = Scenario(
        orders=[order],
        replicas=3,
        duration_s=8.0,
        seed=7,
        traffic=Traffic(users=4, keepalive=keepalive),
        embedded=Embedded(propagation_min_s=0.5, propagation_max_s=1.5),
    )
    scenario.chaos.count = 3
    console = Console(io.StringIO())
    journal = asyncio.run(
        run_experiment(
            scenario, Choice("embedded", "test"), tmp_path, console, None, measured_fixes
        )
    )
    return journal.run_dir, json.loads((journal.run_dir / "summary.json").read_text())


def test_close_firsts_fix_runs_with_the_same_seed_and_schedule_and_drops_none(
    tmp_path: Path,
) -> None:
    # A new connection per request: close-first refuses them once it closed its listener.
    run_dir, summary = _run(tmp_path, "close-first", keepalive=False)
    orders = summary["orders"]
    assert list(orders) == ["close-first", "close-first+fix"]
    assert orders["close-first"]["failed"] > 0
    assert orders["close-first+fix"]["requests"] > 100
    assert orders["close-first+fix"]["failed"] == 0
    # The same schedule: deletions at the same offsets from the load's start.
    assert _delete_offsets(run_dir, "close-first") == pytest.approx(
        _delete_offsets(run_dir, "close-first+fix"), abs=0.3
    )
    assert len(_delete_offsets(run_dir, "close-first")) == 3
    # The fix: a preStop sleep of the recommendation's length, nothing it cannot change.
    fix = summary["fixes"]["close-first"]
    sleep = summary["recommendation"]["prestop_sleep_s"]
    assert fix["file"] == "fix-close-first.yaml"  # its `partial` may count a reset at SIGTERM
    assert f"sleep {sleep:g}" in fix["sentence"] or f"{sleep:g} s" in fix["sentence"], fix
    assert (run_dir / "fix-close-first.yaml").exists()
    # It reached the kubelet model: a preStop sleep before SIGTERM.
    slept = [r for r in pods(run_dir, "close-first+fix") if r["prestop_started"] is not None]
    assert len(slept) == 3
    for row in slept:
        assert row["sigterm"] - row["prestop_started"] >= sleep - 0.1
    verify = summary["verify"]["close-first"]
    assert verify["fixed_variant"] == "close-first+fix"
    assert verify["before"]["failed"] == orders["close-first"]["failed"]
    assert verify["after"]["failed"] == 0 and verify["after"]["termination_s"]["samples"] == 3
    page = (run_dir / "report.html").read_text()
    main = page[page.index("<main>") :]
    assert re.match(r"<main>\s*<section id=\"before-after\"", main), main[:300]
    assert "records-close-first+fix.jsonl" in page
    assert (run_dir / "records-close-first+fix.jsonl").stat().st_size > 0


def test_naives_fix_with_keep_alive_is_partial_and_says_why(tmp_path: Path) -> None:
    """naive exits at SIGTERM: the sleep keeps new connections off it, but what the app itself
    cuts (requests in flight, kept connections closed unanswered) no patch can change."""
    run_dir, summary = _run(tmp_path, "naive", keepalive=True)
    fix = summary["fixes"]["naive"]
    assert summary["orders"]["naive"]["failed"] > 0
    assert fix["partial"] is True and fix["unfixable"], fix
    page = (run_dir / "report.html").read_text()
    before_after = page[page.index('<section id="before-after"') :]
    before_after = before_after[: before_after.index("</section>")]
    assert 'data-measure="fix"' in before_after and "partial: " in before_after
    assert "complete" not in before_after
    # What the fix run still dropped is the kind the fix said it cannot change.
    after = summary["orders"]["naive+fix"]
    assert after["failures_by_class"].get("connection_refused", 0) == 0, after


def _delete_offsets(run_dir: Path, variant: str) -> list[float]:
    events = read_timeline(run_dir / f"timeline-{variant}.jsonl")
    start = next(e.ts for e in events if e.kind == "load_started")
    return [round(e.ts - start, 2) for e in events if e.kind == "delete_requested"]


def test_ctrl_c_during_a_fix_run_still_writes_a_partial_report(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    env = {**os.environ, "DRAINLAB_TEST_MARKER": marker}
    # A new connection per request: close-first cuts some at every deletion; 3 deletions give
    # the recommendation its samples, and the fix its sleep.
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
