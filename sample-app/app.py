"""drainlab's sample app: a small HTTP service that shuts down in one of four orders.

Run: ``python app.py --order graceful --port 8080`` (or the env vars in README.md).

Every shutdown step is written to stdout as one JSON line, flushed at once; the harness reads these
lines from the process or pod logs, so their format is a contract (see README.md). Nothing else
goes to stdout: errors and aiohttp's own logs go to stderr, the access log is off.

Runs unchanged on aiohttp 3.8 (Debian bookworm's python3-aiohttp, used in the cluster image) and on
current aiohttp 3.x, so it keeps to APIs both have: ``AppRunner.server``, the low-level
``Server.connections`` and ``RequestHandler.close()/force_close()``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from aiohttp import __version__ as aiohttp_version
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

ORDERS = ("naive", "close-first", "prestop", "graceful")
STRATEGIES = ("fixed", "quiet")
MAX_WORK_MS = 30_000
EXIT_OK = 0
EXIT_INCOMPLETE = 1  # the drain timed out (in-flight requests cut) or the sequence failed
EXIT_USAGE = 2
DRAIN_POLL_S = 0.01  # how often the drain checks for its end; small against any drain timeout

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class UsageError(Exception):
    """A bad setting: reported as one line on stderr with exit code 2."""


@dataclass(frozen=True)
class Settings:
    order: str
    host: str
    port: int
    pod: str
    shutdown_delay: float
    strategy: str
    quiet_period: float
    drain_timeout: float


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block before its error; the contract is one line, exit 2.
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(description="drainlab sample app; flags win over the env vars named in brackets.")
    p.add_argument("--order", help="naive | close-first | prestop | graceful [SHUTDOWN_ORDER]")
    p.add_argument("--host", help="address to listen on [HOST, default 0.0.0.0]")
    p.add_argument("--port", help="port to listen on, 0 picks a free one [PORT, default 8080]")
    p.add_argument("--pod", help="name in X-Served-By and the event lines [POD_NAME, hostname]")
    p.add_argument("--delay", help="graceful: seconds to keep serving [SHUTDOWN_DELAY, 5]")
    p.add_argument("--strategy", help="graceful wait: fixed | quiet [SHUTDOWN_STRATEGY, fixed]")
    p.add_argument("--quiet-period", help="quiet: seconds with no new connection [QUIET_PERIOD, 1]")
    p.add_argument("--drain-timeout", help="seconds to wait for in-flight work [DRAIN_TIMEOUT, 20]")
    return p


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{name} must be a finite number >= 0, got {raw!r}")
    return value


def parse_settings(argv: list[str], env: Mapping[str, str]) -> Settings:
    """Flags first, then env vars, then defaults; raises UsageError on any bad value."""
    args = _parser().parse_args(argv)

    def pick(flag: str, given: str | None, var: str, default: str | None) -> tuple[str, str | None]:
        # The name travels with the value so an error says where the bad value came from.
        if given is not None:
            return flag, given
        if env.get(var) is not None:
            return var, env[var]
        return var, default

    name, order = pick("--order", args.order, "SHUTDOWN_ORDER", None)
    if order is None:
        raise UsageError(f"no shutdown order: give --order or SHUTDOWN_ORDER ({'|'.join(ORDERS)})")
    if order not in ORDERS:
        raise UsageError(f"{name} must be one of {'|'.join(ORDERS)}, got {order!r}")
    name, host = pick("--host", args.host, "HOST", "0.0.0.0")
    if not host:
        raise UsageError(f"{name} must not be empty")
    name, port = pick("--port", args.port, "PORT", "8080")
    if port is None or not re.fullmatch(r"[0-9]{1,5}", port) or int(port) > 65535:
        raise UsageError(f"{name} must be a port number 0-65535, got {port!r}")
    _, pod = pick("--pod", args.pod, "POD_NAME", None)
    name, strategy = pick("--strategy", args.strategy, "SHUTDOWN_STRATEGY", "fixed")
    if strategy not in STRATEGIES:
        raise UsageError(f"{name} must be one of {'|'.join(STRATEGIES)}, got {strategy!r}")
    seconds = {}
    for flag, given, var, default in (
        ("--delay", args.delay, "SHUTDOWN_DELAY", "5"),
        ("--quiet-period", args.quiet_period, "QUIET_PERIOD", "1"),
        ("--drain-timeout", args.drain_timeout, "DRAIN_TIMEOUT", "20"),
    ):
        name, raw = pick(flag, given, var, default)
        seconds[var] = _seconds(name, raw or "")
    return Settings(
        order=order,
        host=host,
        port=int(port),
        pod=pod or socket.gethostname(),
        shutdown_delay=seconds["SHUTDOWN_DELAY"],
        strategy=strategy,
        quiet_period=seconds["QUIET_PERIOD"],
        drain_timeout=seconds["DRAIN_TIMEOUT"],
    )


class SampleApp:
    """The HTTP routes plus the shutdown sequence of the chosen order."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.ready = True
        # Every response from then on says Connection: close, so keep-alive clients reconnect
        # (through the Service, to another pod) instead of reusing a connection the drain will
        # close under them. Graceful sets it at SIGTERM, the other orders when the listener closes.
        self.say_close = False
        self.inflight = 0
        # Connections (aiohttp RequestHandlers) with a request in a handler right now; the drain
        # closes every other connection at once, these only after their response.
        self._busy: dict[RequestHandler, int] = {}
        self._signal_count = 0
        self._stage = "serving"  # serving | propagating | closing | draining | exiting
        self._new_connections = 0
        self._last_connection = 0.0  # loop time of the newest accepted connection
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._done: asyncio.Future[int] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ----- events -----------------------------------------------------------------------------

    def emit(self, event: str, **fields: Any) -> None:
        """One JSON line on stdout, flushed now: the reader may need it while we are killed."""
        line = {"ts": time.time(), "event": event, "pod": self.s.pod, "order": self.s.order}
        line["inflight"] = self.inflight
        line.update(fields)
        try:
            sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            # A reader that went away must not stop the shutdown sequence itself.
            pass

    # ----- HTTP -------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/", self.index)
        app.router.add_get("/work", self.work)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/livez", self.livez)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        protocol = request.protocol
        self.inflight += 1
        self._busy[protocol] = self._busy.get(protocol, 0) + 1
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                # Router errors (404, 405) are raised: answer them here so they carry the header.
                keep = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
                response = _error(exc.status, exc.reason, keep)
            except Exception:
                logging.getLogger("sample-app").exception("handler failed: %s", request.path_qs)
                response = _error(500, "internal error")
        finally:
            self.inflight -= 1
            left = self._busy.pop(protocol, 1) - 1
            if left > 0:
                self._busy[protocol] = left
        response.headers["X-Served-By"] = self.s.pod
        if self.say_close:
            response.force_close()
        return response

    async def index(self, request: web.Request) -> web.Response:
        body = {"pod": self.s.pod, "order": self.s.order, "ready": self.ready}
        body["inflight"] = self.inflight  # counts this request too; lets tests see work arrive
        return web.json_response(body)

    async def work(self, request: web.Request) -> web.Response:
        raw = request.query.get("ms", "0")
        if not re.fullmatch(r"[0-9]{1,6}", raw) or int(raw) > MAX_WORK_MS:
            return _error(400, f"ms must be an integer 0-{MAX_WORK_MS}, got {raw[:40]!r}")
        ms = int(raw)
        await asyncio.sleep(ms / 1000)
        return web.json_response({"pod": self.s.pod, "ms": ms})

    async def readyz(self, request: web.Request) -> web.Response:
        if self.ready:
            return web.json_response({"ready": True})
        return web.json_response({"ready": False, "reason": "shutting down"}, status=503)

    async def livez(self, request: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    # ----- lifecycle --------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        # access_log=None: stdout carries only the event lines. handle_signals stays off: aiohttp's
        # own handling closes the listener first and exits 1; we run the order's steps ourselves.
        self._runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        handlers = self._runner.server
        assert handlers is not None

        def accept() -> asyncio.BaseProtocol:
            # Called once per accepted connection: the quiet strategy waits on these times.
            self._new_connections += 1
            self._last_connection = loop.time()
            return handlers()

        try:
            # Our own asyncio server rather than a TCPSite, so closing the listener is one call
            # that leaves established connections alone.
            self._listener = await loop.create_server(accept, self.s.host, self.s.port)
        except OSError as exc:
            raise UsageError(f"cannot listen on {self.s.host}:{self.s.port}: {exc}") from None
        self._done = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal, sig)
        port = self._listener.sockets[0].getsockname()[1]
        self.emit(
            "started",
            host=self.s.host,
            port=port,
            pid=os.getpid(),
            strategy=self.s.strategy,
            shutdown_delay=self.s.shutdown_delay,
            quiet_period=self.s.quiet_period,
            drain_timeout=self.s.drain_timeout,
            aiohttp=aiohttp_version,
        )
        code = await self._done
        await self._runner.cleanup()
        return code

    def on_signal(self, sig: signal.Signals) -> None:
        self._signal_count += 1
        if self._signal_count > 1:
            if self._stage == "exiting":
                return  # the exit line is out and the process is already on its way out
            # Second SIGTERM/SIGINT: the operator (or a supervisor) insists. Skip what is left of
            # the propagation and drain waits and exit now with the shell's code for that signal.
            code = 128 + int(sig)
            self.emit("forced", signal=sig.name, stage=self._stage)
            self._exit_now(code, forced=True)
        self.emit("sigterm", signal=sig.name)
        if self.s.order == "naive":
            # Naive: no draining at all; in-flight requests are cut when the process goes.
            self._exit_now(EXIT_OK, forced=False)
        if self.s.order == "graceful":
            self.ready = False
            self.say_close = True
            self.emit("readiness_failed")
            self._stage = "propagating"
        else:
            self._stage = "closing"
        task = asyncio.get_running_loop().create_task(self._shutdown())
        self._tasks.add(task)  # keep a reference: the loop holds tasks only weakly
        task.add_done_callback(self._shutdown_done)

    def _shutdown_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A bug in the sequence must not leave a pod hanging until SIGKILL with no exit line.
            logging.getLogger("sample-app").error("shutdown failed", exc_info=task.exception())
            self._exit_now(EXIT_INCOMPLETE, forced=False)

    def _exit_now(self, code: int, *, forced: bool) -> NoReturn:
        self.emit("exit", code=code, forced=forced)
        # os._exit: no cleanup, no waiting; the kernel closes every socket as the process goes.
        os._exit(code)

    async def _shutdown(self) -> None:
        assert self._listener is not None and self._done is not None
        loop = asyncio.get_running_loop()
        began = loop.time()
        reason = "immediate"
        if self.s.order == "graceful":
            reason = await self._propagation_wait(began)
        self._listener.close()
        self.emit(
            "listener_closed",
            reason=reason,
            waited_s=round(loop.time() - began, 3),
            new_connections=self._new_connections,
        )
        self._stage = "draining"
        self.say_close = True
        open_connections = len(self._connections())
        idle_closed = self._close_connections()
        self.emit("drain_started", connections=open_connections, idle_closed=idle_closed)
        drain_began = loop.time()
        deadline = drain_began + self.s.drain_timeout
        while (self.inflight or self._connections()) and loop.time() < deadline:
            await asyncio.sleep(DRAIN_POLL_S)
        timed_out = bool(self.inflight or self._connections())
        self.emit(
            "drained",
            timed_out=timed_out,
            connections=len(self._connections()),
            waited_s=round(loop.time() - drain_began, 3),
        )
        if timed_out:
            # What is still running is cut, as the kubelet's SIGKILL would; say so in the code.
            self._exit_now(EXIT_INCOMPLETE, forced=False)
        self._stage = "exiting"
        self.emit("exit", code=EXIT_OK, forced=False)
        self._done.set_result(EXIT_OK)

    async def _propagation_wait(self, began: float) -> str:
        """Keep serving while the endpoint removal propagates; returns why the wait ended."""
        loop = asyncio.get_running_loop()
        limit = began + self.s.shutdown_delay
        if self.s.strategy == "fixed":
            await asyncio.sleep(self.s.shutdown_delay)
            return "delay"
        while True:
            # Quiet counts from SIGTERM at the earliest: connections before it say nothing about
            # whether the endpoint removal has reached the proxies yet.
            quiet_end = max(began, self._last_connection) + self.s.quiet_period
            now = loop.time()
            if now >= limit:
                return "delay"
            if now >= quiet_end:
                return "quiet"
            await asyncio.sleep(min(limit, quiet_end) - now)

    def _connections(self) -> list[RequestHandler]:
        server = self._runner.server if self._runner else None
        return list(server.connections) if server is not None else []

    def _close_connections(self) -> int:
        """Closes idle keep-alive connections now and busy ones after their response."""
        idle = 0
        for conn in self._connections():
            if conn in self._busy:
                conn.close()
            else:
                # force_close, not close: on current aiohttp close() of an idle connection only
                # ends its reader task and leaves the socket open until the runner's shutdown.
                conn.force_close()
                idle += 1
        return idle


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers)


def main(argv: list[str] | None = None) -> int:
    # aiohttp logs handler errors through logging; route them to stderr, never to stdout.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "app.py"
    try:
        settings = parse_settings(sys.argv[1:] if argv is None else argv, os.environ)
        return asyncio.run(SampleApp(settings).run())
    except UsageError as exc:
        sys.stderr.write(f"{prog}: error: {exc}\n")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
