"""A pod's processes, grandchildren included, end with the pod and with the harness; no signal
ever goes to a pid that may have been reused; the supervisor reports the main process's status.

Grandchildren here leave the pod's process group and session (``setsid``) and are orphaned, as a
daemon's double fork does: a process-group kill or a death signal on the direct child alone
misses them. They are identified by (pid, start time), as a pid alone may be reused.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from helpers.e2e import Identity, survivors
from helpers.embedded import tiny_command
from helpers.paths import REPO

from harness.backends.embedded import process
from harness.backends.embedded.process import Container, exit_code, signal_name

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

TESTS = REPO / "tests"
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def daemon_then(pid_file: Path, then: str) -> list[str]:
    """A shell that starts a sleeper in a session of its own, waits for its pid, then ``then``."""
    script = (
        f'setsid sh -c \'echo $$ >> "$0"; exec sleep 3600\' "{pid_file}" & '
        f'while [ ! -s "{pid_file}" ]; do sleep 0.01; done; {then}'
    )
    return ["sh", "-c", script]


def identities(pid_file: Path, count: int) -> set[Identity]:
    deadline = time.monotonic() + 10
    while len(pids := _read(pid_file).split()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    found = set()
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        found.add((int(pid), int(stat[19])))
    assert len(found) == count
    return found


def assert_gone(processes: set[Identity], within_s: float) -> None:
    """None of ``processes`` is running after ``within_s``; any that is gets killed (no litter)."""
    left = survivors(processes, within_s)
    for pid, _ in left:
        os.kill(pid, signal.SIGKILL)
    assert left == set()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def wait_for(go: Path) -> str:
    """Shell code that waits until ``go`` exists."""
    return f'while [ ! -e "{go}" ]; do sleep 0.01; done'


async def ended(container: Container) -> int:
    """The container's returncode; a hang (a pipe a survivor holds open) fails instead."""
    return await asyncio.wait_for(container.wait(), 10)


async def start(argv: list[str], lines: list[str] | None = None) -> Container:
    sink = lines if lines is not None else []
    return await Container.start(argv, ENV, lambda line: sink.append(line) or True, None)


def test_the_pod_ends_with_its_main_process_grandchildren_included(tmp_path: Path) -> None:
    pid_file, go = tmp_path / "daemon.pid", tmp_path / "go"

    async def main() -> tuple[int, set[Identity]]:
        container = await start(daemon_then(pid_file, f"{wait_for(go)}; exit 4"))
        daemons = identities(pid_file, 1)
        go.touch()
        return await ended(container), daemons

    rc, daemons = asyncio.run(main())
    assert rc == 4
    # The supervisor exits only after it reaped them: nothing to wait for.
    assert_gone(daemons, within_s=0)


