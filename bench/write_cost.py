"""What one more write(2) per request costs next to real network work, and what an mmap'd file
would cost instead: CPU per keep-alive round trip to nginx over a raw socket, with nothing after
each answer, with a 170-byte write(2) to an O_APPEND file, and with the same bytes copied into an
mmap'd file (posix_fallocate'd first).

    python -m bench.write_cost [--rounds 24] [--trips 10000]

A loop of writes alone hides what a syscall in the middle of other work costs (the caches and
branch predictors it disturbs); this is the measurement behind harness.load.recordsink's one
write per pass of gevent's loop. Modes alternate within every round; the figure is the median,
over rounds, of each mode's CPU per round trip less the plain round trip's.
"""

from __future__ import annotations

import argparse
import asyncio
import mmap
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.workers import INSTALL_HINT, SMALL_PATH, Nginx, find_nginx

MODES = ("none", "write", "mmap")
LINE = (
    b'{"start":1764660000.123456,"end":1764660000.124,"latency_ms":1.234,"name":"/small.txt",'
    b'"status":200,"bytes":36,"pod":null,"error":null,"message":null,"user":12}\n'
)


def cpu_per_trip_us(port: int, mode: str, trips: int, folder: Path) -> float:
    """CPU µs per round trip of ``trips`` keep-alive GETs, each followed by ``mode``'s work."""
    request = f"GET {SMALL_PATH} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    size = len(LINE) * trips
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        fd = os.open(folder / f"{mode}.jsonl", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if mode == "mmap":
                os.posix_fallocate(fd, 0, size)
                mapped = mmap.mmap(fd, size)
            start, at = time.process_time(), 0
            for _ in range(trips):
                conn.sendall(request)
                conn.recv(4096)  # nginx's answer to a 36-byte file fits one segment
                if mode == "write":
                    os.write(fd, LINE)
                elif mode == "mmap":
                    mapped[at : at + len(LINE)] = LINE
                    at += len(LINE)
            spent = time.process_time() - start
            if mode == "mmap":
                mapped.close()
        finally:
            os.close(fd)
    return 1e6 * spent / trips


def measure(port: int, rounds: int, trips: int, folder: Path) -> dict[str, list[float]]:
    """Each mode's CPU per round trip, per round."""
    by_mode: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(rounds):
        for mode in MODES:
            by_mode[mode].append(cpu_per_trip_us(port, mode, trips, folder))
    return by_mode


def summary(by_mode: dict[str, list[float]]) -> list[str]:
    """One line per mode: median CPU per round trip, and the median of its pairs less 'none'."""
    plain = by_mode["none"]
    lines = []
    for mode, values in by_mode.items():
        extra = statistics.median(v - p for v, p in zip(values, plain, strict=True))
        lines.append(
            f"{mode:>5}: {statistics.median(values):7.2f} us CPU per round trip, "
            f"{extra:+.2f} us against none"
        )
    return lines


async def _run(binary: str, rounds: int, trips: int, folder: Path) -> dict[str, list[float]]:
    nginx = Nginx(binary, folder / "nginx")
    await nginx.start()
    try:
        return measure(nginx.port, rounds, trips, folder)
    finally:
        await nginx.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=24, help="rounds of the 3 modes")
    parser.add_argument("--trips", type=int, default=10000, help="round trips per mode and round")
    parser.add_argument("--nginx", help="the nginx binary (default: nginx on PATH, /usr/sbin)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.trips < 1:
        parser.error("--rounds and --trips must be positive")
    binary = find_nginx(args.nginx)
    if binary is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="drainlab-bench-") as tmp:
        by_mode = asyncio.run(_run(binary, args.rounds, args.trips, Path(tmp)))
    for line in summary(by_mode):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
