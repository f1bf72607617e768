"""The readiness probe, with the kubelet's semantics.

- One HTTP GET per period on a new connection (``Connection: close``), straight to the pod,
  not through the Service; success is a status of 200-399 within the timeout, anything else
  (refused, reset, timeout, another status) is a failure.
- A pod starts not ready; it becomes ready after ``success_threshold`` consecutive successes and
  not ready again after ``failure_threshold`` consecutive failures.
- Probing goes on while the pod terminates, as the kubelet's does; whether that moves the
  endpoints is the caller's business (a terminating pod never returns to them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from harness.appspec import Probe

_MAX_BODY = 10 * 1024  # the kubelet reads at most 10 KiB of a probe's response


async def http_probe(host: str, port: int, path: str, timeout_s: float) -> bool:
    """One probe: True when the pod answered 200-399 within ``timeout_s``."""
    try:
        return await asyncio.wait_for(_get_status(host, port, path), timeout_s) in range(200, 400)
    except (OSError, asyncio.TimeoutError, ValueError, asyncio.IncompleteReadError):
        return False


async def _get_status(host: str, port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/drainlab\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n".encode("ascii")
        )
        status_line = await reader.readline()
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise ValueError("not an HTTP response")
        status = int(parts[1])
        # Read the rest so our close is a FIN, not a reset the app would log as an error.
        with contextlib.suppress(OSError):
            await reader.read(_MAX_BODY)
        return status
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def run_prober(
    probe: Callable[[], Awaitable[bool]],
    settings: Probe,
    on_change: Callable[[bool], None],
    alive: Callable[[], bool],
) -> None:
    """Probes every period while ``alive()``; calls ``on_change(ready)`` at each transition.

    It also ends by itself once the container is gone: on Python 3.11 a cancel that meets
    ``wait_for`` just as the probe completes is lost, so cancelling alone is not enough.
    """
    loop = asyncio.get_running_loop()
    ready = False
    successes = failures = 0
    next_at = loop.time()
    while alive():
        ok = await probe()
        if ok:
            successes, failures = successes + 1, 0
            if not ready and successes >= settings.success_threshold:
                ready = True
                on_change(True)
        else:
            successes, failures = 0, failures + 1
            if ready and failures >= settings.failure_threshold:
                ready = False
                on_change(False)
        # A fixed cadence like the kubelet's ticker; a probe slower than the period runs late.
        next_at = max(next_at + settings.period_s, loop.time())
        await asyncio.sleep(next_at - loop.time())
