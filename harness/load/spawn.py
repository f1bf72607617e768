"""Starting one locust process: its command line, environment and death signal.

- ``spawn`` starts ``python -m locust ARGS`` with the run's settings in its environment (and no
  LOCUST_* or stale DRAINLAB_* variable of the user's shell), its output in its log, in its own
  session (a Ctrl-C in the terminal reaches only the harness, which decides), and tied to the
  harness by ``die_with_parent``.
- ``log_tail``: a log's last line, for one-line errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.load.config import ALL_ENV, LoadConfig


@dataclass
class LocustProcess:
    """A locust process on this machine, as harness.load.runner.LoadProcess."""

    process: asyncio.subprocess.Process
    log_path: Path
    worker: int | None = None  # None: the master, or the only process
    ended_at: float | None = None  # unix seconds the harness saw it end

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def label(self) -> str:
        return f"pid {self.process.pid}"

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def wait(self) -> int:
        return await self.process.wait()

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


async def spawn(
    arguments: list[str], config: LoadConfig, log_path: Path, worker: int | None = None
) -> LocustProcess:
    program = die_with_parent([sys.executable, "-m", "locust", *arguments], os.getpid())
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
    return LocustProcess(process, log_path, worker)


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
