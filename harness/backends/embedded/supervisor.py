"""A pod's supervisor (Linux): the shim between the harness and one container's processes.

Runs as ``python -I -S supervisor.py <harness pid> <command...>`` (process.py imports it by
path instead, the same thing with its bytecode cached). It must start in a few ms: a few standard
modules only, no site, nothing of the harness imported (no contextlib: that alone would double
the imports' cost), with the command's environment on stdin
as NUL-separated ``KEY=VALUE`` entries up to EOF. The environment does not go through the
supervisor's own: /proc then shows the app's variables on the app's processes only.

What a container runtime's shim does, for the embedded backend:

- it is a child subreaper (``PR_SET_CHILD_SUBREAPER``): a grandchild whose parent ends (a daemon
  that double-forks, a ``cmd &`` in a shell) stays below it instead of moving to init;
- when the harness dies, however (``PR_SET_PDEATHSIG``, and a ``getppid`` poll as a backstop),
  or asks with ``KILL_POD``, or the main process ends, it kills every process of the pod: the
  pod's own cgroup v2 with ``cgroup.kill`` when a writable one can be made (removed afterwards),
  else a walk of its descendants in /proc, then reaps them all;
- SIGTERM goes to the main process only, as the kubelet sends it to PID 1;
- it exits with the main process's status: the same exit code, or the same signal (re-raised on
  itself), so the harness reads the returncode it would read from the command itself.

The main process gets its own session, stdin /dev/null, and the supervisor's stdout and stderr
(the harness's pipe and the pod's log): the app's lines reach the harness unchanged. Signals are
only sent through a pidfd (or to an unreaped child of ours), never by a pid that may have been
reused. Messages of the supervisor itself go to stderr, prefixed ``drainlab:``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

KILL_POD = signal.SIGUSR1  # the harness's "kill the whole container" (and the death signal)
EXIT_PARENT_GONE = 125  # the harness ended before the supervisor could start the command
EXIT_CANNOT_RUN = 127  # the command cannot be executed (like a shell's "command not found")

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_POLL_S = 0.5  # how often the harness's presence is checked besides the death signal
_RMDIR_S = 1.0  # how long an emptied cgroup may take to become removable
_HANDLED = {signal.SIGCHLD, signal.SIGTERM, KILL_POD}

Identity = tuple[int, int]  # (pid, start time): a pid alone may be reused


def _say(message: str) -> None:
    try:  # noqa: SIM105 (no contextlib here: see the module docstring)
        os.write(2, f"drainlab: {message}\n".encode("utf-8", "backslashreplace"))
    except OSError:
        pass


def read_environment(fd: int) -> dict[str, str]:
    """The NUL-separated ``KEY=VALUE`` entries readable from ``fd`` up to EOF."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    env = {}
    for entry in b"".join(chunks).split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep:
            env[os.fsdecode(key)] = os.fsdecode(value)
    return env


def encode_environment(env: dict[str, str]) -> bytes:
    """What ``read_environment`` reads back as ``env``."""
    return b"".join(os.fsencode(k) + b"=" + os.fsencode(v) + b"\0" for k, v in env.items())


# --- the pod's processes --------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live, non-zombie process; None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> set[Identity]:
    """Every live process below ``root``, from /proc."""
    parents: dict[Identity, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := _stat(int(name))) is not None:
            parents[(int(name), stat[1])] = stat[0]
    found: set[Identity] = set()
    frontier = {root}
    while frontier:
        new = {ident for ident, parent in parents.items() if parent in frontier} - found
        found |= new
        frontier = {pid for pid, _ in new}
    return found


def kill_exactly(ident: Identity) -> None:
    """SIGKILL to the process ``ident`` names, and to no other that got its pid since."""
    pid, started = ident
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return  # gone already
    try:
        # The pidfd pins one process; if it still has the start time we listed, it is that one.
        stat = _stat(pid)
        if stat is not None and stat[1] == started:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:
        pass
    finally:
        os.close(pidfd)


class PodCgroup:
    """The pod's own cgroup v2 (when one can be made): ``cgroup.kill`` ends all of it at once."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def create(cls) -> PodCgroup | None:
        parent = _own_cgroup_dir()
        if parent is None:
            return None
        path = os.path.join(parent, f"drainlab-pod-{os.getpid()}")
        try:  # noqa: SIM105
            os.rmdir(path)  # an empty one left by a supervisor of the same pid that was SIGKILLed
        except OSError:
            pass
        try:
            os.mkdir(path)
        except OSError:
            return None  # not writable (not root, no delegation): the descendant walk does it all
        if not os.path.exists(os.path.join(path, "cgroup.kill")):  # kernel older than 5.14
            os.rmdir(path)
            return None
        return cls(path)

    def add(self, pid: int) -> None:
        with open(os.path.join(self.path, "cgroup.procs"), "w") as handle:
            handle.write(str(pid))

    def kill(self) -> bool:
        try:
            with open(os.path.join(self.path, "cgroup.kill"), "w") as handle:
                handle.write("1")
        except OSError as exc:
            _say(f"cannot kill the pod's cgroup {self.path}: {exc}")
            return False
        return True

    def remove(self) -> None:
        deadline = time.monotonic() + _RMDIR_S
        while True:
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if time.monotonic() >= deadline:
                    _say(f"cannot remove the pod's cgroup {self.path}: {exc}")
                    return
                time.sleep(0.01)


def _own_cgroup_dir() -> str | None:
    """Where this process's cgroup v2 lies in the file system; None without a cgroup2 mount."""
    try:
        with open("/proc/self/mounts") as mounts:
            points = [line.split()[1] for line in mounts if line.split()[2:3] == ["cgroup2"]]
        with open("/proc/self/cgroup") as own:
            paths = [line.rstrip("\n")[3:] for line in own if line.startswith("0::")]
    except OSError:
        return None
    if not points or not paths:
        return None
    return os.path.join(points[0], paths[0].lstrip("/"))


