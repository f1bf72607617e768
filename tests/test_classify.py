"""Error classes: unit tests on exceptions built the way their libraries raise them, then the
mapping proven end to end: real locust against real misbehaving servers on loopback."""

from __future__ import annotations

import asyncio
import http.client
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError
from geventhttpclient.useragent import BadStatusCode, RetriesExceeded

from harness.classify import ERROR_CLASSES, classify, describe
from harness.load.runner import start_load
from harness.records import read_records
from harness.scenario import Traffic


def raised_while_handling(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` with ``inner`` as its context, exactly as ``raise`` inside ``except`` leaves it."""
    try:
        try:
            raise inner
        except type(inner):
            raise outer  # noqa: B904 - the implicit context is the point
    except type(outer) as exc:
        return exc


def test_success_is_none_whatever_the_status() -> None:
    assert classify(None, 200) is None
    assert classify(None, 0) is None


@pytest.mark.parametrize(
    ("exception", "status", "expected"),
    [
        (ConnectionRefusedError(111, "Connection refused"), 0, "connection_refused"),
        (ConnectionResetError(104, "Connection reset by peer"), 0, "connection_reset"),
        (BrokenPipeError(32, "Broken pipe"), 0, "connection_reset"),
        (OSError(104, "Connection reset by peer"), 0, "connection_reset"),  # errno -> subclass
        (HTTPConnectionClosed("connection closed."), 0, "remote_disconnected"),
        (HTTPParseError("Incomplete response."), 200, "remote_disconnected"),
        (http.client.RemoteDisconnected("Remote end closed connection"), 0, "remote_disconnected"),
        (TimeoutError("timed out"), 0, "timeout"),
        (RetriesExceeded("http://x/", 0, original=TimeoutError("timed out")), 0, "timeout"),
        (
            RetriesExceeded("http://x/", 0, original=ConnectionRefusedError(111, "refused")),
            0,
            "connection_refused",
        ),
        (BadStatusCode("http://x/", code=500), 500, "http_5xx"),
        (BadStatusCode("http://x/", code=503), 0, "http_5xx"),  # code from the exception
        (BadStatusCode("http://x/", code=404), 404, "http_other"),
        (BadStatusCode("http://x/", code=300), 300, "http_other"),
        (ValueError("something else"), 0, "other"),
        (RetriesExceeded("http://x/", 0, original=None), 0, "other"),
    ],
)
def test_exception_to_class(exception: BaseException, status: int, expected: str) -> None:
    assert classify(exception, status) == expected


def test_connection_closed_while_handling_a_reset_is_a_reset() -> None:
    # geventhttpclient/response.py: ECONNRESET before the first byte -> "connection closed."
    exc = raised_while_handling(
        HTTPConnectionClosed("connection closed."), ConnectionResetError(104, "reset")
    )
    assert classify(exc, 0) == "connection_reset"


def test_unrelated_context_does_not_change_a_disconnect() -> None:
    # Seen for real: a truncated body is raised while handling an AttributeError of the cache.
    exc = raised_while_handling(HTTPParseError("Incomplete response."), AttributeError("x"))
    assert classify(exc, 200) == "remote_disconnected"


def test_every_class_is_in_the_records_contract() -> None:
    produced = {
        classify(exc, status)
        for exc, status in [
            (ConnectionRefusedError(), 0),
            (ConnectionResetError(), 0),
            (HTTPConnectionClosed("x"), 0),
            (TimeoutError(), 0),
            (BadStatusCode("u", code=500), 500),
            (BadStatusCode("u", code=404), 404),
            (KeyError(), 0),
        ]
    }
    assert produced == set(ERROR_CLASSES)


# --- end to end: what locust's FastHttpUser really reports --------------------------------------


class RawServer:
    """A loopback TCP server that misbehaves in one way; counts accepted connections."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        if mode != "refuse":  # bound but never listening: connect() gets ECONNREFUSED
            self._sock.listen(128)
            self._sock.settimeout(0.2)
            self._spawn(self._accept_loop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._spawn(self._handle, conn)

    def _read_request(self, conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return False
            data += chunk
        return True

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.mode == "reset":
                self._read_request(conn)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif self.mode == "close":
                self._read_request(conn)
            elif self.mode == "hang":
                self._read_request(conn)
                self._stop.wait(30)
            else:  # a status code, keep-alive
                code = int(self.mode)
                while self._read_request(conn):
                    body = b"no\n"
                    conn.sendall(
                        f"HTTP/1.1 {code} X\r\nContent-Length: {len(body)}\r\n"
                        "X-Served-By: raw\r\n\r\n".encode()
                        + body
                    )
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


@pytest.fixture
def servers() -> Iterator[dict[str, RawServer]]:
    made = {mode: RawServer(mode) for mode in ("refuse", "reset", "close", "hang", "500", "404")}
    yield made
    for server in made.values():
        server.close()


EXPECTED = {
    "refuse": ("connection_refused", 0),
    "reset": ("connection_reset", 0),
    "close": ("remote_disconnected", 0),
    "hang": ("timeout", 0),
    "500": ("http_5xx", 500),
    "404": ("http_other", 404),
}


@pytest.mark.slow
def test_locust_errors_map_to_classes(servers: dict[str, RawServer], tmp_path: Path) -> None:
    traffic = Traffic(
        users=1, spawn_rate=10, fast_weight=1, slow_weight=0, wait_min_s=0.05, wait_max_s=0.1
    )
    hang_traffic = Traffic(**{**traffic.__dict__, "timeout_s": 0.5})

    async def one(mode: str) -> Path:
        records = tmp_path / f"records-{mode}.jsonl"
        run = await start_load(
            servers[mode].url,
            hang_traffic if mode == "hang" else traffic,
            1.5,
            records,
            1,
            tmp_path / f"locust-{mode}.log",
        )
        assert await run.wait() == 1  # locust's "some request failed"
        return records

    async def all_modes() -> dict[str, Path]:
        paths = await asyncio.gather(*(one(mode) for mode in EXPECTED))
        return dict(zip(EXPECTED, paths, strict=True))

    for mode, path in asyncio.run(all_modes()).items():
        records = read_records(path)
        expected_class, expected_status = EXPECTED[mode]
        assert records, mode
        assert Counter(r.error for r in records) == {expected_class: len(records)}, mode
        assert {r.status for r in records} == {expected_status}, mode
        if expected_status:
            assert {r.pod for r in records} == {"raw"}, mode
        else:
            assert {r.pod for r in records} == {None}, mode
        assert all(r.message for r in records), mode
        if mode == "hang":
            assert all(r.latency_ms >= 450 for r in records)
        if mode in ("reset", "close"):
            # Retries off: each recorded failure is exactly one TCP connection.
            assert servers[mode].connections == len(records), mode


@pytest.mark.slow
def test_client_retries_hide_closed_connections(tmp_path: Path) -> None:
    """geventhttpclient's own resend (kept with client_retries=True) makes three connections
    per failed GET, which is why drainlab switches it off by default."""
    server = RawServer("close")
    traffic = Traffic(
        users=1, spawn_rate=10, fast_weight=1, slow_weight=0, wait_min_s=0.1, wait_max_s=0.1
    )

    async def scenario() -> None:
        run = await start_load(
            server.url,
            traffic,
            1.5,
            tmp_path / "r.jsonl",
            1,
            tmp_path / "l.log",
            client_retries=True,
        )
        assert run.status().client_retries is True
        await run.wait()

    try:
        asyncio.run(scenario())
    finally:
        server.close()
    records = read_records(tmp_path / "r.jsonl")
    assert records
    assert {r.error for r in records} == {"remote_disconnected"}
    # Pool of one connection: the first try plus size + 1 resends.
    assert server.connections == 3 * len(records)


def test_describe_names_the_socket_error_underneath() -> None:
    exc = raised_while_handling(
        HTTPConnectionClosed("connection closed."), ConnectionResetError(104, "reset")
    )
    assert describe(exc) == (
        "HTTPConnectionClosed: connection closed. (after ConnectionResetError: [Errno 104] reset)"
    )
    assert describe(ValueError("x")) == "ValueError: x"
