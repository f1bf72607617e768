"""What recording every request costs: locust's requests/s with the record listener and without.

    python -m bench.recording --users 1 10 --seconds 10 --rounds 3

Same locust, same locustfile, same trivial loopback server (``bench.testserver``, in this
process); ``DRAINLAB_RECORD=0`` only leaves the listener out. Users send ``GET /`` back to back
(no think time, keep-alive), so locust runs flat out and any cost of the listener shows. Reported
per run: the server's request count over the run's duration, and locust's CPU time per request.
Runs alternate (off, on, off, on, ...) so drift hits both sides alike.

On a machine shared with other work both swing by more than the listener costs, so the bench
also measures the listener alone (``bench.listener_cost``: CPU per call in a tight loop on
real locust objects) and gives the capacity ratio that follows: off / (off + listener).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from asyncio.subprocess import PIPE
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench._common import ROOT
from bench.testserver import serve
from harness.load.runner import start_load
from harness.scenario import Traffic


@dataclass(frozen=True)
class Measurement:
    requests: int
    seconds: float
    cpu_s: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        return 1e6 * self.cpu_s / self.requests


async def measure(users: int, record: bool, seconds: float, workdir: Path) -> Measurement:
    """One run of ``seconds`` against a fresh server."""
    server = await serve("bench")
    traffic = Traffic(
        users=users, spawn_rate=1000, fast_weight=1, slow_weight=0, wait_min_s=0, wait_max_s=0
    )
    tag = f"u{users}-{'on' if record else 'off'}"
    run = await start_load(
        server.url,
        traffic,
        seconds,
        workdir / f"records-{tag}.jsonl",
        1,
        workdir / f"locust-{tag}.log",
        record=record,
    )
    await run.wait()
    await server.close()
    status = run.status()
    if status.started_at is None or status.stopped_at is None or status.cpu_s is None:
        raise RuntimeError(f"locust left no complete status; see {run.log_path}")
    return Measurement(server.counts.requests, status.stopped_at - status.started_at, status.cpu_s)


async def listener_cost_us() -> tuple[float, float]:
    """CPU microseconds of the listener per successful and per failed request."""
    server = await serve("bench")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.listener_cost", server.url, stdout=PIPE, cwd=ROOT
    )
    out, _ = await child.communicate()
    await server.close()
    if child.returncode != 0:
        raise RuntimeError(f"bench.listener_cost failed (exit {child.returncode})")
    success, failure = out.split()
    return float(success), float(failure)


async def bench(users: list[int], seconds: float, rounds: int, workdir: Path) -> None:
    """Prints one line per round, the totals when there are several, and the listener's cost."""
    success_us, failure_us = await listener_cost_us()
    print(
        f"listener alone: {success_us:.1f} us CPU per successful request, "
        f"{failure_us:.1f} us per failed one",
        flush=True,
    )
    offs: list[Measurement] = []
    print(
        f"{'users':>5} {'round':>5} {'off req/s':>9} {'on req/s':>9} {'ratio':>6}"
        f" {'off us/req':>10} {'on us/req':>10} {'cpu ratio':>9}",
        flush=True,
    )
    for count in users:
        pairs: list[tuple[Measurement, Measurement]] = []
        for number in range(1, rounds + 1):
            off = await measure(count, False, seconds, workdir)
            on = await measure(count, True, seconds, workdir)
            pairs.append((off, on))
            offs.append(off)
            print(_row(count, str(number), off, on), flush=True)
        if rounds > 1:
            off_all = _total(p[0] for p in pairs)
            on_all = _total(p[1] for p in pairs)
            print(_row(count, "all", off_all, on_all), flush=True)
    locust_us = _total(offs).cpu_us_per_request
    print(
        f"locust without the listener: {locust_us:.0f} us CPU per request; expected capacity "
        f"ratio with it: {locust_us / (locust_us + success_us):.3f}",
        flush=True,
    )


def _total(items: Iterable[Measurement]) -> Measurement:
    ms = list(items)
    return Measurement(
        sum(m.requests for m in ms), sum(m.seconds for m in ms), sum(m.cpu_s for m in ms)
    )


def _row(users: int, label: str, off: Measurement, on: Measurement) -> str:
    return (
        f"{users:>5} {label:>5} {off.per_second:>9.0f} {on.per_second:>9.0f}"
        f" {on.per_second / off.per_second:>6.3f} {off.cpu_us_per_request:>10.1f}"
        f" {on.cpu_us_per_request:>10.1f}"
        f" {off.cpu_us_per_request / on.cpu_us_per_request:>9.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep records and logs in this directory")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="drainlab-bench-") as tmp:
        # Absolute: locust runs in the logs folder, so a relative path would mean another place.
        workdir = Path(os.path.abspath(args.keep)) if args.keep else Path(tmp)
        asyncio.run(bench(args.users, args.seconds, args.rounds, workdir))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
