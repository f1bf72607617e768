"""The Service proxy: kube-proxy's behaviour as a userspace TCP proxy on 127.0.0.1.

- It routes each NEW connection to one endpoint of its OWN view (seeded random, like iptables
  mode, or round robin, like IPVS). The view changes only when the endpoints model applies a
  change, after a propagation delay (see endpointcontroller.py): that lag is the race under test.
- An established connection is pinned to its endpoint until either side closes, as conntrack
  pins it: bytes are pumped both ways, a half-close (FIN) is passed on as a half-close, and a
  reset from one side becomes a reset (SO_LINGER 0, then close) to the other.

Where a userspace proxy cannot be exact, and what the client sees instead:

- A connection to a pod that refuses it (the app has closed its listener or exited): behind
  kube-proxy's DNAT the client's own SYN meets the pod's RST, so connect() fails with
  ECONNREFUSED. Here the client's connect() already succeeded (the kernel accepted it for us), so
  the client gets a reset (ECONNRESET, or an empty reply) at once instead. The route log and
  ``stats.refused`` mark these, so a report can tell them from resets of established connections.
- No endpoint at all: kube-proxy REJECTs (ICMP port unreachable: ECONNREFUSED); here likewise an
  immediate reset after accept.
- Serving-terminating endpoints (the 1.26+ profile, KEP-1669, endpointcontroller.py) are a
  fallback view: new connections go to them only while the ready view is empty.
- The routing decision is taken when asyncio hands us the accepted connection, a fraction of a
  millisecond after the SYN on an idle loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

BALANCE_MODES = ("random", "round_robin")
_WRITE_HIGH_WATER = 1 << 20  # per direction: large, so one read is forwarded without pausing
_LISTEN_BACKLOG = 4096  # a load test opens connections in bursts


@dataclass(frozen=True, slots=True)
class Endpoint:
    pod: str
    host: str
    port: int


@dataclass(slots=True)
class Route:
    """One routing decision; ``outcome`` is filled in once the backend connect is done."""

    ts: float  # unix seconds when the connection was routed
    pod: str | None  # None when there was no endpoint
    outcome: str = "pending"  # connected | refused | failed | no_endpoints | cancelled


@dataclass(slots=True)
class ProxyStats:
    accepted: int = 0
    connected: int = 0
    refused: int = 0  # the chosen pod refused: the client saw a reset right after connecting
    failed: int = 0  # the chosen pod did not answer the connect in time, or another error
    no_endpoints: int = 0
    backend_resets: int = 0  # established connections the pod reset
    client_resets: int = 0
    per_pod: Counter[str] = field(default_factory=Counter)


def _reset(transport: asyncio.Transport, *, flush: bool) -> None:
    """Closes with SO_LINGER 0 so the peer gets a RST; ``flush`` first sends what is buffered."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if flush:
        transport.close()
    else:
        transport.abort()


