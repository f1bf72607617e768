"""Runs locust headless as a subprocess, for the asyncio run orchestrator.

    run = await start_load(url, traffic, duration_s, records_path, seed, log_path)
    ...  # run.stats() for the progress line, run.status() for started/stopping times
    code = await run.wait()  # or: await run.stop()

- ``start_load`` returns once locust has fired ``test_start`` (the locustfile writes "started" to
  a status file next to the log). A locust that exits or hangs before that (bad locustfile,
  import error, bad settings) is a one-line ``HarnessError`` quoting the log's last line.
- Locust exits 1 when any request failed; that is a normal outcome here, not an error. Any other
  exit the harness did not cause (2: an exception in a listener, a signal) means the records
  cannot be trusted, and ``wait`` raises ``HarnessError``; a records file the disk refused
  stops locust at once with an exit code that carries the errno: ``WriteError`` naming the file.
- End of the run: the locustfile quits the runner after ``duration_s``; ``--stop-timeout`` lets
  each user finish the request it is in (locust's default of 0 would kill it mid-flight). It is
  ``2 * timeout_s + 2`` so even a request that spends the whole timeout connecting and then the
  whole timeout reading ends on its own; a request still cut off is not recorded, only counted
  (``LoadStatus.cut_off``). Requests that complete after ``LoadStatus.stopping_at`` were in
  flight when the run ended.
- ``stop`` sends SIGTERM (locust's graceful path: the same stop-timeout applies), then SIGKILL
  after a bound. Locust gets PR_SET_PDEATHSIG=SIGKILL (through util-linux's ``setpriv``, not a
  ``preexec_fn``, which is unsafe once the harness has threads) and its own session, so it never
  outlives the harness and a Ctrl-C in the terminal reaches only the harness, which decides. The
  death signal is tied to the thread that started it: call ``start_load`` from the thread whose
  event loop lives as long as the run (the main thread, in practice).
- Locust's own output goes to ``log_path``; the terminal stays clean.
- Several workers (``traffic.workers`` > 1, harness.load.workers): locust's distributed mode on
  loopback, a master (``log_path``, its status file) and N worker processes, each with its own
  log, status and records file (``runfolder.worker_file``); harness.records joins the records
  when the order ends. The master waits for all N before it starts; workers that never reach it
  end the start with one line naming them. A worker that dies mid-run does not end the run: its
  records up to its death stay, and ``worker_deaths`` says which and when (the orchestrator
  warns and notes it in the timeline). Killed by us at the end, it is no death.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.errors import HarnessError, WriteError
from harness.load.config import LoadConfig, records_unwritable_errno
from harness.load.progress import LoadCounter, LoadStats, format_progress
from harness.load.spawn import LocustProcess, log_tail, spawn
from harness.load.status import LoadStatus, read_status
from harness.load.traffic import Traffic
from harness.load.workers import oversubscribed, worker_count
from harness.runfolder import worker_file

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_POLL_S = 0.05
# How long after the end of stop-timeout locust gets to print its summary and exit before SIGKILL.
_EXIT_MARGIN_S = 10.0
_LOOPBACK = "127.0.0.1"

logger = logging.getLogger(__name__)


class LoadProcess(Protocol):
    """One locust process of a run: on this machine (spawn.LocustProcess) or a pod in the
    cluster (harness.backends.kube.loadpods)."""

    worker: int | None  # None: the master, or the only process
    log_path: Path
    ended_at: float | None  # unix seconds it was seen to end

    @property
    def pid(self) -> int | None: ...

    @property
    def label(self) -> str:
        """How a person finds it: "pid 1234", "pod x on node y"."""
        ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def terminate(self) -> None:
        """Asks it to end gracefully (locust's SIGTERM path)."""
        ...

    def kill(self) -> None: ...


@dataclass(frozen=True)
class WorkerDeath:
    """A load worker that ended while the load still ran (killed, crashed)."""

    worker: int
    who: str  # the process's label
    at: float  # unix seconds the harness saw it end
    code: int  # its exit code (negative: the signal)
    log_path: Path


@dataclass(frozen=True)
class LoadPlan:
    """What an order's load is, wherever it is sent from: ``start_load``'s arguments after the
    target, and a ``ClusterLoader``'s (harness.backends.base)."""

    traffic: Traffic
    duration_s: float
    records_path: Path
    seed: int
    log_path: Path


def stop_timeout_for(traffic: Traffic) -> int:
    """Locust's ``--stop-timeout`` (whole seconds): long enough for any request in flight to end
    on its own."""
    return math.ceil(2 * traffic.timeout_s + 2)


class LoadRun:
    """A running locust (one process, or a master and its workers); made by ``start_load``."""

    def __init__(
        self,
        main: LoadProcess,
        workers: list[LoadProcess],
        config: LoadConfig,
        log_path: Path,
        stop_timeout_s: int,
    ) -> None:
        self._main = main
        self._workers = workers
        self.config = config
        self.log_path = log_path
        self.stop_timeout_s = stop_timeout_s
        records = [worker_file(config.records_path, p.worker or 0) for p in workers]
        self._counter = LoadCounter(records or [config.records_path])
        self._we_killed = False
        self._signalled_at: float | None = None  # when the harness itself began to end them
        self._watchers = [asyncio.ensure_future(self._watch(p)) for p in workers]

    @property
    def pid(self) -> int | None:
        return self._main.pid

    @property
    def worker_pids(self) -> list[int | None]:
        return [p.pid for p in self._workers]

    @property
    def returncode(self) -> int | None:
        return self._main.returncode

    def stats(self) -> LoadStats:
        """Requests recorded so far and how many failed (reads only what was appended)."""
        return self._counter.poll()

    def status(self) -> LoadStatus:
        return read_status(self.config.status_path, len(self._workers))

    def progress_line(self) -> str:
        """The live progress line: elapsed load time, requests, failures by class."""
        started = self.status().started_at
        elapsed = 0.0 if started is None else time.time() - started
        return format_progress(self.stats(), elapsed, self.config.duration_s)

    def worker_deaths(self) -> list[WorkerDeath]:
        """Workers that ended before the load was asked to stop, and not by the harness."""
        ends = [self.status().stopping_at, self._signalled_at]
        until = min((t for t in ends if t is not None), default=math.inf)
        deaths = []
        for p in self._workers:
            code, ended = p.returncode, p.ended_at
            if code is not None and ended is not None and ended < until:
                deaths.append(WorkerDeath(p.worker or 0, p.label, ended, code, p.log_path))
        return deaths

    async def _watch(self, process: LoadProcess) -> None:
        await process.wait()
        if process.ended_at is None:
            process.ended_at = time.time()

    async def wait_started(self, timeout_s: float) -> None:
        """Returns once locust fired test_start (its status file says "started"); a locust that
        exits or hangs before is a one-line HarnessError (stopped first)."""
        deadline = time.monotonic() + timeout_s
        while self.status().started_at is None:
            if self.returncode is not None:
                raise HarnessError(
                    f"locust could not start (exit code {self.returncode}); see "
                    f"{self.log_path}: {log_tail(self.log_path)}"
                )
            if time.monotonic() > deadline:
                await self.stop(grace_s=2.0)
                raise HarnessError(_not_started(self, timeout_s))
            await asyncio.sleep(_POLL_S)

    async def wait(self) -> int:
        """Waits for locust to exit; returns its exit code (0: no failure, 1: some failed)."""
        code = await self._main.wait()
        await self._wait_workers(self.stop_timeout_s + _EXIT_MARGIN_S)
        for process in [self._main, *self._workers]:
            errno = records_unwritable_errno(process.returncode or 0)
            if errno is not None:
                reason = os.strerror(errno) if errno else "the write failed"
                path = self.config.records_path
                if process.worker is not None:
                    path = worker_file(path, process.worker)
                raise WriteError(path, reason)
        if code in (0, 1) or self._we_killed:
            return code
        raise HarnessError(
            f"locust exited with code {code} during the run; see {self.log_path}: "
            f"{log_tail(self.log_path)}"
        )

    async def _wait_workers(self, grace_s: float) -> None:
        """Workers leave once the master told them to quit; one that hangs is killed."""
        if not self._watchers:
            return
        _, pending = await asyncio.wait(self._watchers, timeout=grace_s)
        if pending:
            self._we_killed = True
            self._signalled_at = self._signalled_at or time.time()
            for process in self._workers:
                process.kill()
            await asyncio.wait(pending)

    async def stop(self, grace_s: float | None = None) -> int:
        """Ends locust gracefully (SIGTERM), SIGKILL after ``grace_s``; returns its exit code.

        The default grace covers the stop-timeout plus time to exit, so in-flight requests end
        on their own and are recorded.
        """
        if self._main.returncode is not None:
            return await self.wait()
        grace = self.stop_timeout_s + _EXIT_MARGIN_S if grace_s is None else grace_s
        self._we_killed = True
        self._signalled_at = self._signalled_at or time.time()
        for process in [self._main, *self._workers]:
            process.terminate()
        try:
            await asyncio.wait_for(self._main.wait(), grace)
        except asyncio.TimeoutError:
            self._main.kill()
        code = await self._main.wait()
        await self._wait_workers(grace)
        return code


async def start_load(
    target_url: str,
    traffic: Traffic,
    duration_s: float,
    records_path: Path,
    seed: int,
    log_path: Path,
    *,
    start_timeout_s: float = 60.0,
    client_retries: bool = False,
    record: bool = True,
    locustfile: Path = LOCUSTFILE,
) -> LoadRun:
    """Starts locust against ``target_url`` and returns once its users are being spawned.

    ``records_path`` and the status file (``log_path`` with suffix ``.status.jsonl``) are
    truncated, and so are the workers' own files: a run owns them. ``record=False`` turns the
    request listener off (only to measure its cost); ``client_retries=True`` keeps
    geventhttpclient's silent resends.
    """
    workers = worker_count(traffic.workers)
    if warning := oversubscribed(workers):
        logger.warning("%s", warning)
    config = LoadConfig(
        records_path=records_path,
        status_path=log_path.with_suffix(".status.jsonl"),
        traffic=traffic,
        seed=seed,
        duration_s=duration_s,
        record=record,
        client_retries=client_retries,
        workers=workers,
    )
    start_files(config, log_path, workers if workers > 1 else 0)
    stop_timeout_s = stop_timeout_for(traffic)
    command = ["-f", str(locustfile), *locust_arguments(target_url, traffic, duration_s)]
    started: list[LocustProcess] = []
    try:
        if workers == 1:
            started.append(await spawn(command, config, log_path))
        else:
            port = _free_port()
            master = master_arguments(_LOOPBACK, port, workers)
            started.append(await spawn(command + master, config, log_path))
            for number in range(workers):
                own = dataclasses.replace(
                    config,
                    records_path=worker_file(records_path, number),
                    status_path=worker_file(config.status_path, number),
                    worker=number,
                )
                worker = ["-f", str(locustfile), *worker_arguments(_LOOPBACK, port)]
                started.append(await spawn(worker, own, worker_file(log_path, number), number))
        run = LoadRun(started[0], list(started[1:]), config, log_path, stop_timeout_s)
        await run.wait_started(start_timeout_s)
    except BaseException:
        # Cancelled (Ctrl-C) or failed while starting: no one else will ever stop these.
        for process in started:
            if process.returncode is None:
                process.kill()
        raise
    return run


def locust_arguments(target_url: str, traffic: Traffic, duration_s: float) -> list[str]:
    """Locust's options for a headless run of ``duration_s`` (the locustfile's own timer ends it;
    ``--run-time`` is a backstop), before any master or worker option."""
    stop_timeout_s = stop_timeout_for(traffic)
    backstop_s = math.ceil(duration_s + stop_timeout_s) + 30
    return [
        "--headless",
        "--users",
        str(traffic.users),
        "--spawn-rate",
        repr(traffic.spawn_rate),
        "--host",
        target_url.rstrip("/"),  # locust appends "/..." paths to it
        "--run-time",
        f"{backstop_s}s",
        "--stop-timeout",
        str(stop_timeout_s),
        "--only-summary",
        "--loglevel",
        "INFO",
    ]


def master_arguments(bind_host: str, port: int, workers: int) -> list[str]:
    """A distributed run's master: where it listens, and how many workers it waits for."""
    return [
        *("--master", "--master-bind-host", bind_host, "--master-bind-port", str(port)),
        *("--expect-workers", str(workers)),
    ]


def worker_arguments(master_host: str, port: int) -> list[str]:
    """One of its workers (they take everything else from the master)."""
    return [
        *("--worker", "--master-host", master_host, "--master-port", str(port)),
        *("--loglevel", "INFO"),
    ]


def start_files(config: LoadConfig, log_path: Path, workers: int) -> None:
    """Empties the order's records, status and log files (a run owns them), and each of
    ``workers``' own; with workers the records file itself is made only when their files are
    joined (harness.records.merge_worker_files), so it is removed."""
    files = [config.records_path, config.status_path, log_path]
    for path in [*files, *(worker_file(f, k) for f in files for k in range(workers))]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    if workers:
        config.records_path.unlink()


def _free_port() -> int:
    """A loopback port nobody listens on now, for the master (it binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _not_started(run: LoadRun, timeout_s: float) -> str:
    """Why the load did not start in time: the workers that never reached the master, if any."""
    status = run.status()
    absent = [w for w in status.workers if w.connected_at is None]
    if absent:
        names = ", ".join(
            f"worker {w.worker} ({worker_file(run.log_path, w.worker)})" for w in absent
        )
        return f"load workers never connected to the locust master within {timeout_s:g} s: {names}"
    return (
        f"locust did not start within {timeout_s:g} s; see {run.log_path}: {log_tail(run.log_path)}"
    )
