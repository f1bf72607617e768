"""Traffic as data, through the real locust against a real loopback server: the requests of
``traffic.requests`` arrive as written (method, path, headers, body, by weight, on the connections
keepalive asks for), ``expect`` decides success, and ``rate_per_s`` holds its rate."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from helpers.loadrun import run_async

from bench.testserver import Counts, LoopbackServer, serve_app
from harness.load.mix import Request
from harness.load.runner import LoadRun, start_load
from harness.records import RequestRecord, read_records
from harness.scenario import Traffic

POD = "echo-0"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # with its query
    headers: dict[str, str]
    body: str


class EchoServer:
    """Answers every request; ``/status/N`` with status N, anything else with 200 (201 to a
    POST). Keeps what arrived in ``seen``, and counts TCP connections."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.counts = Counts()
        self.url = ""
        self._server: LoopbackServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.seen.append(Seen(request.method, request.path_qs, dict(request.headers), body))
        status = 201 if request.method == "POST" else 200
        if request.path.startswith("/status/"):
            status = int(request.path.rsplit("/", 1)[1])
        return web.Response(status=status, text="x\n", headers={"X-Served-By": POD})

    async def start(self) -> EchoServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._server = await serve_app(app, self.counts)
        self.url = self._server.url
        return self

    async def close(self) -> None:
        assert self._server is not None
        await self._server.close()


async def load(url: str, tmp_path: Path, traffic: Traffic, duration_s: float) -> LoadRun:
    tmp_path.mkdir(exist_ok=True)
    return await start_load(
        url, traffic, duration_s, tmp_path / "records.jsonl", 11, tmp_path / "locust.log"
    )


async def one_run(
    tmp_path: Path, traffic: Traffic, duration_s: float
) -> tuple[EchoServer, LoadRun, int, list[RequestRecord]]:
    server = await EchoServer().start()
    run = await load(server.url, tmp_path, traffic, duration_s)
    code = await run.wait()
    await server.close()
    return server, run, code, read_records(tmp_path / "records.jsonl")


MIX = [
    Request(path="/a", weight=1, keepalive=False),
    Request(
        method="POST",
        path="/orders?n={ms}",
        headers={"X-Token": "t-1", "Content-Type": "application/json"},
        body='{"item": "é"}',
        expect=["201"],
        weight=3,
    ),
    Request(method="DELETE", path="/never", weight=0),
    Request(method="PUT", path="/b", headers={"X-Token": "t-2"}, body="", weight=1),
    Request(method="HEAD", path="/h", weight=1),  # an answer without a body, all the same
]


@pytest.mark.slow
def test_requests_reach_the_server_as_written_and_by_weight(tmp_path: Path) -> None:
    users = 3
    traffic = Traffic(
        users=users,
        spawn_rate=100,
        requests=MIX,
        slow_ms_min=1,
        slow_ms_max=9,
        wait_min_s=0.0,
        wait_max_s=0.005,
    )
    server, run, code, records = run_async(lambda: one_run(tmp_path, traffic, 3.0))
    assert code == 0
    assert run.status().cut_off == 0
    assert len(records) == len(server.seen) >= 200
    assert {(r.error, r.pod) for r in records} == {(None, POD)}

    # Server side: what was sent is what arrived.
    by_method = Counter(s.method for s in server.seen)
    assert set(by_method) == {"GET", "POST", "PUT", "HEAD"}  # never the weight-0 DELETE
    for seen in server.seen:
        if seen.method == "POST":
            assert seen.path in {f"/orders?n={n}" for n in range(1, 10)}
            assert seen.headers["X-Token"] == "t-1"
            assert seen.headers["Content-Type"] == "application/json"
            assert seen.body == '{"item": "é"}'
        elif seen.method == "PUT":
            assert (seen.path, seen.headers["X-Token"], seen.body) == ("/b", "t-2", "")
        elif seen.method == "HEAD":
            assert (seen.path, seen.body) == ("/h", "")
        else:
            assert (seen.path, seen.body, seen.headers.get("X-Token")) == ("/a", "", None)
            assert seen.headers["Connection"].lower() == "close"

    # Weights 1 : 3 : 0 : 1 : 1, within five standard deviations of a binomial count.
    n = len(server.seen)
    for method, share in (("GET", 1 / 6), ("POST", 3 / 6), ("PUT", 1 / 6), ("HEAD", 1 / 6)):
        sd = (n * share * (1 - share)) ** 0.5
        assert abs(by_method[method] - n * share) < 5 * sd, by_method

    # The records say which method each was (a GET's line leaves it out) and the status it got.
    assert Counter(r.method for r in records) == by_method
    assert {(r.method, r.status, r.bytes) for r in records} == {
        ("GET", 200, 2),
        ("POST", 201, 2),
        ("PUT", 200, 2),
        ("HEAD", 200, 0),
    }

    # Only GET /a asks for a new connection: each one ends its connection, the others reuse.
    closing = by_method["GET"]
    assert closing <= server.counts.connections <= closing + users