class _Pipe:
    """One client connection and its backend connection: a conntrack entry."""

    def __init__(self, proxy: ServiceProxy, client: asyncio.Transport, route: Route) -> None:
        self.proxy = proxy
        self.client = client
        self.backend: asyncio.Transport | None = None
        self.route = route
        self.client_eof = False
        self.backend_eof = False
        self.connecting: asyncio.Task[None] | None = None
        self.timed_out = False

    async def connect(self, endpoint: Endpoint) -> None:
        loop = asyncio.get_running_loop()
        stats = self.proxy.stats
        # A timer that cancels this task, not asyncio.wait_for: wait_for costs an extra task per
        # connection on Python 3.11, and this runs for every connection of the load test.
        task = asyncio.current_task()
        assert task is not None
        timer = loop.call_later(self.proxy.connect_timeout_s, self._connect_timed_out, task)
        try:
            await loop.create_connection(lambda: _BackendSide(self), endpoint.host, endpoint.port)
        except ConnectionRefusedError:
            self.route.outcome = "refused"
            stats.refused += 1
            self._reset_client(flush=False)
            return
        except OSError:
            self._connect_failed()
            return
        except asyncio.CancelledError:
            if not self.timed_out:
                raise
            self._connect_failed()
            return
        finally:
            timer.cancel()
            self.connecting = None
        self.route.outcome = "connected"
        stats.connected += 1
        backend = self.backend
        if backend is None or backend.is_closing():
            return
        if self.client.is_closing():
            backend.close()
            return
        if self.client_eof and backend.can_write_eof():
            backend.write_eof()
        self.client.resume_reading()

    def _connect_timed_out(self, task: asyncio.Task[None]) -> None:
        self.timed_out = True
        task.cancel()

    def _connect_failed(self) -> None:
        self.route.outcome = "failed"
        self.proxy.stats.failed += 1
        self._reset_client(flush=False)

    # ----- client side --------------------------------------------------------------------------

    def from_client(self, data: bytes) -> None:
        if self.backend is not None and not self.backend.is_closing():
            self.backend.write(data)

    def client_eof_received(self) -> None:
        self.client_eof = True
        backend = self.backend
        if backend is not None and not backend.is_closing() and backend.can_write_eof():
            backend.write_eof()
        self._close_if_both_eof()

    def client_lost(self, exc: Exception | None) -> None:
        if self.connecting is not None:
            self.route.outcome = "cancelled"
            self.connecting.cancel()
        backend = self.backend
        if backend is not None and not backend.is_closing():
            if exc is not None:
                self.proxy.stats.client_resets += 1
                _reset(backend, flush=True)
            else:
                backend.close()
        self.proxy._forget(self)

    # ----- backend side -------------------------------------------------------------------------

    def backend_made(self, transport: asyncio.Transport) -> None:
        self.backend = transport
        transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)

    def from_backend(self, data: bytes) -> None:
        if not self.client.is_closing():
            self.client.write(data)

    def backend_eof_received(self) -> None:
        self.backend_eof = True
        if not self.client.is_closing() and self.client.can_write_eof():
            self.client.write_eof()
        self._close_if_both_eof()

    def backend_lost(self, exc: Exception | None) -> None:
        if not self.client.is_closing():
            if exc is not None:
                self.proxy.stats.backend_resets += 1
                self._reset_client(flush=True)
            else:
                self.client.close()

    def _reset_client(self, *, flush: bool) -> None:
        if not self.client.is_closing():
            _reset(self.client, flush=flush)

    def _close_if_both_eof(self) -> None:
        # Both directions are finished: the connection is over, as it is for conntrack.
        if self.client_eof and self.backend_eof:
            self.client.close()
            if self.backend is not None:
                self.backend.close()

    def abort(self) -> None:
        if self.connecting is not None:
            self.connecting.cancel()
        self.client.abort()
        if self.backend is not None:
            self.backend.abort()


class _ClientSide(asyncio.Protocol):
    def __init__(self, proxy: ServiceProxy) -> None:
        self.proxy = proxy
        self.pipe: _Pipe | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.pipe = self.proxy._route(transport)

    def data_received(self, data: bytes) -> None:
        if self.pipe is not None:
            self.pipe.from_client(data)

    def eof_received(self) -> bool:
        if self.pipe is not None:
            self.pipe.client_eof_received()
        return True  # keep the transport: the backend may still answer a half-closed client

    def pause_writing(self) -> None:
        if self.pipe is not None and self.pipe.backend is not None:
            self.pipe.backend.pause_reading()

    def resume_writing(self) -> None:
        if self.pipe is not None and self.pipe.backend is not None:
            self.pipe.backend.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pipe is not None:
            self.pipe.client_lost(exc)


class _BackendSide(asyncio.Protocol):
    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.pipe.backend_made(transport)

    def data_received(self, data: bytes) -> None:
        self.pipe.from_backend(data)

    def eof_received(self) -> bool:
        self.pipe.backend_eof_received()
        return True

    def pause_writing(self) -> None:
        self.pipe.client.pause_reading()

    def resume_writing(self) -> None:
        self.pipe.client.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.backend_lost(exc)


