"""A pod's container: one OS process that can never outlive the harness.

Three layers make sure no pod is left behind, whatever way the harness ends:

- teardown (and the container's own end) SIGKILLs the container's process group;
- an ``atexit`` hook kills every group still registered, for an interpreter that exits without
  a teardown (an exception nobody caught, ``sys.exit`` in the middle of a run);
- on Linux the process is started through a tiny wrapper that sets ``PR_SET_PDEATHSIG`` to
  SIGKILL and then ``exec``s the command, so even a SIGKILLed harness takes its pods with it.
  A wrapper rather than ``preexec_fn``: ``preexec_fn`` is unsafe once the harness has threads
  (Python's docs say it may deadlock), and a run has several.

PR_SET_PDEATHSIG fires when the *thread* that started the child ends, so pods must be started
from a thread that lives as long as they do: the event loop's thread (the main thread in the CLI).

Each container gets its own session (``start_new_session``): a Ctrl-C on the terminal reaches
the harness only, which then shuts the pods down the Kubernetes way, not all at once by the tty.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

# Runs as `python -I -S -c WRAPPER <harness pid> <argv...>`: -I -S keep its start-up to a few ms.
_WRAPPER = r"""
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
    sys.stderr.write("drainlab: prctl(PR_SET_PDEATHSIG) failed\n")
    os._exit(125)
if os.getppid() != int(sys.argv[1]):  # the harness died before prctl took effect
    os._exit(125)
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as exc:
    sys.stderr.write(f"drainlab: cannot run {sys.argv[2]!r}: {exc}\n")
    os._exit(127)
"""
_USE_PDEATHSIG = sys.platform.startswith("linux")
_STDOUT_LIMIT = 1 << 20  # longest stdout line we parse; longer ones are skipped
_STDOUT_DRAIN_S = 1.0  # after exit, how long to wait for the rest of stdout (children may hold it)

# Process groups of containers that may still be running, for the atexit safety net.
_live_groups: set[int] = set()


def _kill_live_groups() -> None:
    for pgid in list(_live_groups):
        if _unreaped(pgid):
            _killpg(pgid)
    _live_groups.clear()


atexit.register(_kill_live_groups)


def _unreaped(pid: int) -> bool:
    """True while ``pid`` is still our child (running, or a zombie nobody has reaped).

    Only then is its number certainly still its own: once reaped, the kernel may hand it to an
    unrelated process, and a killpg with it could hit a stranger's process group (on a busy
    machine pids wrap around quickly). WNOWAIT looks without reaping.
    """
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def _killpg(pgid: int) -> bool:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def exit_code(returncode: int) -> int:
    """The code Kubernetes would report: 128 + the signal number for a process a signal ended."""
    return 128 - returncode if returncode < 0 else returncode


def signal_name(returncode: int) -> str | None:
    if returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


LineSink = Callable[[str], bool]  # gets each stdout line; False: not an event, goes to the log


class Container:
    """A started process: signals, the stdout reader, and its exit."""

    def __init__(self, proc: asyncio.subprocess.Process, log: IO[bytes] | None) -> None:
        self._proc = proc
        self._log = log
        self.pid: int = proc.pid
        self.returncode: int | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiter: asyncio.Task[int] | None = None

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        on_line: LineSink,
        log_path: Path | None,
    ) -> Container:
        """Spawns ``argv``; raises OSError when it cannot be started at all."""
        if _USE_PDEATHSIG:
            program = [sys.executable, "-I", "-S", "-c", _WRAPPER, str(os.getpid()), *argv]
        else:
            program = list(argv)
        log = log_path.open("ab", buffering=0) if log_path is not None else None
        try:
            proc = await asyncio.create_subprocess_exec(
                *program,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log if log is not None else asyncio.subprocess.DEVNULL,
                env=dict(env),
                start_new_session=True,
                limit=_STDOUT_LIMIT,
            )
        except BaseException:
            if log is not None:
                log.close()
            raise
        _live_groups.add(proc.pid)
        container = cls(proc, log)
        container._reader = asyncio.ensure_future(container._read_stdout(on_line))
        container._waiter = asyncio.ensure_future(container._wait())
        return container

    @property
    def running(self) -> bool:
        # asyncio sets the Process's returncode when it reaps it, before our waiter resumes.
        return self._proc.returncode is None

    def terminate(self) -> bool:
        """SIGTERM to the container's main process only, as the kubelet sends it to PID 1."""
        if not self.running or not _unreaped(self.pid):
            return False
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> bool:
        """SIGKILL to the whole process group, as the runtime kills the container's cgroup."""
        if not self.running or not _unreaped(self.pid):
            return False
        return _killpg(self.pid)

    async def wait(self) -> int:
        """Waits for the exit (any number of callers); returns the process's returncode."""
        assert self._waiter is not None
        return await asyncio.shield(self._waiter)

    async def _wait(self) -> int:
        rc = await self._proc.wait()
        self.returncode = rc
        # When PID 1 of a container ends, everything else in it ends too (the kernel kills the
        # rest of the PID namespace); a process group is our container. Right after the reap
        # the number cannot have been reused yet; later on, kill() refuses to use it.
        _killpg(self.pid)
        _live_groups.discard(self.pid)
        if self._reader is not None:
            # The last lines (e.g. the app's "exit") come before the exit is reported.
            await asyncio.wait({self._reader}, timeout=_STDOUT_DRAIN_S)
            self._reader.cancel()
        if self._log is not None:
            self._log.close()
        return rc

    async def _read_stdout(self, on_line: LineSink) -> None:
        stream = self._proc.stdout
        assert stream is not None
        while True:
            try:
                raw = await stream.readline()
            except ValueError:
                continue  # a line over the limit: asyncio dropped it; keep reading
            if not raw:
                return
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not on_line(text) and self._log is not None and not self._log.closed:
                with contextlib.suppress(OSError):
                    self._log.write(b"stdout: " + raw)

    async def destroy(self) -> None:
        """Kills the container and waits for it; for teardown, emits nothing."""
        self.kill()
        if self._waiter is not None:
            await asyncio.wait({self._waiter})
