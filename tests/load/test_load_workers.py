"""Several load workers (traffic.workers): locust's distributed mode, every request recorded.

Real locust master and worker processes against a real aiohttp server on loopback; the server
counts what it answered, locust counts what its workers reported, the records what was written.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from pathlib import Path

import pytest
from helpers.loadrun import run_async, start

from bench.testserver import LoopbackServer, serve
from harness.errors import HarnessError
from harness.load.runner import LoadRun, start_load
from harness.load.workers import cores, oversubscribed, worker_count, workers_problem
from harness.records import merge_worker_files, read_records, worker_files
from harness.runfolder import worker_file
from harness.scenario import Traffic

TWO = Traffic(
    users=6,
    spawn_rate=100,
    slow_ms_min=10,
    slow_ms_max=40,
    wait_min_s=0.01,
    wait_max_s=0.03,
    timeout_s=5.0,
    workers="2",
)


def test_workers_setting() -> None:
    assert workers_problem("1") is None and workers_problem("auto") is None
    assert workers_problem("64") is None
    assert workers_problem("0") == "traffic.workers: 0 is outside 1..64"
    assert workers_problem("65") == "traffic.workers: 65 is outside 1..64"
    assert workers_problem("two") == "traffic.workers: expected a whole number or auto, got 'two'"
    assert worker_count("auto") == cores() >= 1
    assert worker_count("3") == 3
    assert oversubscribed(cores()) is None
    warning = oversubscribed(cores() + 1)
    assert warning is not None and f"{cores() + 1} load workers on {cores()} cores" in warning


@pytest.mark.slow
def test_two_workers_record_every_request_and_locust_counts_the_same(tmp_path: Path) -> None:
    async def scenario() -> tuple[LoadRun, LoopbackServer]:
        server = await serve("pod-w")
        run = await start(server.url, tmp_path, TWO, 4.0)
        assert len(run.worker_pids) == 2
        assert await run.wait() == 0
        await server.close()
        return run, server

    run, server = run_async(scenario)
    progress = run.progress_line()  # from the workers' files, as they grew
    assert progress.startswith(f"load 4.0/4 s  {server.counts.requests} requests  0 failed")
    records_path = tmp_path / "records.jsonl"
    assert not records_path.exists()  # the workers wrote their own files
    parts = worker_files(records_path)
    assert parts == [worker_file(records_path, 0), worker_file(records_path, 1)]
    assert merge_worker_files(records_path) == 2
    assert worker_files(records_path) == []
    records = read_records(records_path)
    status = run.status()
    # Every request: the server's count, the records, and locust's own (its workers' reports).
    assert len(records) == server.counts.requests == status.locust_requests == status.records
    assert {r.worker for r in records} == {0, 1}
    for worker in status.workers:
        own = [r for r in records if r.worker == worker.worker]
        assert len(own) == worker.records == worker.locust_requests > 0
        assert worker.connected_at is not None and worker.cpu_s is not None
        # Worker k's users are k, k + 2, k + 4: unique across workers, 0..5 in all.
        assert {r.user for r in own} == {u for u in range(6) if u % 2 == worker.worker}
    assert {(r.error, r.status, r.pod) for r in records} == {(None, 200, "pod-w")}
    ends = [r.end for r in records]
    # One stream in order of end: each worker's file is in completion order, which may differ
    # from the end stamps by a scheduling hiccup, never by more than a few milliseconds.
    assert all(later >= earlier - 0.05 for earlier, later in itertools.pairwise(ends))
    assert status.cut_off == 0 and run.worker_deaths() == []


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_a_death_and_its_records_stay(tmp_path: Path) -> None:
    async def scenario() -> tuple[LoadRun, float, int]:
        server = await serve("pod-k")
        run = await start(server.url, tmp_path, TWO, 5.0)
        while run.stats().requests < 100:
            await asyncio.sleep(0.05)
        victim = run.worker_pids[1]
        os.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        assert await run.wait() == 0  # the run completes on the other worker
        await server.close()
        return run, killed_at, victim

    run, killed_at, victim = run_async(scenario)
    (death,) = run.worker_deaths()
    assert (death.worker, death.who, death.code) == (1, f"pid {victim}", -signal.SIGKILL)
    assert killed_at <= death.at <= killed_at + 2
    assert death.log_path == worker_file(tmp_path / "locust.log", 1)
    records_path = tmp_path / "records.jsonl"
    merge_worker_files(records_path)
    records = read_records(records_path)
    dead = [r for r in records if r.worker == 1]
    alive = [r for r in records if r.worker == 0]
    assert dead and all(r.end <= death.at for r in dead)  # kept, up to its death
    assert alive and max(r.end for r in alive) > death.at + 2  # the other went on
    status = run.status()
    assert status.workers[0].records == len(alive)
    assert status.workers[1].stopped_at is None  # it never said it stopped


@pytest.mark.slow
def test_a_worker_that_never_connects_is_named_in_one_line(tmp_path: Path) -> None:
    # Worker 1 hangs while it imports the locustfile, before it could reach the master.
    stuck = tmp_path / "stuck_locustfile.py"
    stuck.write_text(
        "import os, time\n"
        "if os.environ.get('DRAINLAB_WORKER') == '1':\n"
        "    time.sleep(3600)\n"
        f"exec(open({str(Path(__file__).parents[2] / 'harness/load/locustfile.py')!r}).read())\n"
    )

    async def scenario() -> None:
        await start_load(
            "http://127.0.0.1:9",
            TWO,
            5.0,
            tmp_path / "r.jsonl",
            1,
            tmp_path / "locust.log",
            start_timeout_s=6.0,
            locustfile=stuck,
        )

    began = time.monotonic()
    with pytest.raises(HarnessError) as info:
        run_async(scenario)
    assert time.monotonic() - began < 30
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        "load workers never connected to the locust master within 6 s: "
        f"worker 1 ({tmp_path / 'locust.w1.log'})"
    )