@pytest.mark.slow
def test_expect_decides_success_and_other_statuses_fail_in_their_class(tmp_path: Path) -> None:
    judged = Traffic(
        users=2,
        spawn_rate=100,
        requests=[
            Request(path="/status/404", expect=["404"]),
            Request(path="/status/503"),
            Request(path="/status/200", expect=["404", "5xx"]),
            Request(path="/status/302"),  # the default expect, 200-399; not followed
            Request(path="/status/418", expect=["400-499"]),
        ],
        wait_min_s=0.01,
        wait_max_s=0.02,
    )
    only_expected = Traffic(
        users=1,
        spawn_rate=100,
        requests=[Request(path="/status/404", expect=["404"])],
        wait_min_s=0.01,
        wait_max_s=0.02,
    )

    async def both() -> list[tuple[EchoServer, LoadRun, int, list[RequestRecord]]]:
        return list(
            await asyncio.gather(
                one_run(tmp_path / "judged", judged, 2.0),
                one_run(tmp_path / "expected", only_expected, 2.0),
            )
        )

    (server, _, code, records), (_, _, expected_code, expected) = run_async(both)
    assert code == 1  # locust saw failures
    assert expected_code == 0  # an expected 404 is a success, for locust too
    assert expected and {(r.status, r.error) for r in expected} == {(404, None)}

    outcome = {(r.name, r.status, r.error) for r in records}
    assert outcome == {
        ("/status/404", 404, None),
        ("/status/503", 503, "http_5xx"),
        ("/status/200", 200, "http_other"),
        ("/status/302", 302, None),
        ("/status/418", 418, None),
    }
    assert len(records) == len(server.seen)
    assert {s.path for s in server.seen} == {name for name, _, _ in outcome}  # no redirect taken
    for record in records:
        if record.name == "/status/200":
            assert record.message == (
                "UnexpectedStatus: 200 is not among the expected statuses 404, 5xx"
            )
        if record.name == "/status/503":
            assert record.message is not None and "503" in record.message
            assert record.pod == POD


@pytest.mark.slow
def test_a_target_rate_is_held_over_all_users(tmp_path: Path) -> None:
    users, rate, duration_s = 4, 40.0, 4.0
    paced = Traffic(
        users=users, spawn_rate=100, rate_per_s=rate, requests=[Request(path="/status/200")]
    )
    server, run, code, records = run_async(lambda: one_run(tmp_path, paced, duration_s))
    assert code == 0
    assert len(records) == len(server.seen)
    status = run.status()
    assert status.started_at is not None and status.stopping_at is not None
    ran_s = status.stopping_at - status.started_at
    # constant_throughput: each user sends at once, then one every users / rate seconds.
    assert 0.85 * rate * ran_s <= len(records) <= rate * ran_s + users
    # And steadily: the middle two seconds, past the start, carry their share.
    middle = [r for r in records if status.started_at + 1 <= r.start < status.started_at + 3]
    assert 0.85 * 2 * rate <= len(middle) <= 1.15 * 2 * rate
