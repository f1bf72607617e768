"""A pod's container: one OS process tree that can never outlive the harness.

On Linux each container is a supervisor (supervisor.py, the shim a container runtime has) that
starts the command and ends every process of the pod, grandchildren included, when the command
ends, when the harness asks, or when the harness dies however it dies (even SIGKILLed). Around
it, for the harness's part:

- teardown (and ``kill``) asks the supervisor to SIGKILL the whole pod;
- an ``atexit`` hook asks the same of every container still running, for an interpreter that
  exits without a teardown (an exception nobody caught, ``sys.exit`` in the middle of a run);
- signals go through a pidfd opened before the supervisor can exit (it waits for its
  environment on stdin, which is written after), never by pid: a reaped pid may be reused.
  No ``preexec_fn`` anywhere: it is unsafe once the harness has threads, and a run has several.

The supervisor's death signal fires when the *thread* that started it ends, so pods must be
started from a thread that lives as long as they do: the event loop's thread (the main thread in
the CLI).

Each container gets its own session (``start_new_session``): a Ctrl-C on the terminal reaches
the harness only, which then shuts the pods down the Kubernetes way, not all at once by the tty.
Elsewhere than Linux the command runs directly, in its own process group, which ``kill`` ends.
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

from harness.backends.embedded.supervisor import KILL_POD, encode_environment

SUPERVISOR = Path(__file__).with_name("supervisor.py")
# Imported rather than run as a script: its compiled form is cached, each pod's start is shorter.
_RUN_SUPERVISOR = (
    f"import sys; sys.path.insert(0, {str(SUPERVISOR.parent)!r}); "
    "import supervisor; supervisor.main()"
)
_SUPERVISED = sys.platform.startswith("linux")
_STDOUT_LIMIT = 1 << 20  # longest stdout line we parse; longer ones are skipped
_STDOUT_DRAIN_S = 1.0  # after exit, how long to wait for the rest of stdout

# Containers that may still be running, for the atexit safety net.
_live: set[Container] = set()


def _kill_live() -> None:
    for container in list(_live):
        container.kill()
    _live.clear()


atexit.register(_kill_live)


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
        self._pidfd: int | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiter: asyncio.Task[int] | None = None

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        on_line: LineSink,
        log_path: Path | None,
        cwd: str | None = None,
    ) -> Container:
        """Spawns ``argv`` in ``cwd`` (None: the harness's); raises OSError when it cannot be
        started at all."""
        if _SUPERVISED:
            program = [sys.executable, "-I", "-S", "-c", _RUN_SUPERVISOR, str(os.getpid()), *argv]
        else:
            program = list(argv)
        log = log_path.open("ab", buffering=0) if log_path is not None else None
        try:
            proc = await asyncio.create_subprocess_exec(
                *program,
                stdin=asyncio.subprocess.PIPE if _SUPERVISED else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log if log is not None else asyncio.subprocess.DEVNULL,
                env={} if _SUPERVISED else dict(env),
                cwd=cwd,  # the supervisor's, which the command inherits
                start_new_session=True,
                limit=_STDOUT_LIMIT,
            )
        except BaseException:
            if log is not None:
                log.close()
            raise
        container = cls(proc, log)
        _live.add(container)
        if _SUPERVISED:
            # Before the environment is written the supervisor cannot have exited (it reads up
            # to EOF first), so this pidfd is surely its own.
            with contextlib.suppress(OSError):  # no pidfd (Linux < 5.3): signals by pid
                container._pidfd = os.pidfd_open(proc.pid)
            try:
                await container._send_environment(env)
            except BaseException:  # cancelled: nobody else knows of this container
                container.kill()
                raise
        container._reader = asyncio.ensure_future(container._read_stdout(on_line))
        container._waiter = asyncio.ensure_future(container._wait())
        return container

    async def _send_environment(self, env: Mapping[str, str]) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        # A supervisor that died early breaks the pipe: its exit status tells the rest.
        with contextlib.suppress(ConnectionError):
            stdin.write(encode_environment(dict(env)))
            await stdin.drain()
        stdin.close()  # EOF: the supervisor starts the command
        with contextlib.suppress(ConnectionError):
            await stdin.wait_closed()

    @property
    def running(self) -> bool:
        # asyncio sets the Process's returncode when it reaps it, before our waiter resumes.
        return self._proc.returncode is None

    def terminate(self) -> bool:
        """SIGTERM to the container's main process only, as the kubelet sends it to PID 1."""
        return self._signal(signal.SIGTERM)

    def kill(self) -> bool:
        """SIGKILL to every process of the container, as the runtime kills its cgroup."""
        return self._signal(KILL_POD if _SUPERVISED else signal.SIGKILL)

    def _signal(self, signum: int) -> bool:
        if not self.running:
            return False
        try:
            if self._pidfd is not None:
                # Bound to the process itself: after its exit this fails, whoever has the pid now.
                signal.pidfd_send_signal(self._pidfd, signum)
            elif signum == signal.SIGKILL:  # unsupervised: the process group is the container
                os.killpg(self.pid, signum)
            else:
                self._proc.send_signal(signum)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    async def wait(self) -> int:
        """Waits for the exit (any number of callers); returns the process's returncode."""
        assert self._waiter is not None
        return await asyncio.shield(self._waiter)

    async def _wait(self) -> int:
        # The supervisor exits only once every process of the pod is gone; it reports the main
        # process's status. Nothing is signalled by pid after this reap.
        rc = await self._proc.wait()
        self.returncode = rc
        _live.discard(self)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
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