class ServiceProxy:
    """A Service's virtual IP: one listening address, routing by its own endpoint view."""

    def __init__(
        self,
        rng: random.Random,
        *,
        balance: str = "random",
        record_routes: bool = False,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if balance not in BALANCE_MODES:
            raise ValueError(f"balance must be one of {', '.join(BALANCE_MODES)}, got {balance!r}")
        self._rng = rng
        self._balance = balance
        self._record = record_routes
        self.connect_timeout_s = connect_timeout_s
        self._view: dict[str, Endpoint] = {}
        self._choices: list[Endpoint] = []  # the view sorted by pod name: a stable order to pick
        self._fallback: dict[str, Endpoint] = {}  # serving-terminating endpoints
        self._fallback_choices: list[Endpoint] = []  # those the profile routes to, sorted
        self._next = 0
        self._pipes: set[_Pipe] = set()
        self._server: asyncio.AbstractServer | None = None
        self.routes: list[Route] = []  # every decision, when record_routes is on
        self.stats = ProxyStats()

    async def start(self, host: str = "127.0.0.1") -> tuple[str, int]:
        """Starts listening on a free port; returns (host, port)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ClientSide(self), host, 0, backlog=_LISTEN_BACKLOG, reuse_address=True
        )
        port: int = self._server.sockets[0].getsockname()[1]
        return host, port

    @property
    def view(self) -> dict[str, Endpoint]:
        return dict(self._view)

    def set_endpoint(self, endpoint: Endpoint) -> None:
        self._view[endpoint.pod] = endpoint
        self._choices = sorted(self._view.values(), key=lambda e: e.pod)

    @property
    def fallback_view(self) -> dict[str, Endpoint]:
        return dict(self._fallback)

    def set_fallback(self, endpoint: Endpoint, routable: bool) -> None:
        """The endpoint is serving-terminating now: out of the ready view; ``routable``: used
        when no ready endpoint is left (KEP-1669)."""
        self.remove_endpoint(endpoint.pod)
        self._fallback[endpoint.pod] = endpoint
        if routable:
            self._fallback_choices = sorted(
                [*self._fallback_choices, endpoint], key=lambda e: e.pod
            )

    def remove_endpoint(self, pod: str) -> None:
        if self._view.pop(pod, None) is not None:
            self._choices = sorted(self._view.values(), key=lambda e: e.pod)
        if self._fallback.pop(pod, None) is not None:
            self._fallback_choices = [e for e in self._fallback_choices if e.pod != pod]

    def _choose(self) -> Endpoint | None:
        choices = self._choices or self._fallback_choices
        if not choices:
            return None
        if self._balance == "round_robin":
            self._next += 1
            return choices[self._next % len(choices)]
        return self._rng.choice(choices)

    def _route(self, client: asyncio.Transport) -> _Pipe | None:
        self.stats.accepted += 1
        endpoint = self._choose()
        route = Route(time.time(), endpoint.pod if endpoint is not None else None)
        if self._record:
            self.routes.append(route)
        if endpoint is None:
            route.outcome = "no_endpoints"
            self.stats.no_endpoints += 1
            _reset(client, flush=False)
            return None
        self.stats.per_pod[endpoint.pod] += 1
        # Hold the client's bytes in the kernel until the backend connection exists.
        client.pause_reading()
        client.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
        pipe = _Pipe(self, client, route)
        self._pipes.add(pipe)
        pipe.connecting = asyncio.ensure_future(pipe.connect(endpoint))
        return pipe

    def _forget(self, pipe: _Pipe) -> None:
        self._pipes.discard(pipe)

    @property
    def open_connections(self) -> int:
        return len(self._pipes)

    async def close(self) -> None:
        """Stops listening and cuts every connection; safe to call more than once."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for pipe in list(self._pipes):
            pipe.abort()
        self._pipes.clear()
        if server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)
