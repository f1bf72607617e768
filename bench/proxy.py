"""Requests/s and added latency through the embedded ServiceProxy vs direct to one pod.

    python -m bench.proxy [--seconds 5] [--concurrency 16] [--rounds 1]

One sample-app pod (order naive) runs as a process; the ServiceProxy runs in this process with
that pod as its only endpoint; the load client (bench/_loadclient.py) runs in a third process.
For keep-alive and for a new connection per request, direct and proxied runs of the same
duration alternate, and the ratios proxied/direct are printed. On a shared machine the absolute
figures move with other load; the ratios, measured side by side, move less.
"""

from __future__ import annotations

import argparse
import asyncio
import random

from bench._common import HOST, free_port, load, sample_app_cmd, start_server, stop_server
from harness.backends.embedded import Endpoint, ServiceProxy


async def run(seconds: float, concurrency: int, rounds: int) -> None:
    pod_port = free_port()
    pod = await start_server(sample_app_cmd("naive", pod_port), pod_port)
    proxy = ServiceProxy(random.Random(0))
    try:
        _, proxy_port = await proxy.start(HOST)
        proxy.set_endpoint(Endpoint("bench-pod", HOST, pod_port))
        print(f"{seconds:g} s per run, {concurrency} connections, {rounds} round(s)")
        header = f"{'mode':<12} {'path':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        print(header)
        for new_conn in (False, True):
            mode = "new-conn" if new_conn else "keep-alive"
            sums: dict[str, dict[str, float]] = {}
            for _ in range(rounds):
                for path, port in (("direct", pod_port), ("proxy", proxy_port)):
                    r = await load(port, seconds, concurrency, new_conn)
                    print(
                        f"{mode:<12} {path:<8} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} "
                        f"{r['p99_ms']:>8.2f} {r['errors']:>7.0f}",
                        flush=True,
                    )
                    acc = sums.setdefault(path, {"rps": 0.0, "p50_ms": 0.0, "p99_ms": 0.0})
                    for key in acc:
                        acc[key] += r[key] / rounds
            d, p = sums["direct"], sums["proxy"]
            print(
                f"{mode:<12} proxy/direct req/s ratio {p['rps'] / d['rps']:.2f}; "
                f"added p50 {p['p50_ms'] - d['p50_ms']:+.2f} ms, "
                f"added p99 {p['p99_ms'] - d['p99_ms']:+.2f} ms",
                flush=True,
            )
    finally:
        await proxy.close()
        await stop_server(pod)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--seconds", type=float, default=5.0, help="per run, at most 10")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=1)
    a = p.parse_args()
    asyncio.run(run(min(a.seconds, 10.0), a.concurrency, a.rounds))


if __name__ == "__main__":
    main()