# --- the supervisor -------------------------------------------------------------------------


class Supervisor:
    def __init__(self, harness_pid: int, argv: list[str], env: dict[str, str]) -> None:
        self.harness_pid = harness_pid
        self.argv = argv
        self.env = env
        self.main_pid = 0
        self.main_status: int | None = None  # a returncode: negative for a signal
        self.cgroup = PodCgroup.create()

    def start(self, libc: ctypes.CDLL) -> None:
        supervisor_pid = os.getpid()
        gate_read, gate_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child execs or exits)
            os.close(gate_write)
            self._exec_main(libc, supervisor_pid, gate_read)
        os.close(gate_read)
        self.main_pid = pid
        # Moved in by us before it runs anything: all it will ever start is in the cgroup too,
        # and we know whether it is (if not, the descendant walk does the killing).
        if self.cgroup is not None:
            try:
                self.cgroup.add(pid)
            except OSError as exc:
                _say(f"cannot use the pod's cgroup {self.cgroup.path}: {exc}")
                self.cgroup.remove()
                self.cgroup = None
        os.close(gate_write)  # the child goes on to exec

    def _exec_main(self, libc: ctypes.CDLL, supervisor_pid: int, gate: int) -> None:
        try:
            # A layer below ours: should the supervisor itself be SIGKILLed, its command goes too.
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            if os.getppid() != supervisor_pid:
                os._exit(EXIT_PARENT_GONE)
            os.read(gate, 1)  # EOF once the supervisor has put us in the cgroup
            os.close(gate)
            os.setsid()
            # As subprocess's restore_signals: Python ignores these, and an ignore survives exec.
            for signum in (signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            os.execvpe(self.argv[0], self.argv, self.env)
        except OSError as exc:
            _say(f"cannot run {self.argv[0]!r}: {exc}")
        os._exit(EXIT_CANNOT_RUN)

    def run(self) -> int:
        """Serves signals until the main process ends or the pod must die; returns its status."""
        while self.main_status is None:
            info = signal.sigtimedwait(_HANDLED, _POLL_S)
            if info is None:
                if os.getppid() != self.harness_pid:
                    break  # the harness is gone and the death signal did not come
            elif info.si_signo == signal.SIGCHLD:
                self._reap(block=False)
            elif info.si_signo == signal.SIGTERM:
                # Our own child, not reaped yet (main_status is None): its pid is still its own.
                os.kill(self.main_pid, signal.SIGTERM)
            else:
                break  # KILL_POD: the harness's kill, or its death
        self.kill_all()
        if self.cgroup is not None:
            self.cgroup.remove()
        return self.main_status if self.main_status is not None else -signal.SIGKILL

    def kill_all(self) -> None:
        """Kills and reaps every process of the pod, the main one included if still running."""
        if self.cgroup is not None and self.cgroup.kill():
            # Atomic, forks in progress included; they all end up our children (subreaper).
            while self._reap(block=True):
                pass
            return
        while True:
            # Every process left is below us (we are their subreaper): when none is our child,
            # none is left. A process forked while we walk shows up on the next round.
            for ident in descendants(os.getpid()):
                kill_exactly(ident)
            if not self._reap(block=True):
                return

    def _reap(self, block: bool) -> bool:
        """Reaps what has ended (at least one child if ``block``); False when we have none."""
        flags = 0 if block else os.WNOHANG
        while True:
            try:
                pid, status = os.waitpid(-1, flags)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            if pid == self.main_pid:
                self.main_status = os.waitstatus_to_exitcode(status)
            if block:
                return True


def exit_like(returncode: int) -> None:
    """Ends this process the way the main process ended: same code, or same signal."""
    if returncode >= 0:
        os._exit(returncode)
    signum = -returncode
    import resource  # only here: every import costs each pod's start-up

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # re-raised SIGSEGV etc.: no core of ours
    try:  # noqa: SIM105
        signal.signal(signum, signal.SIG_DFL)
    except (OSError, ValueError):
        pass  # SIGKILL: its disposition is fixed anyway
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # a signal whose default is not to end a process


def main() -> None:
    harness_pid, argv = int(sys.argv[1]), sys.argv[2:]
    # Blocked first: the death signal that comes early stays pending instead of ending us
    # before we could clean up; sigtimedwait takes them one by one.
    signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(KILL_POD), 0, 0, 0) != 0:
        _say("prctl(PR_SET_PDEATHSIG) failed")
        os._exit(EXIT_PARENT_GONE)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        _say("prctl(PR_SET_CHILD_SUBREAPER) failed")
        os._exit(EXIT_PARENT_GONE)
    env = read_environment(0)
    if os.getppid() != harness_pid:  # the harness died before the death signal was set
        os._exit(EXIT_PARENT_GONE)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    supervisor = Supervisor(harness_pid, argv, env)
    supervisor.start(libc)
    exit_like(supervisor.run())


if __name__ == "__main__":
    main()
