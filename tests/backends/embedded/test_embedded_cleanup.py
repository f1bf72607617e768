"""No pod outlives the harness: normal end, exception, no teardown at all, SIGINT, SIGTERM, SIGKILL.

Each pod gets a unique marker in its environment (through DeploySpec.env); /proc tells whether
any process still carries it.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from helpers.embedded import FAST, processes_with, tiny_app
from helpers.paths import REPO

from harness.appspec import Variant
from harness.backends.base import DeploySpec
from harness.backends.embedded import EmbeddedBackend

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

TESTS = REPO / "tests"  # where the child imports the helpers from

# A harness in a child process: deploys two pods, says so, then waits to be ended.
CHILD = """
import asyncio, signal, sys
from pathlib import Path
# asyncio.run turns Ctrl-C into a cancel only if SIGINT is at its default when it starts; a suite
# started as a background job of a non-interactive shell (as some CI runners do) hands every
# child SIGINT ignored, and the SIGINT below would do nothing. Be the terminal's child instead.
# (`harness run` needs none of this: it installs its own handler, which overrides an ignore.)
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {tests!r})
from harness.appspec import Variant
from harness.backends.base import DeploySpec
from harness.backends.embedded import EmbeddedBackend
from helpers.embedded import FAST, tiny_app

mode, marker, tmp = sys.argv[1], sys.argv[2], Path(sys.argv[3])

async def main():
    backend = EmbeddedBackend(FAST, tiny_app(tmp), 1)
    spec = DeploySpec("naive", replicas=2, change=Variant(env={{"DRAINLAB_TEST_MARKER": marker}}))
    if mode == "no-teardown":
        await backend.deploy(spec, lambda e: None)
        print("deployed", flush=True)
        return  # the interpreter exits with the pods still up: atexit must end them
    async with backend:
        await backend.deploy(spec, lambda e: None)
        print("deployed", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


def _wait_gone(marker: str, timeout_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _spec(marker: str) -> DeploySpec:
    return DeploySpec("naive", replicas=2, change=Variant(env={"DRAINLAB_TEST_MARKER": marker}))


def test_nothing_is_left_after_a_normal_end(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex

    async def main() -> None:
        async with EmbeddedBackend(FAST, tiny_app(tmp_path), 1) as backend:
            await backend.deploy(_spec(marker), lambda e: None)
            assert len(processes_with(marker)) == 2

    asyncio.run(main())
    assert _wait_gone(marker) == []


def test_nothing_is_left_after_an_exception(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex

    async def main() -> None:
        async with EmbeddedBackend(FAST, tiny_app(tmp_path), 1) as backend:
            await backend.deploy(_spec(marker), lambda e: None)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(main())
    assert _wait_gone(marker) == []


def test_nothing_is_left_when_the_task_is_cancelled_mid_deploy(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex

    async def main() -> None:
        backend = EmbeddedBackend(FAST, tiny_app(tmp_path), 1)
        deploy = asyncio.ensure_future(backend.deploy(_spec(marker), lambda e: None))
        while not processes_with(marker):
            await asyncio.sleep(0.01)
        deploy.cancel()
        with pytest.raises(asyncio.CancelledError):
            await deploy  # deploy tears down what it started before it re-raises

    asyncio.run(main())
    assert _wait_gone(marker) == []


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGINT", "no-teardown"])
def test_nothing_is_left_when_the_harness_process_ends(tmp_path: Path, how: str) -> None:
    marker = uuid.uuid4().hex
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(TESTS)))
    mode = "no-teardown" if how == "no-teardown" else "wait"
    child = subprocess.Popen(
        [sys.executable, str(script), mode, marker, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "deployed"
        if how != "no-teardown":
            assert len(processes_with(marker)) == 2
            child.send_signal(getattr(signal, how))
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert _wait_gone(marker) == [], f"pods left after {how}"
