"""The Service proxy on its own: conntrack-like pumping, resets, refusals, its own view."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest

from harness.backends.embedded.addresses import free_port
from harness.backends.embedded.proxy import Endpoint, ServiceProxy

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _server(handler: Handler) -> tuple[asyncio.AbstractServer, Endpoint]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, Endpoint(f"pod-{port}", "127.0.0.1", port)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _proxy(*endpoints: Endpoint, **kwargs: object) -> tuple[ServiceProxy, int]:
    proxy = ServiceProxy(random.Random(1), record_routes=True, **kwargs)  # type: ignore[arg-type]
    for endpoint in endpoints:
        proxy.set_endpoint(endpoint)
    _, port = await proxy.start()
    return proxy, port


def test_bytes_flow_both_ways_intact() -> None:
    async def main() -> None:
        server, endpoint = await _server(_echo)
        proxy, port = await _proxy(endpoint)
        payload = os.urandom(4 << 20)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def send() -> None:
            writer.write(payload)
            await writer.drain()
            writer.write_eof()

        sender = asyncio.ensure_future(send())
        echoed = await asyncio.wait_for(reader.read(), 30)
        await sender
        assert echoed == payload
        writer.close()
        await proxy.close()
        server.close()
        assert proxy.stats.connected == 1

    asyncio.run(main())


def test_half_close_is_passed_on() -> None:
    """The client shuts its side; the backend still answers and the client reads it all."""

    async def answer_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read()  # until the client's FIN
        writer.write(b"got " + str(len(request)).encode())
        await writer.drain()
        writer.close()

    async def main() -> None:
        server, endpoint = await _server(answer_after_eof)
        proxy, port = await _proxy(endpoint)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x" * 1000)
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 10) == b"got 1000"
        writer.close()
        await proxy.close()
        server.close()

    asyncio.run(main())


def test_a_reset_from_the_pod_reaches_the_client_as_a_reset() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def main() -> None:
        server, endpoint = await _server(reset)
        proxy, port = await _proxy(endpoint)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(100), 10)
        writer.close()
        await proxy.close()
        server.close()
        assert proxy.stats.backend_resets == 1

    asyncio.run(main())


def test_a_pod_that_refuses_gives_the_client_a_failed_connection() -> None:
    async def main() -> None:
        dead = Endpoint("dead", "127.0.0.1", free_port("127.0.0.1"))  # nothing listens there
        proxy, port = await _proxy(dead)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        # Behind kube-proxy this would be ECONNREFUSED at connect(); here the reset follows it.
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(100), 10) == b""
        writer.close()
        await proxy.close()
        assert proxy.stats.refused == 1
        assert [r.outcome for r in proxy.routes] == ["refused"]

    asyncio.run(main())


def test_no_endpoint_rejects_at_once() -> None:
    async def main() -> None:
        proxy, port = await _proxy()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(100), 5) == b""
        writer.close()
        await proxy.close()
        assert proxy.stats.no_endpoints == 1
        assert proxy.routes[0].pod is None

    asyncio.run(main())


def test_removal_stops_new_connections_but_established_ones_keep_flowing() -> None:
    async def main() -> None:
        server_a, a = await _server(_echo)
        server_b, b = await _server(_echo)
        proxy, port = await _proxy(a, b)
        # Open connections until one is pinned to a.
        pinned = None
        for _ in range(50):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            if proxy.routes[-1].pod == a.pod:
                pinned = (reader, writer)
                break
            writer.close()
        assert pinned is not None
        proxy.remove_endpoint(a.pod)
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            writer.close()
        assert {r.pod for r in proxy.routes[-20:]} == {b.pod}
        # conntrack: the connection routed before the removal still reaches a.
        pinned[1].write(b"still here")
        assert await pinned[0].readexactly(10) == b"still here"
        pinned[1].close()
        await proxy.close()
        server_a.close()
        server_b.close()

    asyncio.run(main())


def test_choices_repeat_with_the_seed_and_round_robin_alternates() -> None:
    async def picks(balance: str) -> list[str | None]:
        server, a = await _server(_echo)
        b = Endpoint("b", a.host, a.port)
        proxy, port = await _proxy(a, b, balance=balance)
        for _ in range(12):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await asyncio.sleep(0.01)
        await proxy.close()
        server.close()
        # a's name holds its port, which changes from run to run: compare which one was picked.
        return ["a" if r.pod == a.pod else r.pod for r in proxy.routes]

    first = asyncio.run(picks("random"))
    assert first == asyncio.run(picks("random"))
    assert len(set(first)) == 2
    rr = asyncio.run(picks("round_robin"))
    assert all(x != y for x, y in itertools.pairwise(rr))


def test_a_pod_that_never_answers_the_connect_is_given_up_on() -> None:
    async def main() -> None:
        # A listener with a full accept queue: Linux drops further SYNs, so connects hang.
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)
            port = listener.getsockname()[1]
            fillers = []
            for _ in range(3):
                filler = socket.socket()
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
                fillers.append(filler)
            await asyncio.sleep(0.1)
            proxy, proxy_port = await _proxy(
                Endpoint("stuck", "127.0.0.1", port), connect_timeout_s=0.3
            )
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
            with contextlib.suppress(ConnectionResetError):
                assert await asyncio.wait_for(reader.read(10), 10) == b""
            writer.close()
            await proxy.close()
            for filler in fillers:
                filler.close()
        assert [r.outcome for r in proxy.routes] == ["failed"]
        assert proxy.stats.failed == 1

    asyncio.run(main())
