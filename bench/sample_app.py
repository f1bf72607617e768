"""Requests/s of each order of the sample app vs a bare aiohttp hello-world, same client.

    python -m bench.sample_app [--seconds 5] [--concurrency 16] [--new-connections]

Each server runs alone as its own process on 127.0.0.1, one after another, and the same load
client (bench/_loadclient.py, its own process, ``GET /``) measures it for the same duration.
Printed: requests/s, p50/p99 latency and the ratio to the hello-world.
"""

from __future__ import annotations

import argparse
import asyncio

from bench._common import free_port, hello_cmd, load, sample_app_cmd, start_server, stop_server

ORDERS = ("naive", "close-first", "prestop", "graceful")


async def run(seconds: float, concurrency: int, new_connections: bool) -> None:
    mode = "new connection per request" if new_connections else "keep-alive"
    print(f"{seconds:g} s per server, {concurrency} connections, {mode}")
    print(f"{'server':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs hello':>9}")
    base: float | None = None
    for name in ("hello-world", *ORDERS):
        port = free_port()
        cmd = hello_cmd(port) if name == "hello-world" else sample_app_cmd(name, port)
        proc = await start_server(cmd, port)
        try:
            r = await load(port, seconds, concurrency, new_connections)
        finally:
            await stop_server(proc)
        if base is None:
            base = r["rps"]
        print(
            f"{name:<12} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['errors']:>7.0f} {r['rps'] / base:>9.2f}",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--seconds", type=float, default=5.0, help="per server, at most 10")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--new-connections", action="store_true")
    a = p.parse_args()
    asyncio.run(run(min(a.seconds, 10.0), a.concurrency, a.new_connections))


if __name__ == "__main__":
    main()
