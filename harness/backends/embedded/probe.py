"""One HTTP probe, with the kubelet's semantics, and what it answered.

- One HTTP GET on a new connection (``Connection: close``), straight to the pod, not through the
  Service; success is a status of 200-399 within the timeout, anything else (refused, reset,
  timeout, another status) is a failure.
- The answer is kept in words ("404", "connection refused", "timeout after 1 s") so that a probe
  that never passes can be explained in one line (probes.py runs the probes of a container).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from harness.appspec import Probe

_MAX_BODY = 10 * 1024  # the kubelet reads at most 10 KiB of a probe's response


@dataclass(frozen=True)
class ProbeResult:
    """Whether a probe passed, and what it got: a status code or what went wrong, in words."""

    ok: bool
    answer: str


def describe_probe(probe: Probe, app_port: int | None = None) -> str:
    """``GET /readyz`` (with ``:PORT`` when the probe has a port of its own)."""
    port = f":{probe.port}" if probe.port is not None and probe.port != app_port else ""
    return f"GET {port}{probe.path}"


async def http_probe(host: str, port: int, path: str, timeout_s: float) -> ProbeResult:
    """One probe: passed when the pod answered 200-399 within ``timeout_s``."""
    try:
        status = await asyncio.wait_for(_get_status(host, port, path), timeout_s)
    except ConnectionRefusedError:
        return ProbeResult(False, "connection refused")
    except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError):
        return ProbeResult(False, "connection closed without an answer")
    except asyncio.TimeoutError:
        return ProbeResult(False, f"timeout after {timeout_s:g} s")
    except ValueError:
        return ProbeResult(False, "not an HTTP answer")
    except OSError as exc:
        return ProbeResult(False, exc.strerror or type(exc).__name__)
    return ProbeResult(status in range(200, 400), str(status))


async def _get_status(host: str, port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/drainlab\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n".encode("ascii")
        )
        status_line = await reader.readline()
        if not status_line:
            raise asyncio.IncompleteReadError(b"", None)
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
