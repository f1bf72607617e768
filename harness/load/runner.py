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
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, WriteError
from harness.jsonl import iter_jsonl
from harness.load.config import ALL_ENV, LoadConfig, records_unwritable_errno
from harness.load.progress import LoadCounter, LoadStats, format_progress
from harness.scenario import Traffic

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_POLL_S = 0.05
# How long after the end of stop-timeout locust gets to print its summary and exit before SIGKILL.
_EXIT_MARGIN_S = 10.0


@dataclass(frozen=True)
class LoadStatus:
    """What the locust process said about itself (status file); None until it happened."""

    started_at: float | None = None  # unix seconds of locust's test_start
    stopping_at: float | None = None  # users were asked to stop
    stopped_at: float | None = None  # all users stopped
    cut_off: int | None = None  # requests killed mid-flight at the end, not recorded
    client_retries: bool | None = None  # geventhttpclient's silent resends were left on
    cpu_s: float | None = None  # CPU seconds locust used from start to stopped (one gevent thread)


def stop_timeout_for(traffic: Traffic) -> int:
    """Locust's ``--stop-timeout`` (whole seconds): long enough for any request in flight to end
    on its own."""
    return math.ceil(2 * traffic.timeout_s + 2)


class LoadRun:
    """A running locust process; made by ``start_load``."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        config: LoadConfig,
        log_path: Path,
        stop_timeout_s: int,
    ) -> None:
        self._process = process
        self.config = config
        self.log_path = log_path
        self.stop_timeout_s = stop_timeout_s
        self._counter = LoadCounter(config.records_path)
        self._we_killed = False

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def stats(self) -> LoadStats:
        """Requests recorded so far and how many failed (reads only what was appended)."""
        return self._counter.poll()

    def status(self) -> LoadStatus:
        return read_status(self.config.status_path)

    def progress_line(self) -> str:
        """The live progress line: elapsed load time, requests, failures by class."""
        started = self.status().started_at
        elapsed = 0.0 if started is None else time.time() - started
        return format_progress(self.stats(), elapsed, self.config.duration_s)

    async def wait(self) -> int:
        """Waits for locust to exit; returns its exit code (0: no failure, 1: some failed)."""
        code = await self._process.wait()
        errno = records_unwritable_errno(code)
        if errno is not None:
            reason = os.strerror(errno) if errno else "the write failed"
            raise WriteError(self.config.records_path, reason)
        if code in (0, 1) or self._we_killed:
            return code
        raise HarnessError(
            f"locust exited with code {code} during the run; see {self.log_path}: "
            f"{log_tail(self.log_path)}"
        )

    async def stop(self, grace_s: float | None = None) -> int:
        """Ends locust gracefully (SIGTERM), SIGKILL after ``grace_s``; returns its exit code.

        The default grace covers the stop-timeout plus time to exit, so in-flight requests end
        on their own and are recorded.
        """
        if self._process.returncode is not None:
            return await self.wait()
        grace = self.stop_timeout_s + _EXIT_MARGIN_S if grace_s is None else grace_s
        self._we_killed = True
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self._process.wait(), grace)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            return await self._process.wait()


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
    truncated: a run owns them. ``record=False`` turns the request listener off (only to measure
    its cost); ``client_retries=True`` keeps geventhttpclient's silent resends.
    """
    config = LoadConfig(
        records_path=records_path,
        status_path=log_path.with_suffix(".status.jsonl"),
        traffic=traffic,
        seed=seed,
        duration_s=duration_s,
        record=record,
        client_retries=client_retries,
    )
    for path in (records_path, config.status_path, log_path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    stop_timeout_s = stop_timeout_for(traffic)
    # A backstop only: the locustfile's own timer ends the run at duration_s.
    backstop_s = math.ceil(duration_s + stop_timeout_s) + 30
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
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
    program = die_with_parent(command, os.getpid())
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *program,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            # The log directory: no stray locust.conf / pyproject.toml of the user's cwd applies.
            cwd=str(log_path.parent),
            env=_child_env(config),
            start_new_session=True,
        )
    run = LoadRun(process, config, log_path, stop_timeout_s)
    try:
        await _wait_started(run, start_timeout_s)
    except BaseException:
        # Cancelled (Ctrl-C) or failed while starting: no one else will ever stop this process.
        if run.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        raise
    return run


async def _wait_started(run: LoadRun, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while run.status().started_at is None:
        if run.returncode is not None:
            raise HarnessError(
                f"locust could not start (exit code {run.returncode}); see {run.log_path}: "
                f"{log_tail(run.log_path)}"
            )
        if time.monotonic() > deadline:
            await run.stop(grace_s=2.0)
            raise HarnessError(
                f"locust did not start within {timeout_s:g} s; see {run.log_path}: "
                f"{log_tail(run.log_path)}"
            )
        await asyncio.sleep(_POLL_S)


def read_status(path: Path) -> LoadStatus:
    """Reads the locustfile's lifecycle lines; a torn last line is ignored."""
    fields: dict[str, Any] = {}
    cpu_at_start: float | None = None
    try:
        lines = list(iter_jsonl(path))
    except FileNotFoundError:
        return LoadStatus()
    for data in lines:
        event = data.get("event")
        if event == "started":
            fields["started_at"] = data["ts"]
            fields["client_retries"] = data.get("client_retries")
            cpu_at_start = data.get("cpu_s")
        elif event == "stopping":
            fields.setdefault("stopping_at", data["ts"])
        elif event == "stopped":
            fields["stopped_at"] = data["ts"]
            fields["cut_off"] = data.get("cut_off")
            if cpu_at_start is not None and data.get("cpu_s") is not None:
                fields["cpu_s"] = data["cpu_s"] - cpu_at_start
    return LoadStatus(**fields)


def log_tail(path: Path, limit: int = 300) -> str:
    """The last non-empty line of a log (for one-line errors), shortened to ``limit``."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 8192))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "(empty log)"
    return lines[-1][:limit]


def _child_env(config: LoadConfig) -> dict[str, str]:
    # LOCUST_* variables of the user's shell would silently change the run; drop them, and any
    # stale DRAINLAB_* setting, then add this run's.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LOCUST_") and key not in ALL_ENV
    }
    env.update(config.to_env())
    # The locustfile imports harness.*; make that work from a plain checkout too.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"  # log lines appear as they happen, not at exit
    return env


# Runs as `sh -c CHECK <parent pid> <argv...>` once setpriv has set the death signal: a parent
# that died before that would never send it, so then the command must not start at all.
_PARENT_CHECK = 'test "$PPID" = "$0" || exit 125; exec "$@"'


def die_with_parent(argv: list[str], parent_pid: int) -> list[str]:
    """``argv`` wrapped so that it gets SIGKILL when ``parent_pid`` (the caller) ends (Linux).

    ``setpriv`` sets PR_SET_PDEATHSIG and execs, so the process is the command itself (same pid,
    same signals). Elsewhere the command runs as it is: there is no death signal to set.
    """
    if not sys.platform.startswith("linux"):
        return list(argv)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise HarnessError(
            "setpriv not found (util-linux): it makes locust end with the harness; install it"
        )
    return [
        setpriv,
        "--pdeathsig",
        "KILL",
        "--",
        "/bin/sh",
        "-c",
        _PARENT_CHECK,
        str(parent_pid),
        *argv,
    ]
