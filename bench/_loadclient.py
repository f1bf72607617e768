"""A small raw-socket HTTP/1.1 load client, run as its own process by the bench modules.

    python -m bench._loadclient 127.0.0.1 8080 --seconds 5 --concurrency 16 [--new-connections]

Each of ``concurrency`` workers sends ``GET /`` in a closed loop for ``seconds``: on one
keep-alive connection, or on a new connection per request (``Connection: close``). Prints one
JSON line: requests, errors, requests/s, p50 and p99 latency in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[index]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return status


async def _worker(
    host: str, port: int, deadline: float, new_conn: bool, lat: list[float], errors: list[int]
) -> None:
    keep = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    close = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.open_connection(host, port)
            reader, writer = conn
            writer.write(close if new_conn else keep)
            status = await _read_response(reader)
            if new_conn:
                writer.close()
                conn = None
            if status != 200:
                errors[0] += 1
                continue
            lat.append(time.perf_counter() - start)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            errors[0] += 1
            if conn is not None:
                conn[1].close()
            conn = None
    if conn is not None:
        conn[1].close()


async def run(
    host: str, port: int, seconds: float, concurrency: int, new_conn: bool
) -> dict[str, float]:
    lat: list[float] = []
    errors = [0]
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(
        *(_worker(host, port, deadline, new_conn, lat, errors) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - start
    lat.sort()
    return {
        "requests": len(lat),
        "errors": errors[0],
        "rps": len(lat) / elapsed,
        "p50_ms": _percentile(lat, 0.50) * 1000,
        "p99_ms": _percentile(lat, 0.99) * 1000,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--new-connections", action="store_true")
    a = p.parse_args()
    result = asyncio.run(
        run(a.host, a.port, min(a.seconds, 10.0), a.concurrency, a.new_connections)
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
