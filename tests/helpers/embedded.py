"""Shared by the embedded backend's tests: a small HTTP load client, tiny apps, process checks.

Not locust: an asyncio client with many concurrent connections, either a new connection per
request or keep-alive, that records what every request saw (status, X-Served-By, error class).
The module holds no tests itself; it is named like the others so it stays with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.appspec import App, Probe
from harness.backends.embedded import EmbeddedBackend
from harness.scenario import Embedded
from harness.timeline import TimelineEvent

# Fast settings for tests: probes every 0.1 s, propagation well under a second.
FAST = Embedded(propagation_min_s=0.2, propagation_max_s=0.5)
FAST_PROBE = Probe(period_s=0.1, timeout_s=1.0)


def fast_app(command: list[str]) -> App:
    """An app of ``command`` probed every 0.1 s on /readyz."""
    return App(command=command, readiness=FAST_PROBE)


@dataclass(frozen=True)
class Result:
    start: float
    end: float
    path: str
    status: int
    pod: str | None
    error: str | None
    keepalive: bool
    message: str = ""
    retried: bool = False  # a keep-alive request sent again after an idle-close race


class _NoResponse(Exception):
    """The connection ended before a complete response."""

    def __init__(self, message: str, received: int) -> None:
        super().__init__(message)
        self.received = received  # response bytes that did arrive


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise _NoResponse(f"closed after {len(exc.partial)} bytes", len(exc.partial)) from None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    try:
        await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise _NoResponse("body cut short", len(head) + 1) from None
    return status, headers


def _classify(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "connection_reset"
    if isinstance(exc, _NoResponse):
        return "remote_disconnected"
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    return "other"


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LoadClient:
    """``workers`` loops sending GETs to host:port until ``stop`` is set; records every request."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        workers: int,
        keepalive: bool,
        paths: tuple[str, ...] = ("/", "/", "/", "/work?ms=50"),
        think_s: float = 0.01,
        timeout_s: float = 10.0,
        seed: int = 7,
    ) -> None:
        self.host, self.port = host, port
        self.workers = workers
        self.keepalive = keepalive
        self.paths = paths
        self.think_s = think_s
        self.timeout_s = timeout_s
        self.rng = random.Random(seed)
        self.results: list[Result] = []

    async def run(self, stop: asyncio.Event) -> list[Result]:
        await asyncio.gather(*(self._worker(stop) for _ in range(self.workers)))
        return self.results

    async def _worker(self, stop: asyncio.Event) -> None:
        conn: _Conn | None = None
        try:
            while not stop.is_set():
                path = self.rng.choice(self.paths)
                start = time.time()
                retried = False
                while True:
                    reused = conn is not None
                    try:
                        conn, status, pod = await self._attempt(conn, path)
                    except (OSError, asyncio.TimeoutError, _NoResponse) as exc:
                        if conn is not None:
                            await _close(conn[1])
                            conn = None
                        if reused and not retried and _nothing_received(exc):
                            # RFC 9112 9.3.1: a reused connection closed before any response
                            # byte (the server closed it as idle just as we sent): retry a GET
                            # once on a new connection, as browsers and Go's client do.
                            retried = True
                            continue
                        self.results.append(
                            Result(
                                start,
                                time.time(),
                                path,
                                0,
                                None,
                                _classify(exc),
                                self.keepalive,
                                repr(exc),
                                retried,
                            )
                        )
                        break
                    error = "http_5xx" if status >= 500 else None
                    self.results.append(
                        Result(
                            start,
                            time.time(),
                            path,
                            status,
                            pod,
                            error,
                            self.keepalive,
                            "",
                            retried,
                        )
                    )
                    break
                await asyncio.sleep(self.think_s)
        finally:
            if conn is not None:
                await _close(conn[1])

    async def _attempt(self, conn: _Conn | None, path: str) -> tuple[_Conn | None, int, str | None]:
        """One request; returns the connection to reuse (None: closed), status, X-Served-By."""
        if conn is not None and conn[0].at_eof():
            # The server closed this idle connection earlier: reconnect, as urllib3 does.
            await _close(conn[1])
            conn = None
        if conn is None:
            conn = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout_s
            )
        reader, writer = conn
        header = "keep-alive" if self.keepalive else "close"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: {header}\r\n\r\n".encode())
        try:
            status, headers = await asyncio.wait_for(_read_response(reader), self.timeout_s)
        except BaseException:
            await _close(writer)
            raise
        if not self.keepalive or headers.get("connection", "").lower() == "close":
            await _close(writer)
            conn = None
        return conn, status, headers.get("x-served-by")


