"""A run: for each order deploy, drive traffic and chaos, tear down; then analyse and report.

The run fills one ``RunJournal`` (journal.py) as it goes: run.json when it starts, each order
and its load window, and how it ended; records and timelines are flushed line by line beside it.
An interrupted or failed run still writes a partial summary and report from what was recorded
(outputs.py), and a killed one can be summarised later by ``harness report``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

from harness import runfolder
from harness.backends.base import Backend, ClusterLoader, DeploySpec, EventSink, Target
from harness.backends.select import Choice, make_backend
from harness.chaos import play_chaos
from harness.console import Console
from harness.disruptions import uncordon_drained
from harness.durable import sync_path
from harness.errors import HarnessError, UsageError, WriteError
from harness.fixes.files import fix_server
from harness.gate import GateLimits
from harness.journal import RunJournal
from harness.jsonl import JsonlWriter
from harness.load.clocks import join_records
from harness.load.runner import LoadPlan, LoadRun, start_load
from harness.load.traffic import CLUSTER
from harness.logsetup import run_log
from harness.matrix import planned_orders
from harness.outputs import summarise, write_outputs
from harness.runlock import running
from harness.scenario import Scenario
from harness.timeline import EventKind, TimelineEvent
from harness.verify import FixSource, verify_fixes


async def run_experiment(
    scenario: Scenario,
    choice: Choice,
    out: Path,
    console: Console,
    gate_limits: GateLimits | None = None,
    fixes: FixSource | None = None,
) -> RunJournal:
    """Runs every order of the scenario, then writes summary.json, report.html and junit.xml;
    returns the run's journal, summary and gate verdict filled in. With ``fixes``
    (``--verify-fix``), each variant that dropped requests then runs again with its fix
    (harness.verify), before the outputs are written.

    Cancelled (Ctrl-C, SIGTERM) it tears down what it started and still writes a partial report.
    The harness's own log (retries, reconnects, warnings) goes to ``logs/harness.log``.
    """
    run_dir = runfolder.new_run_dir(out)  # a bad --out: one line, before anything starts
    runfolder.check_writable(run_dir)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(running(run_dir))
            stack.enter_context(run_log(run_dir / "logs"))
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot write in it: {exc.strerror or exc}") from None
        return await _experiment(scenario, choice, run_dir, console, gate_limits, fixes)


async def _experiment(
    scenario: Scenario,
    choice: Choice,
    run_dir: Path,
    console: Console,
    gate_limits: GateLimits | None,
    fixes: FixSource | None,
) -> RunJournal:
    console.info(f"run folder: {run_dir}")
    console.info(f"backend: {choice.name} ({choice.why})")
    journal = RunJournal.start(run_dir, scenario.to_dict(), choice.name, choice.why, scenario.seed)
    try:
        return await _orders_then_outputs(scenario, choice, journal, console, gate_limits, fixes)
    finally:
        journal.close()


async def _orders_then_outputs(
    scenario: Scenario,
    choice: Choice,
    journal: RunJournal,
    console: Console,
    gate_limits: GateLimits | None,
    fixes: FixSource | None,
) -> RunJournal:
    run_dir = journal.run_dir
    failure: HarnessError | None = None
    backend: Backend | None = None
    try:
        backend = make_backend(choice, scenario, run_dir)
        planned = planned_orders(scenario)  # the variants, or the matrix's cells
        for index, order in enumerate(planned, start=1):
            console.info(f"[{index}/{len(planned)}] {order.words}")
            await _run_order(backend, order.scenario, journal, order.spec, console)
        if fixes is not None:
            run_fix = functools.partial(_run_order, backend, scenario, journal, console=console)
            await verify_fixes(summarise(journal), run_dir, scenario, fixes, run_fix, console)
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
        if isinstance(exc, WriteError) and journal.orders:
            journal.note_missing(f"{Path(str(exc.path)).name}: {exc.reason}")
        journal.partial = True
        journal.error = str(exc)
        console.info("the run failed: writing a partial report")
    try:
        summarise(journal)
        facts = getattr(backend, "fix_facts", None)  # kube backends: to check the fixes there
        server = fix_server(facts, scenario.kube.namespace)
        report = write_outputs(journal, None if failure else gate_limits, server)
    except WriteError as exc:
        raise _no_outputs(failure, exc, run_dir) from None
    console.info(f"report: {report}")
    if failure is not None:
        raise failure
    return journal


def _no_outputs(failure: HarnessError | None, exc: WriteError, run_dir: Path) -> WriteError:
    """The one line when the disk refused the summary or the report too: the first fault, and
    that what the run wrote stays readable for `harness report` once there is room."""
    later = f"no summary or report: `harness report {run_dir}` once there is room"
    if isinstance(failure, WriteError):
        same = exc.reason == failure.reason
        return WriteError(
            failure.path,
            f"{failure.reason}; {later}"
            if same
            else f"{failure.reason}; {exc.path}: {exc.reason}; {later}",
        )
    after = "" if failure is None else f" (the run had failed: {failure})"
    return WriteError(exc.path, f"{exc.reason}{after}; {later}")


async def _run_order(
    backend: Backend,
    scenario: Scenario,
    journal: RunJournal,
    spec: DeploySpec,
    console: Console,
) -> None:
    order, run_dir = spec.variant, journal.run_dir
    entry = journal.order_started(order)
    timeline = JsonlWriter(run_dir / runfolder.timeline_name(order))
    emit = _sink(timeline)
    load = None
    background: list[asyncio.Task[Any]] = []  # chaos and the wait for load: stopped on every exit
    try:
        console.progress(f"[{order}] deploying {spec.replicas} replicas, waiting until ready")
        target = await backend.deploy(spec, emit)
        journal.note_semantics(getattr(backend, "semantics", None))  # harness.kubeversion
        _check_written(timeline)
        source = scenario.traffic.source
        sent_to = target.cluster_url if source == CLUSTER else target.url
        detail = {"target": sent_to, "from": source}
        t0 = time.time()
        if source != CLUSTER:
            timeline.write(TimelineEvent(t0, EventKind.LOAD_STARTED, detail=detail))
        load = await _start_load(backend, target, scenario, run_dir, order)
        if source == CLUSTER:
            # Pods take seconds to be made and scheduled: the load (and the chaos timed from
            # it) starts when locust's master says it did.
            t0 = load.status().started_at or time.time()
            timeline.write(TimelineEvent(t0, EventKind.LOAD_STARTED, detail=detail))
        chaos = asyncio.create_task(
            play_chaos(
                backend,
                scenario.chaos,
                scenario.chaos_offsets(),
                random.Random(scenario.seed),
                emit,
                t0,
                scenario.replicas,
            )
        )
        waiting = asyncio.create_task(load.wait())
        background += [chaos, waiting]
        planned = len(scenario.chaos_offsets())
        deaths: set[int] = set()
        while not waiting.done():
            await asyncio.wait({waiting, chaos}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            if chaos.done() and not chaos.cancelled() and chaos.exception() is not None:
                await chaos  # a chaos action failed for good: end the order now, not at the end
            _note_worker_deaths(load, deaths, order, emit, console)
            _check_written(timeline)
            stats = load.stats()
            elapsed = min(time.time() - t0, scenario.duration_s)
            console.progress(
                f"[{order}] {elapsed:5.1f}/{scenario.duration_s:g} s  "
                f"requests {stats.requests}  failed {stats.failed}  "
                f"chaos {_count_done(chaos, t0, scenario)}/{planned}"
            )
        if isinstance(waiting.exception(), WriteError):
            await waiting  # the records file was refused: the order ends on that one line
        _note_worker_deaths(load, deaths, order, emit, console)
        t_end = time.time()
        timeline.write(TimelineEvent(t_end, EventKind.LOAD_STOPPED))
        entry.window = (t0, t_end)
        outcomes = await chaos  # every action's outcome is in the timeline
        await uncordon_drained(backend, outcomes)  # the pods may need the drained node to settle
        console.progress(f"[{order}] load done; waiting for pods to settle")
        await backend.wait_settled(scenario.settle_timeout_s)
        _check_written(timeline)
        stats = load.stats()
        console.info(f"[{order}] {stats.requests} requests, {stats.failed} failed")
        counted = load.status().locust_requests
        if counted is not None and counted > stats.requests:
            console.warn(
                f"[{order}] locust counted {counted} requests, {stats.requests} were recorded: "
                f"{counted - stats.requests} records are missing (see {load.log_path.parent})"
            )
    finally:
        for task in background:
            task.cancel()  # a no-op for those that finished
        await asyncio.gather(*background, return_exceptions=True)
        try:
            if load is not None:
                await _shielded(load.stop())  # raises again for a locust that failed
        finally:
            await _shielded(backend.teardown())  # whatever stopping the load raised
            console.done()
            closed = _close_files(timeline, run_dir, order, journal)
    if closed is not None:
        raise closed


async def _start_load(
    backend: Backend, target: Target, scenario: Scenario, run_dir: Path, order: str
) -> LoadRun:
    """Locust on this machine, or (traffic.from: cluster) as pods in the cluster."""
    plan = LoadPlan(
        scenario.traffic,
        scenario.duration_s,
        run_dir / runfolder.records_name(order),
        scenario.seed,
        run_dir / "logs" / f"locust-{order}.log",
    )
    if scenario.traffic.source != CLUSTER:
        return await start_load(
            target.url, plan.traffic, plan.duration_s, plan.records_path, plan.seed, plan.log_path
        )
    if not isinstance(backend, ClusterLoader):  # choose_backend refuses this before the run
        raise UsageError("traffic.from: cluster needs a cluster backend")
    return await backend.start_cluster_load(target, plan)


def _note_worker_deaths(
    load: LoadRun, noted: set[int], order: str, emit: EventSink, console: Console
) -> None:
    """A load worker that died mid-run: a warning now, and an event where it happened (the
    report shows the gap: its users sent nothing after)."""
    for death in load.worker_deaths():
        if death.worker in noted:
            continue
        noted.add(death.worker)
        console.warn(
            f"[{order}] load worker {death.worker} ({death.who}) died with code "
            f"{death.code}; its records up to then are kept, its users sent nothing after "
            f"(log: {death.log_path})"
        )
        detail = {"worker": death.worker, "who": death.who, "code": death.code}
        emit(TimelineEvent(death.at, EventKind.LOAD_WORKER_DIED, detail=detail))


def _sink(timeline: JsonlWriter) -> EventSink:
    """The backends' and chaos's way into the timeline. A failed write must not stop pods from
    being killed or replaced, so it does not raise here: the writer keeps the failure and counts
    every event it loses, and the order ends on it at its next check (``_check_written``)."""

    def emit(event: TimelineEvent) -> None:
        with contextlib.suppress(WriteError):
            timeline.write(event)

    return emit


def _check_written(timeline: JsonlWriter) -> None:
    if timeline.failure is not None:
        raise timeline.failure


def _close_files(
    timeline: JsonlWriter, run_dir: Path, order: str, journal: RunJournal
) -> WriteError | None:
    """The order is over: its records and timeline are fsynced (so a machine that goes down
    keeps them), and the journal notes what did not reach the disk. Never raises: it runs while
    an error or a cancel may be on its way out; returns the first failure instead."""
    failures: list[WriteError] = []
    records = run_dir / runfolder.records_name(order)
    try:
        join_records(run_dir, order)  # several load workers: one file again, synced
        if records.exists():  # written by locust, flushed line by line: synced once, here
            sync_path(records)
    except WriteError as exc:
        failures.append(exc)
        journal.note_missing(f"{records.name}: not synced ({exc.reason})")
    latched = timeline.failure
    try:
        timeline.close()
    except WriteError as exc:  # the fsync of a timeline whose writes all went through
        latched = exc
    if latched is not None:
        failures.insert(0, latched)
        lost = f"{timeline.lost} events not written" if timeline.lost else "not synced"
        journal.note_missing(f"{timeline.path.name}: {lost} ({latched.reason})")
    return failures[0] if failures else None


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
