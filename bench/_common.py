"""Shared helpers for the HTTP benchmarks: free ports, server processes, the load client."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_APP = ROOT / "sample-app" / "app.py"
HOST = "127.0.0.1"

# Two baselines: a bare hello-world, and one that answers what the sample app's `GET /` answers
# (the same JSON body and X-Served-By header) without its middleware, so that the sample app's
# ratio to it is the cost of the shutdown machinery alone.
HELLO_APPS = {
    "hello-world": """
import sys
from aiohttp import web
async def hello(request):
    return web.Response(text="hello")
app = web.Application()
app.router.add_get("/", hello)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
""",
    "hello-json": """
import sys
from aiohttp import web
async def hello(request):
    body = {"pod": "bench", "order": "graceful", "ready": True, "inflight": 1}
    response = web.json_response(body)
    response.headers["X-Served-By"] = "bench"
    return response
app = web.Application()
app.router.add_get("/", hello)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
""",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def sample_app_cmd(order: str, port: int) -> list[str]:
    return [
        sys.executable, str(SAMPLE_APP), "--order", order, "--host", HOST, "--port", str(port),
        "--pod", f"bench-{order}",
    ]  # fmt: skip


def hello_cmd(port: int, name: str = "hello-world") -> list[str]:
    return [sys.executable, "-c", HELLO_APPS[name], str(port)]


async def start_server(
    cmd: list[str], port: int, timeout_s: float = 10.0
) -> asyncio.subprocess.Process:
    """Starts a server process and waits until its port accepts connections."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return proc
    proc.kill()
    raise RuntimeError(f"server did not listen on {port}: {cmd}")


async def stop_server(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.wait()


async def load(
    port: int, seconds: float, concurrency: int, new_connections: bool
) -> dict[str, float]:
    """Runs the load client in its own process against 127.0.0.1:port; returns its figures."""
    args = ["-m", "bench._loadclient", HOST, str(port), "--seconds", str(seconds)]
    args += ["--concurrency", str(concurrency)]
    if new_connections:
        args.append("--new-connections")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    result: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return result