def _nothing_received(exc: BaseException) -> bool:
    if isinstance(exc, _NoResponse):
        return exc.received == 0
    return isinstance(exc, (ConnectionResetError, BrokenPipeError))


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def get(host: str, port: int, path: str = "/") -> tuple[int, str | None]:
    """One GET on a new connection: (status, X-Served-By)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        status, headers = await _read_response(reader)
        return status, headers.get("x-served-by")
    finally:
        await _close(writer)


# A tiny app for the mechanics tests: starts in a few ms (no aiohttp), and behaves as told.
#   argv: host port mode; mode: exit (exits on SIGTERM) | ignore (logs SIGTERM, keeps going)
#   | unready (the readiness path always answers 503); in every mode /healthz answers 200 until
#   the app got SIGTERM, 503 after
TINY_APP = r"""
import asyncio, json, os, signal, sys, time
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pod = os.environ.get("POD_NAME", "?")
terminated = False

def emit(event, **fields):
    print(json.dumps({"ts": time.time(), "event": event, "pod": pod, **fields}), flush=True)

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            unready = (mode == "unready" and path == b"/readyz") or (
                path == b"/healthz" and terminated)
            status = b"503 Service Unavailable" if unready else b"200 OK"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\nX-Served-By: "
                         + pod.encode() + b"\r\n\r\nok")
            await writer.drain()
            if b"connection: close" in head.lower():
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    def on_term():
        global terminated
        terminated = True
        emit("sigterm")
        if mode != "ignore" and not done.done():
            done.set_result(0)
    loop.add_signal_handler(signal.SIGTERM, on_term)
    server = await asyncio.start_server(handle, host, port)
    emit("started", port=port)
    await done
    server.close()
    emit("exit", code=0)

asyncio.run(main())
"""


def tiny_command(tmp_path: Path, mode: str = "exit") -> list[str]:
    """The command for the tiny app in ``mode``, with the backend's placeholders."""
    script = tmp_path / "tiny_app.py"
    script.write_text(TINY_APP)
    return [sys.executable, str(script), "{host}", "{port}", mode]


def tiny_app(tmp_path: Path, mode: str = "exit") -> App:
    """The tiny app in ``mode``, probed every 0.1 s."""
    return fast_app(tiny_command(tmp_path, mode))


def processes_with(marker: str) -> list[int]:
    """PIDs of live processes whose environment carries ``marker`` (Linux /proc)."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z":
            found.append(int(entry.name))
    return found


def by_kind(events: list[TimelineEvent], kind: str, pod: str | None = None) -> list[TimelineEvent]:
    return [e for e in events if e.kind == kind and (pod is None or e.pod == pod)]


def first(events: list[TimelineEvent], kind: str, pod: str | None = None) -> TimelineEvent:
    found = by_kind(events, kind, pod)
    assert found, f"no {kind} event for {pod}: {[(e.kind, e.pod) for e in events]}"
    return found[0]


def timeline_text(events: list[TimelineEvent]) -> str:
    """The timeline, one event a line, for an assertion message."""
    t0 = min((e.ts for e in events), default=0.0)
    return "\n".join(
        f"{e.ts - t0:8.3f} {e.kind:22} {e.pod} {e.detail}"
        for e in sorted(events, key=lambda e: e.ts)
    )


async def serving_replicas(backend: EmbeddedBackend, replicas: int, timeout_s: float) -> None:
    """Waits until the proxy routes to ``replicas`` pods that are not terminating.

    A deletion every second outruns the replacements on a loaded machine (a replacement took up
    to 2.2 s to become ready, and 0.2-0.6 s more to reach the proxy): the test then deleted the
    last ready pod, the proxy had no endpoint left and reset new connections, as kube-proxy
    rejects them. No shutdown order can help that; a Deployment that is fully available before
    each deletion (what a PodDisruptionBudget asks of an eviction) leaves two endpoints always.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        alive = {p.name for p in await backend.list_pods() if not p.terminating}
        if len(alive & backend.proxy.view.keys()) >= replicas:
            return
        assert time.monotonic() < deadline, f"fewer than {replicas} pods serving for {timeout_s} s"
        await asyncio.sleep(0.02)
