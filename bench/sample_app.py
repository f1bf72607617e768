"""Requests/s of each order of the sample app vs aiohttp hello-worlds, same client.

    python -m bench.sample_app [--seconds 5] [--rounds 3] [--concurrency 16] [--new-connections]

Each server runs alone as its own process on 127.0.0.1 and the same load client
(bench/_loadclient.py, its own process, ``GET /``) measures it for the same duration. Servers
take turns, in a rotated order each round, so a machine that gets busier or quieter during the
benchmark does not favour whoever ran first. Printed: each round, then per server the median
requests/s and p99 over the rounds and the ratios of medians to the two baselines: a bare
hello-world, and ``hello-json`` (the sample app's own answer to ``GET /`` without its middleware,
so that ratio is the cost of the shutdown bookkeeping alone).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from typing import Any

from bench._common import (
    HELLO_APPS,
    free_port,
    hello_cmd,
    load,
    sample_app_cmd,
    start_server,
    stop_server,
)

ORDERS = ("naive", "close-first", "prestop", "graceful")
SERVERS = (*HELLO_APPS, *ORDERS)


async def measure(name: str, seconds: float, concurrency: int, new_connections: bool) -> Any:
    port = free_port()
    cmd = hello_cmd(port, name) if name in HELLO_APPS else sample_app_cmd(name, port)
    proc = await start_server(cmd, port)
    try:
        return await load(port, seconds, concurrency, new_connections)
    finally:
        await stop_server(proc)


async def run(seconds: float, rounds: int, concurrency: int, new_connections: bool) -> None:
    mode = "new connection per request" if new_connections else "keep-alive"
    print(f"{seconds:g} s per server and round, {rounds} rounds, {concurrency} connections, {mode}")
    print(f"{'round':>5} {'server':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    results: dict[str, list[Any]] = {name: [] for name in SERVERS}
    for round_no in range(rounds):
        turn = SERVERS[round_no % len(SERVERS) :] + SERVERS[: round_no % len(SERVERS)]
        for name in turn:
            r = await measure(name, seconds, concurrency, new_connections)
            results[name].append(r)
            print(
                f"{round_no + 1:>5} {name:<12} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} "
                f"{r['p99_ms']:>8.2f} {r['errors']:>7.0f}",
                flush=True,
            )
    medians = {name: statistics.median(r["rps"] for r in results[name]) for name in SERVERS}
    header = ("server", "median req/s", "median p99 ms", "errors", "vs hello", "vs json")
    print("\n{:<12} {:>13} {:>14} {:>7} {:>9} {:>8}".format(*header))
    for name in SERVERS:
        p99 = statistics.median(r["p99_ms"] for r in results[name])
        errors = sum(r["errors"] for r in results[name])
        print(
            f"{name:<12} {medians[name]:>13.0f} {p99:>14.2f} {errors:>7.0f} "
            f"{medians[name] / medians['hello-world']:>9.2f} "
            f"{medians[name] / medians['hello-json']:>8.2f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--seconds", type=float, default=5.0, help="per server, at most 10")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--new-connections", action="store_true")
    a = p.parse_args()
    asyncio.run(run(min(a.seconds, 10.0), max(a.rounds, 1), a.concurrency, a.new_connections))


if __name__ == "__main__":
    main()
