"""A TLS proxy in front of the real local API server that fails the calls a test chooses.

The harness talks to it through a kubeconfig whose server is the proxy: every call and every
watch or log stream really reaches kube-apiserver, except those a rule catches, which get what an
overloaded or unreachable API server gives:

- ``status``: an HTTP error with a Kubernetes Status body (503, 500, 429 with Retry-After...);
- ``reset``: the connection is closed without an answer;
- ``stall``: no answer at all, so the client's own timeout must fire.

``cut_streams()`` ends every open watch and log stream at once, as an API server restart would.
The proxy serves the API server's own certificate (its SAN has 127.0.0.1), so the client verifies
TLS against the cluster's CA as usual; the bearer token passes through unchanged.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

# Hop-by-hop and length headers: aiohttp sets its own for what it forwards.
_DROP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}


@dataclass
class Rule:
    """Fails the calls whose method and path match, ``times`` times (None: every time)."""

    method: str  # "GET", "DELETE", ... or "*"
    path: str  # a regular expression searched in the path (query string excluded)
    action: str  # "status", "reset" or "stall"
    status: int = 503
    retry_after_s: int | None = None
    times: int | None = 1
    watches: bool = False  # also match watch calls (?watch=true); off: plain calls only
    hits: int = 0

    def matches(self, method: str, path: str, watch: bool) -> bool:
        if watch and not self.watches:
            return False
        if self.method not in ("*", method):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        return re.search(self.path, path) is not None


@dataclass
class Seen:
    method: str
    path: str
    outcome: str  # "forwarded", or the action of the rule that caught it


@dataclass
class FaultyApiProxy:
    upstream: str  # https://127.0.0.1:6443
    pki: Path  # ca.crt, apiserver.crt and apiserver.key
    rules: list[Rule] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _streams: set[asyncio.BaseTransport] = field(default_factory=set)  # streams going on
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ----- control, from the test's thread -------------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10) or not self.port:
            raise RuntimeError("the API proxy did not start")

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def cut_streams(self) -> int:
        """Ends every open watch and log stream; returns how many were cut."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._cut(), self._loop)
        return future.result(10)

    def outcomes(self, outcome: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.outcome == outcome]

    # ----- the server, in its own thread ---------------------------------------------------------

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(self.pki / "apiserver.crt", self.pki / "apiserver.key")
        client_tls = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handle_signals=False)

        async def setup() -> None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=client_tls),
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
            await site.start()
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        loop.run_until_complete(setup())
        ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)  # stalled answers, streams still open
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(self._session.close())
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def _rule_for(self, request: web.Request) -> Rule | None:
        watch = request.query.get("watch") in ("true", "1") or request.query.get("follow") == "true"
        with self._lock:
            for rule in self.rules:
                if rule.matches(request.method, request.path, watch):
                    rule.hits += 1
                    return rule
        return None

    def _note(self, request: web.Request, outcome: str) -> None:
        with self._lock:
            self.seen.append(Seen(request.method, request.path, outcome))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rule = self._rule_for(request)
        if rule is not None:
            self._note(request, rule.action)
            return await self._fail(request, rule)
        self._note(request, "forwarded")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        body = await request.read()
        async with self._session.request(
            request.method,
            self.upstream + request.rel_url.path_qs,
            headers=headers,
            data=body or None,
            # Forward exactly what came: aiohttp would add a Content-Type the client did not send.
            skip_auto_headers=("Content-Type", "User-Agent", "Accept-Encoding"),
        ) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _DROP:
                    response.headers.add(key, value)
            await response.prepare(request)
            transport = request.transport
            if transport is not None:
                self._streams.add(transport)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (ConnectionError, aiohttp.ClientError, asyncio.CancelledError):
                return response  # the client or the cut went away mid-stream
            finally:
                if transport is not None:
                    self._streams.discard(transport)
            await response.write_eof()
            return response

    async def _fail(self, request: web.Request, rule: Rule) -> web.StreamResponse:
        if rule.action == "stall":
            await asyncio.sleep(3600)  # the client's timeout ends this, not the proxy
        if rule.action == "reset":
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response()  # never sent: the connection is gone
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": f"injected by the test proxy ({rule.status})",
            "reason": "ServiceUnavailable" if rule.status == 503 else "InternalError",
            "code": rule.status,
        }
        headers = {}
        if rule.retry_after_s is not None:
            headers["Retry-After"] = str(rule.retry_after_s)
        return web.json_response(status, status=rule.status, headers=headers, dumps=json.dumps)

    async def _cut(self) -> int:
        streams = list(self._streams)
        for transport in streams:
            transport.abort()  # type: ignore[attr-defined]
        return len(streams)
