"""A run: for each order deploy, drive traffic and chaos, tear down; then analyse and report.

The run fills one ``RunJournal`` (journal.py) as it goes: run.json when it starts, each order
and its load window, and how it ended; records and timelines are flushed line by line beside it.
An interrupted or failed run still writes a partial summary and report from what was recorded
(outputs.py), and a killed one can be summarised later by ``harness report``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

from harness import runfolder
from harness.backends.base import Backend
from harness.backends.select import Choice, make_backend
from harness.chaos import play_chaos
from harness.console import Console
from harness.errors import HarnessError
from harness.gate import GateLimits
from harness.journal import OrderEntry, RunJournal
from harness.jsonl import JsonlWriter
from harness.load.runner import start_load
from harness.logsetup import run_log
from harness.outputs import summarise, write_outputs
from harness.runlock import running
from harness.scenario import Scenario
from harness.timeline import EventKind, TimelineEvent


async def run_experiment(
    scenario: Scenario,
    choice: Choice,
    out: Path,
    console: Console,
    gate_limits: GateLimits | None = None,
) -> RunJournal:
    """Runs every order of the scenario, then writes summary.json, report.html and junit.xml;
    returns the run's journal, summary and gate verdict filled in.

    Cancelled (Ctrl-C, SIGTERM) it tears down what it started and still writes a partial report.
    The harness's own log (retries, reconnects, warnings) goes to ``logs/harness.log``.
    """
    run_dir = runfolder.new_run_dir(out)
    with running(run_dir), run_log(run_dir / "logs"):
        return await _experiment(scenario, choice, run_dir, console, gate_limits)


async def _experiment(
    scenario: Scenario,
    choice: Choice,
    run_dir: Path,
    console: Console,
    gate_limits: GateLimits | None,
) -> RunJournal:
    console.info(f"run folder: {run_dir}")
    console.info(f"backend: {choice.name} ({choice.why})")
    journal = RunJournal.start(run_dir, scenario.to_dict(), choice.name, choice.why, scenario.seed)
    failure: HarnessError | None = None
    try:
        backend = make_backend(choice, scenario, run_dir)
        for index, order in enumerate(scenario.orders, start=1):
            console.info(f"[{index}/{len(scenario.orders)}] order {order}")
            await _run_order(backend, scenario, journal.order_started(order), run_dir, console)
    except asyncio.CancelledError:
        # Keep going to write the partial report; later awaits must not see a stale cancel.
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
        journal.partial = True
        console.info("interrupted: stopped load and pods; writing a partial report")
    except HarnessError as exc:
        # The order's teardown has run; keep what was measured, then end with the one line.
        failure = exc
        journal.partial = True
        journal.error = str(exc)
        console.info("the run failed: writing a partial report")
    summarise(journal)
    report = write_outputs(journal, None if failure else gate_limits)
    console.info(f"report: {report}")
    if failure is not None:
        raise failure
    return journal


async def _run_order(
    backend: Backend, scenario: Scenario, entry: OrderEntry, run_dir: Path, console: Console
) -> None:
    order = entry.name
    spec = scenario.deploy_spec(order)
    timeline = JsonlWriter(run_dir / runfolder.timeline_name(order))
    load = None
    background: list[asyncio.Task[Any]] = []  # chaos and the wait for load: stopped on every exit
    try:
        console.progress(f"[{order}] deploying {spec.replicas} replicas, waiting until ready")
        target = await backend.deploy(spec, timeline.write)
        t0 = time.time()
        timeline.write(TimelineEvent(t0, EventKind.LOAD_STARTED, detail={"target": target.url}))
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
        background += [chaos, waiting]
        planned = len(scenario.chaos_offsets())
        while not waiting.done():
            await asyncio.wait({waiting, chaos}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            if chaos.done() and not chaos.cancelled() and chaos.exception() is not None:
                await chaos  # a chaos action failed for good: end the order now, not at the end
            stats = load.stats()
            elapsed = min(time.time() - t0, scenario.duration_s)
            console.progress(
                f"[{order}] {elapsed:5.1f}/{scenario.duration_s:g} s  "
                f"requests {stats.requests}  failed {stats.failed}  "
                f"chaos {_count_done(chaos, t0, scenario)}/{planned}"
            )
        t_end = time.time()
        timeline.write(TimelineEvent(t_end, EventKind.LOAD_STOPPED))
        entry.window = (t0, t_end)
        await chaos  # every action's outcome is in the timeline
        console.progress(f"[{order}] load done; waiting for pods to settle")
        await backend.wait_settled(scenario.settle_timeout_s)
        stats = load.stats()
        console.info(f"[{order}] {stats.requests} requests, {stats.failed} failed")
    finally:
        for task in background:
            task.cancel()  # a no-op for those that finished
        await asyncio.gather(*background, return_exceptions=True)
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
            # The pods die with us (their supervisors' death signal), locust too (setpriv's);
            # records on disk are already flushed.
            os._exit(130)

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signum)
