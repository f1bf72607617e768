"""The load generator against the real sample app (sample-app/app.py) on loopback."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.paths import REPO

from harness.load.runner import start_load
from harness.records import read_records
from harness.scenario import Traffic

APP = REPO / "sample-app" / "app.py"


@pytest.fixture
def naive_app() -> Iterator[tuple[subprocess.Popen[str], str]]:
    command = [sys.executable, str(APP), "--order", "naive", "--host", "127.0.0.1"]
    app = subprocess.Popen(
        [*command, "--port", "0", "--pod", "sample-0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        started = json.loads(app.stdout.readline())
        assert started["event"] == "started", started
        yield app, f"http://127.0.0.1:{started['port']}"
    finally:
        app.kill()
        app.wait()


@pytest.mark.slow
def test_short_run_against_the_sample_app(
    naive_app: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    _, url = naive_app
    traffic = Traffic(users=3, spawn_rate=100, slow_ms_min=10, slow_ms_max=50, wait_max_s=0.02)

    async def scenario() -> int:
        run = await start_load(url, traffic, 3.0, tmp_path / "r.jsonl", 3, tmp_path / "l.log")
        return await run.wait()

    assert asyncio.run(scenario()) == 0
    records = read_records(tmp_path / "r.jsonl")
    assert len(records) > 20
    assert {(r.error, r.status, r.pod) for r in records} == {(None, 200, "sample-0")}
    assert {r.name.split("?")[0] for r in records} == {"/", "/work"}


@pytest.mark.slow
def test_naive_exit_cuts_in_flight_requests_and_they_are_recorded(
    naive_app: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    """The drop drainlab exists to show: a pod that exits with requests in flight. With the
    client's silent resend off, each cut request is a failure of its own, not a retry."""
    app, url = naive_app
    busy = Traffic(
        users=4,
        spawn_rate=100,
        fast_weight=0,
        slow_weight=1,
        slow_ms_min=300,
        slow_ms_max=500,
        wait_min_s=0,
        wait_max_s=0,
    )

    async def scenario() -> float:
        run = await start_load(url, busy, 3.0, tmp_path / "r.jsonl", 3, tmp_path / "l.log")
        while run.stats().requests < 8:
            await asyncio.sleep(0.02)
        sigterm_at = time.time()
        app.send_signal(signal.SIGTERM)
        assert await run.wait() == 1
        return sigterm_at

    sigterm_at = asyncio.run(scenario())
    records = read_records(tmp_path / "r.jsonl")
    cut = [r for r in records if r.start < sigterm_at < r.end and r.error is not None]
    later = [r for r in records if r.start > sigterm_at + 0.2]
    assert 1 <= len(cut) <= busy.users
    assert {r.error for r in cut} <= {"remote_disconnected", "connection_reset"}
    assert later and {r.error for r in later} == {"connection_refused"}
