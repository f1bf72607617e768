"""A trivial HTTP server on loopback for the load benchmark and the load tests.

Serves the sample app's routes (``/``, ``/work?ms=N``, ``/readyz``) with an ``X-Served-By``
header, and counts accepted TCP connections and requests, which is how the tests tell keep-alive
from a new connection per request. In-process (``await serve()``) or as a process that can be
killed for real: ``python -m bench.testserver --pod NAME`` prints its port on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class Counts:
    connections: int = 0
    requests: int = 0


_POD_KEY = web.AppKey("pod", str)
_COUNTS_KEY = web.AppKey("counts", Counts)


async def _hello(request: web.Request) -> web.Response:
    request.app[_COUNTS_KEY].requests += 1
    return web.Response(text="ok\n", headers={"X-Served-By": request.app[_POD_KEY]})


async def _work(request: web.Request) -> web.Response:
    request.app[_COUNTS_KEY].requests += 1
    try:
        ms = int(request.query.get("ms", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text="ms must be an integer\n") from None
    await asyncio.sleep(max(ms, 0) / 1000.0)
    return web.Response(text=f"worked {ms} ms\n", headers={"X-Served-By": request.app[_POD_KEY]})


async def _readyz(request: web.Request) -> web.Response:
    return web.Response(text="ready\n", headers={"X-Served-By": request.app[_POD_KEY]})


class LoopbackServer:
    """The running server: ``url``, live ``counts``, ``close()``."""

    def __init__(self, runner: web.AppRunner, server: asyncio.Server, counts: Counts) -> None:
        self._runner = runner
        self._server = server
        self.counts = counts
        self.port: int = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        self._server.close()
        await self._runner.cleanup()


async def serve(pod: str = "pod-0", host: str = "127.0.0.1") -> LoopbackServer:
    """Starts the server on a free port of ``host``."""
    counts = Counts()
    app = web.Application()
    app[_POD_KEY] = pod
    app[_COUNTS_KEY] = counts
    app.router.add_get("/", _hello)
    app.router.add_get("/work", _work)
    app.router.add_get("/readyz", _readyz)
    return await serve_app(app, counts, host)


async def serve_app(
    app: web.Application, counts: Counts, host: str = "127.0.0.1"
) -> LoopbackServer:
    """Serves any aiohttp ``app`` on a free port of ``host``, counting connections in ``counts``
    (tests with routes of their own use it too)."""
    # A test server: in-flight handlers get a second at close, not aiohttp's default minute.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    handler = runner.server
    assert handler is not None

    def protocol() -> Any:
        # Every accepted TCP connection gets a protocol instance: the exact connection count.
        counts.connections += 1
        return handler()

    server = await asyncio.get_running_loop().create_server(protocol, host, 0)
    return LoopbackServer(runner, server, counts)


async def _main(pod: str) -> None:
    server = await serve(pod)
    print(server.port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pod", default="pod-0", help="the X-Served-By value")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.pod))


if __name__ == "__main__":
    main()
