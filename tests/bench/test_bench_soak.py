"""The soak benchmark's own logic (bench/soak.py): its flatness rule, locust's count, /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import _proctree
from bench._soakcheck import (
    Series,
    count_finding,
    enough_samples,
    locust_counts,
    rss_finding,
    slope_per_s,
)
from bench.soak import main, soak_scenario

REPO = Path(__file__).resolve().parents[2]

# The end of a real locust log (2.x, --only-summary), as `harness run` leaves it.
LOCUST_LOG = b"""\
[2026-11-30 15:21:02,120] vm/INFO/locust.main: Shutting down (exit code 0)
Type     Name      # reqs      # fails |    Avg     Min     Max    Med |   req/s  failures/s
--------|---------|-------|-------------|-------|-------|-------|-------|--------|-----------
GET      /            956     0(0.00%) |      4       0      33      3 |   61.45        0.00
GET      /work        333     7(2.10%) |    342     101     606    340 |   21.40        0.00
--------|---------|-------|-------------|-------|-------|-------|-------|--------|-----------
         Aggregated  1289     7(0.54%) |     91       0     606      5 |   82.85        0.00

Response time percentiles (approximated)
Type     Name        50%    66%    75%    80%    90%    95%    98%    99%  99.9%   100% # reqs
--------|---------|--------|------|------|------|------|------|------|------|------|------
         Aggregated    5      9    120    220    390    500    560    590    600    610   1289
"""


def test_slope_of_a_line_and_of_a_constant() -> None:
    times = [0.0, 10.0, 20.0, 30.0]
    assert slope_per_s(times, [5.0, 7.0, 9.0, 11.0]) == pytest.approx(0.2)
    assert slope_per_s(times, [3.0, 3.0, 3.0, 3.0]) == 0.0
    assert slope_per_s([1.0], [2.0]) == 0.0


def test_rss_warm_up_in_the_first_half_is_not_a_leak() -> None:
    times = [float(t) for t in range(0, 1200, 10)]
    # Grows 100 MiB in the first half, then stays with ±1 MiB of noise.
    values = [(100 + min(t, 600) / 6 + (1 if i % 2 else -1)) * 1024 for i, t in enumerate(times)]
    finding = rss_finding(Series("rss", times, values), 5.0)
    assert finding.ok, finding.text


def test_rss_steady_growth_in_the_second_half_is_a_leak() -> None:
    times = [float(t) for t in range(0, 1200, 10)]
    values = [(100 + t / 60) * 1024 for t in times]  # 10 MiB per 10 min
    finding = rss_finding(Series("rss", times, values), 5.0)
    assert not finding.ok
    assert "+10.00 MiB/10 min" in finding.text


def test_fds_that_wander_within_the_spread_are_flat() -> None:
    times = [float(t) for t in range(20)]
    values = [float(30 + (t % 5)) for t in range(20)]
    assert count_finding(Series("fds", times, values), 8).ok


def test_fds_that_climb_in_small_steps_are_not_flat() -> None:
    times = [float(t) for t in range(40)]
    values = [float(30 + t) for t in range(40)]  # one more open file per sample
    finding = count_finding(Series("fds", times, values), 16)
    assert not finding.ok, finding.text


def test_sockets_may_dip_but_not_climb() -> None:
    times = [float(t) for t in range(20)]
    dipping = [420.0] * 20
    dipping[15] = 258.0  # many connections closed at once, then reopened
    assert count_finding(Series("sockets", times, dipping), 16, climb_only=True).ok
    climbing = [420.0] * 10 + [420.0 + 3 * t for t in range(10)]
    finding = count_finding(Series("sockets", times, climbing), 16, climb_only=True)
    assert not finding.ok
    assert "climb +27" in finding.text


def test_a_verdict_needs_samples() -> None:
    assert not enough_samples(Series("rss", [0.0, 1.0, 2.0], [1.0, 1.0, 1.0]))
    assert enough_samples(Series("rss", [float(t) for t in range(8)], [1.0] * 8))


def test_locust_count_is_the_request_tables_aggregated_row() -> None:
    assert locust_counts(LOCUST_LOG) == (1289, 7)
    assert locust_counts(b"[...] locust.main: Starting Locust 2.47.0\n") is None


def test_the_soak_scenario_deletes_pods_until_the_end() -> None:
    scenario = soak_scenario("graceful", 1200.0, 100)
    assert scenario["orders"] == ["graceful"]
    assert scenario["duration_s"] == 1200.0
    chaos = scenario["chaos"]
    assert isinstance(chaos, dict)
    last = chaos["start_after_s"] + (chaos["count"] - 1) * chaos["every_s"]
    assert 1200.0 - chaos["every_s"] <= last < 1200.0


def test_a_bad_order_is_one_line_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--order", "nope", "--duration-s", "60"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("soak: error: orders: unknown order 'nope'")
    assert err.count("\n") == 1


def test_proctree_sees_a_child_and_its_child() -> None:
    # A shell that starts a sleep: both below this process, and the sample reads our own
    # memory, threads and open files.
    shell = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 5
        found: list[int] = []
        while time.monotonic() < deadline and len(found) < 2:
            found = _proctree.descendants(os.getpid())
            time.sleep(0.05)
        assert shell.pid in found and len(found) >= 2
        assert any(_proctree.cmdline(pid)[:1] == ["sleep"] for pid in found)
    finally:
        shell.kill()
        shell.wait()
    with socket.socket() as held:
        me = _proctree.sample(os.getpid())
        held.close()
        after = _proctree.sample(os.getpid())
    assert me.rss_kib and me.rss_kib > 1000
    assert me.threads and me.threads >= 1
    assert me.fds and me.fds >= 3
    assert me.sockets is not None and after.sockets is not None
    assert me.sockets == after.sockets + 1
    assert _proctree.load_average() >= 0.0
    gone = _proctree.sample(shell.pid)
    assert gone.rss_kib is None and gone.fds is None and gone.sockets is None


@pytest.mark.slow
def test_a_short_soak_runs_to_its_verdict(tmp_path: Path) -> None:
    """40 s of load, a sample every 2 s: the run ends, and records equal locust's count."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--duration-s", "40", "--interval-s", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert "harness exit code 0" in out, out + done.stderr
    counts = next(line for line in out.splitlines() if "counts:" in line)
    assert counts.startswith("ok"), out
    assert "verdict:" in out
    assert done.returncode in (0, 1), out + done.stderr
