"""Paced load through the real locust: a failed request does not bring a user's next one
forward, and every record names its user (harness.load.pacing, issue 18 item 4)."""

from __future__ import annotations

import asyncio
import itertools
import socket
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from harness.load.mix import Request
from harness.load.pacing import DEFAULT_USER_RATE_PER_S
from harness.load.runner import start_load
from harness.records import RequestRecord, read_records
from harness.scenario import Traffic

pytestmark = pytest.mark.slow


def refusing_url() -> str:
    """A loopback port nobody listens on: every request is refused in well under a millisecond,
    the fastest failure there is."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def run_load(tmp_path: Path, traffic: Traffic, duration_s: float) -> list[RequestRecord]:
    async def main() -> int:
        run = await start_load(
            refusing_url(), traffic, duration_s, tmp_path / "records.jsonl", 11, tmp_path / "log"
        )
        return await run.wait()

    assert asyncio.run(main()) == 1  # locust's exit code when requests failed, as all do here
    return read_records(tmp_path / "records.jsonl")


def starts_by_user(records: list[RequestRecord]) -> dict[int | None, list[float]]:
    starts: dict[int | None, list[float]] = defaultdict(list)
    for record in records:
        starts[record.user].append(record.start)
    return {user: sorted(times) for user, times in starts.items()}


def test_a_paced_user_keeps_its_interval_when_every_request_fails(tmp_path: Path) -> None:
    users, per_user, duration_s = 3, 10.0, 3.0
    traffic = Traffic(
        users=users, spawn_rate=100, rate_per_s=users * per_user, requests=[Request(path="/")]
    )
    records = run_load(tmp_path, traffic, duration_s)
    assert records and all(r.error == "connection_refused" for r in records)
    starts = starts_by_user(records)
    assert set(starts) == set(range(users))  # every record names its user
    interval = 1 / per_user
    for user, times in starts.items():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # A closed loop would send the next request at once (think time 0-50 ms); a paced user
        # waits out its interval after each refusal. A late wake-up shortens the next wait by as
        # much (locust's constant_pacing keeps the mean), so the check is on the mean and on
        # the shortest gaps together.
        assert len(times) <= duration_s * per_user + 1, user
        assert statistics.mean(gaps) == pytest.approx(interval, rel=0.1), user
        assert sorted(gaps)[len(gaps) // 10] >= 0.7 * interval, (user, gaps)


def test_the_default_load_is_paced(tmp_path: Path) -> None:
    users, duration_s = 2, 2.0
    records = run_load(tmp_path, Traffic(users=users, spawn_rate=100), duration_s)
    starts = starts_by_user(records)
    assert set(starts) == set(range(users))
    for times in starts.values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert sorted(gaps)[len(gaps) // 10] >= 0.7 / DEFAULT_USER_RATE_PER_S
