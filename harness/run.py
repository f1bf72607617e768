"""A run: for each order deploy, drive traffic and chaos, tear down; then analyse and report.

This is the journal of the whole experiment: everything that happens is on disk as it happens
(records and timeline are flushed line by line), so an interrupted run still yields a partial
summary and report from what was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import runfolder
from harness.analysis import analyse_order_file, summary_of_orders
from harness.backends.base import Backend
from harness.backends.select import Choice, make_backend
from harness.chaos import play_chaos
from harness.console import Console
from harness.gate import GateLimits, GateResult, evaluate
from harness.load.runner import start_load
from harness.orders import deploy_spec
from harness.records import (
    LOAD_STARTED,
    LOAD_STOPPED,
    JsonlWriter,
    TimelineEvent,
    read_timeline,
)
from harness.report.html import write_report
from harness.report.junit import write_junit
from harness.scenario import Scenario


@dataclass
class OrderRun:
    order: str
    window: tuple[float, float] | None = None
    deletions_done: int = 0


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    partial: bool
    gate: GateResult | None = None
    orders: list[OrderRun] = field(default_factory=list)


async def run_experiment(
    scenario: Scenario,
    choice: Choice,
    out: Path,
    console: Console,
    gate_limits: GateLimits | None = None,
) -> RunResult:
    """Runs every order of the scenario, then writes summary.json, report.html and junit.xml.

    Cancelled (Ctrl-C, SIGTERM) it tears down what it started and still writes a partial report.
    """
    run_dir = runfolder.new_run_dir(out)
    console.info(f"run folder: {run_dir}")
    console.info(f"backend: {choice.name} ({choice.why})")
    started = runfolder.iso_now()
    done: list[OrderRun] = []
    partial = False
    try:
        backend = make_backend(choice, scenario, run_dir)
        for index, order in enumerate(scenario.orders, start=1):
            console.info(f"[{index}/{len(scenario.orders)}] order {order}")
            outcome = OrderRun(order)
            done.append(outcome)
            await _run_order(backend, scenario, outcome, run_dir, console)
        close = getattr(backend, "close", None)  # kind: delete the cluster if it made one
        if close is not None:
            await close()
    except asyncio.CancelledError:
        # Keep going to write the partial report; later awaits must not see a stale cancel.
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
        partial = True
        console.info("interrupted: stopped load and pods; writing a partial report")
    summary = _summarise(scenario, choice, run_dir, done, started, partial)
    gate = evaluate(summary, gate_limits) if gate_limits is not None else None
    if gate is not None:
        summary["gate"] = gate.to_dict()
    runfolder.write_json_atomic(run_dir / runfolder.SUMMARY, summary)
    write_junit(summary, gate_limits, run_dir / runfolder.JUNIT)
    report = write_report(run_dir)
    console.info(f"report: {report}")
    return RunResult(run_dir, summary, partial, gate, done)


async def _run_order(
    backend: Backend, scenario: Scenario, outcome: OrderRun, run_dir: Path, console: Console
) -> None:
    order = outcome.order
    app = scenario.app
    spec = deploy_spec(
        order,
        replicas=scenario.replicas,
        shutdown_delay_s=app.shutdown_delay_s,
        shutdown_strategy=app.shutdown_strategy,
        quiet_period_s=app.quiet_period_s,
        drain_timeout_s=app.drain_timeout_s,
        prestop_sleep_s=app.prestop_sleep_s,
        grace_period_s=app.grace_period_s,
    )
    timeline = JsonlWriter(run_dir / runfolder.timeline_name(order))
    load = None
    try:
        console.progress(f"[{order}] deploying {spec.replicas} replicas, waiting until ready")
        target = await backend.deploy(spec, timeline.write)
        t0 = time.time()
        timeline.write(TimelineEvent(t0, LOAD_STARTED, detail={"target": target.url}))
        load = await start_load(
            target.url,
            scenario.traffic,
            scenario.duration_s,
            run_dir / runfolder.records_name(order),
            scenario.seed,
            run_dir / "logs" / f"locust-{order}.log",
        )
        chaos = asyncio.create_task(
            play_chaos(
                backend,
                scenario.chaos,
                scenario.chaos_offsets(),
                random.Random(scenario.seed),
                timeline.write,
                t0,
            )
        )
        waiting = asyncio.create_task(load.wait())
        planned = len(scenario.chaos_offsets())
        while not waiting.done():
            await asyncio.wait({waiting}, timeout=1.0)
            stats = load.stats()
            elapsed = min(time.time() - t0, scenario.duration_s)
            console.progress(
                f"[{order}] {elapsed:5.1f}/{scenario.duration_s:g} s  "
                f"requests {stats.requests}  failed {stats.failed}  "
                f"chaos {_count_done(chaos, t0, scenario)}/{planned}"
            )
        t_end = time.time()
        timeline.write(TimelineEvent(t_end, LOAD_STOPPED))
        outcome.window = (t0, t_end)
        outcomes = await chaos
        outcome.deletions_done = len(outcomes)
        console.progress(f"[{order}] load done; waiting for pods to settle")
        await backend.wait_settled(scenario.settle_timeout_s)
        stats = load.stats()
        console.info(f"[{order}] {stats.requests} requests, {stats.failed} failed")
    finally:
        if load is not None:
            await _shielded(load.stop())
        await _shielded(backend.teardown())
        timeline.close()
        console.done()


def _count_done(chaos: asyncio.Task[Any], t0: float, scenario: Scenario) -> int:
    if chaos.done():
        return len(scenario.chaos_offsets())
    now = time.time() - t0
    return sum(1 for offset in scenario.chaos_offsets() if offset <= now)


async def _shielded(coro: Any) -> None:
    """Cleanup that must finish even while the run is being cancelled."""
    task = asyncio.ensure_future(coro)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


def _summarise(
    scenario: Scenario,
    choice: Choice,
    run_dir: Path,
    done: list[OrderRun],
    started: str,
    partial: bool,
) -> dict[str, Any]:
    per_order: dict[str, Any] = {}
    for outcome in done:
        records_path = run_dir / runfolder.records_name(outcome.order)
        timeline_path = run_dir / runfolder.timeline_name(outcome.order)
        if not records_path.exists():
            records_path.touch()
        timeline = read_timeline(timeline_path) if timeline_path.exists() else []
        window = outcome.window or _window_from(timeline)
        analysis = analyse_order_file(outcome.order, records_path, timeline, window)
        per_order[outcome.order] = analysis.summary
        with JsonlWriter(run_dir / runfolder.pods_name(outcome.order)) as pods:
            for row in analysis.pods:
                pods.write(row)
    summary = summary_of_orders(per_order)
    summary.update(
        {
            "schema_version": runfolder.SCHEMA_VERSION,
            "partial": partial or any(o.window is None for o in done),
            "backend": choice.name,
            "backend_detail": {"why": choice.why},
            "scenario": scenario.to_dict(),
            "started": started,
            "finished": runfolder.iso_now(),
            "seed": scenario.seed,
            "versions": runfolder.versions(),
        }
    )
    return summary


def _window_from(timeline: list[TimelineEvent]) -> tuple[float, float]:
    """An interrupted order has no load window: take the span of what was observed."""
    stamps = [e.ts for e in timeline]
    now = time.time()
    return (min(stamps, default=now), max(stamps, default=now))


def install_signal_handlers(task: asyncio.Task[Any], console: Console) -> None:
    """First SIGINT/SIGTERM cancels the run cleanly; a second one ends the process at once."""
    loop = asyncio.get_running_loop()
    hits = {"n": 0}

    def on_signal(signum: int) -> None:
        hits["n"] += 1
        if hits["n"] == 1:
            console.warn(f"{signal.Signals(signum).name}: stopping (again to force)")
            task.cancel()
        else:
            # The pods die with us (PR_SET_PDEATHSIG); records on disk are already flushed.
            os._exit(130)

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signum)