def test_a_killed_pod_takes_its_grandchildren(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"

    async def main() -> tuple[int, set[Identity]]:
        container = await start(daemon_then(pid_file, "exec sleep 3600"))
        daemons = identities(pid_file, 1)
        await asyncio.wait_for(container.destroy(), 10)
        assert container.returncode is not None
        return container.returncode, daemons

    rc, daemons = asyncio.run(main())
    assert signal_name(rc) == "SIGKILL"
    assert_gone(daemons, within_s=0)


# A harness in a child process: deploys two pods whose app starts a daemon, then is ended.
CHILD = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from harness.backends.base import DeploySpec
from harness.backends.embedded import EmbeddedBackend
from helpers.embedded import FAST, fast_app

mode, command = sys.argv[1], sys.argv[2:]

async def main():
    backend = EmbeddedBackend(FAST, fast_app(command), 1)
    await backend.deploy(DeploySpec("naive", replicas=2), lambda e: None)
    print("deployed", flush=True)
    sys.stdin.readline()  # the test has seen the grandchildren
    if mode == "teardown":
        await backend.teardown()
    elif mode == "wait":
        await asyncio.sleep(3600)
    # else: the interpreter exits with the pods up: atexit must end them

asyncio.run(main())
"""


@pytest.mark.parametrize("how", ["teardown", "no-teardown", "SIGKILL"])
def test_no_grandchild_outlives_the_harness(tmp_path: Path, how: str) -> None:
    pid_file = tmp_path / f"daemons-{uuid.uuid4().hex}.pid"
    app = tiny_command(tmp_path)
    command = [
        "sh",
        "-c",
        f'setsid sh -c \'echo $$ >> "$0"; exec sleep 3600\' "{pid_file}" & exec "$@"',
        "app",
        *app,
    ]
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(TESTS)))
    child = subprocess.Popen(
        [sys.executable, str(script), "wait" if how == "SIGKILL" else how, *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline().strip() == "deployed"
        daemons = identities(pid_file, 2)
        child.stdin.write("go\n")
        child.stdin.flush()
        if how == "SIGKILL":
            child.kill()
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert_gone(daemons, within_s=10)


def test_no_signal_goes_by_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signals go through a pidfd; after the reap nothing is sent at all (the pid may be reused)."""
    by_pid: list[tuple[str, int, int]] = []
    real_kill, real_killpg = os.kill, os.killpg

    def kill(pid: int, signum: int) -> None:
        by_pid.append(("kill", pid, signum))
        real_kill(pid, signum)

    def killpg(pgid: int, signum: int) -> None:
        by_pid.append(("killpg", pgid, signum))
        real_killpg(pgid, signum)

    monkeypatch.setattr(os, "kill", kill)
    monkeypatch.setattr(os, "killpg", killpg)

    async def main() -> tuple[int, int, bool, bool]:
        quick = await start(["sh", "-c", "exit 3"])
        rc = await ended(quick)
        after = quick.kill(), quick.terminate()
        sleeper = await start(["sleep", "3600"])
        assert sleeper.terminate()
        return rc, await ended(sleeper), *after

    rc, terminated, killed_after, terminated_after = asyncio.run(main())
    assert (rc, terminated, killed_after, terminated_after) == (3, -signal.SIGTERM, False, False)
    assert by_pid == []


def test_the_supervisor_reports_the_main_process_exactly(tmp_path: Path) -> None:
    lines: list[str] = []

    async def main() -> list[int]:
        codes = []
        # The last line comes right before the exit and still arrives.
        said = await start(["sh", "-c", "echo one; echo 'two  '; exit 7"], lines)
        codes.append(await ended(said))
        # SIGTERM reaches the main process only: its child ignores nothing and would say so.
        trapped = await start(
            [
                "sh",
                "-c",
                "trap 'echo main-term; exit 0' TERM; "
                "sh -c \"trap 'echo child-term' TERM; sleep 3600\" & echo up; wait",
            ],
            lines,
        )
        while "up" not in lines:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the inner shell has set its trap
        assert trapped.terminate()
        codes.append(await ended(trapped))
        plain = await start(["sleep", "3600"])
        await asyncio.sleep(0.2)
        assert plain.terminate()
        codes.append(await ended(plain))
        missing = await start([str(tmp_path / "no-such-program")])
        codes.append(await ended(missing))
        return codes

    codes = asyncio.run(main())
    assert codes == [7, 0, -signal.SIGTERM, 127]
    assert (exit_code(codes[2]), signal_name(codes[2])) == (143, "SIGTERM")
    assert lines == ["one", "two  ", "up", "main-term"]


def test_a_pod_has_its_own_cgroup_removed_after_it() -> None:
    lines: list[str] = []

    async def main() -> None:
        container = await start(["sh", "-c", "grep ^0:: /proc/self/cgroup; exit 0"], lines)
        assert await ended(container) == 0

    asyncio.run(main())
    (line,) = lines
    if "/drainlab-pod-" not in line:
        pytest.skip("no writable cgroup v2 here: the supervisor used its fallback")
    mounts = [m.split() for m in Path("/proc/self/mounts").read_text().splitlines()]
    v2 = next(fields[1] for fields in mounts if fields[2] == "cgroup2")
    assert not Path(v2, line.split("::", 1)[1].lstrip("/")).exists()


FALLBACK = """
import sys
sys.path.insert(0, {directory!r})
import supervisor
supervisor.PodCgroup.create = classmethod(lambda cls: None)
supervisor.main()
"""


def test_without_a_cgroup_the_descendant_walk_kills_them(tmp_path: Path) -> None:
    pid_file, go = tmp_path / "daemon.pid", tmp_path / "go"
    code = FALLBACK.format(directory=str(process.SUPERVISOR.parent))
    main = daemon_then(pid_file, f"{wait_for(go)}; exit 5")
    supervisor = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", code, str(os.getpid()), *main],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert supervisor.stdin is not None
        supervisor.stdin.write(b"PATH=" + ENV["PATH"].encode() + b"\0")
        supervisor.stdin.close()
        daemons = identities(pid_file, 1)
        go.touch()
        assert supervisor.wait(timeout=30) == 5
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
    assert_gone(daemons, within_s=0)
