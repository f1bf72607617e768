"""The record line format, the line file, the live tail and the env encoding (no locust here)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench.recording import listener_cost_us
from harness.jsonl import LineFile
from harness.load.config import ENV_TRAFFIC, LoadConfig
from harness.load.mix import Request
from harness.load.progress import LoadCounter, LoadStats, format_progress
from harness.records import RequestRecord, read_records, record_from_dict, record_line
from harness.scenario import Traffic


def test_line_is_a_request_record_in_contract_order() -> None:
    line = record_line(1700000000.25, 12.5, "/work?ms=200", 200, 14, "pod-1", None, None)
    assert line.endswith("\n") and line.count("\n") == 1
    data = json.loads(line)
    # A GET leaves the method out: its line is what it was before requests could be other methods;
    # a line without a user (not written by locust) leaves the user out.
    assert list(data) == [
        f
        for f in RequestRecord.__dataclass_fields__
        if f not in ("method", "user", "worker", "client_pod", "client_node")
    ]
    assert record_from_dict(data) == RequestRecord(
        start=1700000000.25,
        end=1700000000.2625,
        latency_ms=12.5,
        name="/work?ms=200",
        status=200,
        bytes=14,
        pod="pod-1",
        error=None,
        message=None,
    )


def test_a_method_other_than_get_ends_the_line() -> None:
    line = record_line(1.0, 2.0, "/orders", 201, 3, "pod-1", None, None, "POST")
    data = json.loads(line)
    assert list(data) == [
        f
        for f in RequestRecord.__dataclass_fields__
        if f not in ("user", "worker", "client_pod", "client_node")
    ]
    assert record_from_dict(data).method == "POST"
    assert record_from_dict({**data, "method": "GET"}) == record_from_dict(
        json.loads(record_line(1.0, 2.0, "/orders", 201, 3, "pod-1", None, None))
    )


def test_the_user_number_ends_the_line_and_a_line_without_it_reads_as_none() -> None:
    data = json.loads(record_line(1.0, 2.0, "/orders", 201, 3, "pod-1", None, None, "POST", 7))
    assert list(data) == [
        f
        for f in RequestRecord.__dataclass_fields__
        if f not in ("worker", "client_pod", "client_node")
    ]
    assert record_from_dict(data).user == 7
    assert record_from_dict({**data, "user": True}).user is None  # not a number: unknown
    del data["user"]
    assert record_from_dict(data).user is None


def test_strings_are_escaped_and_messages_shortened() -> None:
    pod = 'we"ird\\pod\n"error":"x"'
    message = 'URL "http://x/": code=500 ' + "é" * 1000
    data = json.loads(record_line(1.0, 0.0, "/", 500, 0, pod, "http_5xx", message))
    assert data["pod"] == pod
    assert data["error"] == "http_5xx"
    assert data["message"] == message[:300]
    # the same values, the same line
    assert record_line(1.0, 0.0, "/", 0, 0, pod, None, None) == record_line(
        1.0, 0.0, "/", 0, 0, pod, None, None
    )


def test_line_file_appends_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.jsonl"
    path.parent.mkdir()
    path.write_text('{"old":1}\n')
    out = LineFile(path)
    out.write_line("a\n")
    out.write_obj({"b": 2})
    out.close()
    out.write_line("after close is ignored\n")
    assert path.read_text() == '{"old":1}\na\n{"b":2}\n'
    assert out.count == 2


def test_tail_counts_only_complete_lines_and_reads_only_new_bytes(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    tail = LoadCounter([path])
    assert tail.poll() == LoadStats(0, 0, {})  # no file yet
    ok = record_line(1.0, 1.0, "/", 200, 3, "p", None, None)
    refused = record_line(1.0, 1.0, "/", 0, 0, None, "connection_refused", "Err: a,b")
    five = record_line(1.0, 1.0, "/", 500, 3, "p", "http_5xx", None)
    path.write_text(ok + refused + five[:20])  # the last line is still being written
    assert tail.poll() == LoadStats(2, 1, {"connection_refused": 1})
    with path.open("a") as handle:
        handle.write(five[20:] + ok)
    assert tail.poll() == LoadStats(4, 2, {"connection_refused": 1, "http_5xx": 1})
    assert tail.poll() == LoadStats(4, 2, {"connection_refused": 1, "http_5xx": 1})
    # and the readers of the contract agree with the tail
    assert [r.error for r in read_records(path)] == [None, "connection_refused", "http_5xx", None]


def test_progress_line() -> None:
    assert format_progress(LoadStats(0, 0), 0.5, 20) == "load 0.5/20 s  0 requests  0 failed"
    stats = LoadStats(4000, 3, {"connection_reset": 1, "connection_refused": 2})
    assert format_progress(stats, 25.0, 20) == (
        "load 20.0/20 s  4000 requests  3 failed (0.07%): connection_refused 2, connection_reset 1"
    )


def test_config_round_trips_through_the_environment(tmp_path: Path) -> None:
    config = LoadConfig(
        records_path=tmp_path / "r.jsonl",
        status_path=tmp_path / "s.jsonl",
        traffic=Traffic(
            users=3,
            keepalive=False,
            timeout_s=2.5,
            requests=[Request(method="PUT", headers={"X-A": "1"}, body="b", expect=["2xx"])],
        ),
        seed=42,
        duration_s=7.25,
        record=False,
        client_retries=True,
    )
    env = config.to_env()
    assert all(isinstance(v, str) for v in env.values())
    assert LoadConfig.from_env(env) == config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({ENV_TRAFFIC: ""}, "DRAINLAB_TRAFFIC not set"),
        ({ENV_TRAFFIC: '{"userz": 3}'}, "DRAINLAB_TRAFFIC is not a Traffic"),
        ({ENV_TRAFFIC: "{"}, "DRAINLAB_TRAFFIC is not a Traffic"),
        ({ENV_TRAFFIC: "[]"}, "DRAINLAB_TRAFFIC is not a Traffic"),
        ({ENV_TRAFFIC: '{"requests": [{"verb": "GET"}]}'}, "DRAINLAB_TRAFFIC is not a Traffic"),
        ({"DRAINLAB_SEED": "x"}, "invalid literal"),
    ],
)
def test_bad_environment_names_the_variable(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    env = LoadConfig(tmp_path / "r", tmp_path / "s", Traffic(), 1, 1.0).to_env()
    env.update(change)
    with pytest.raises(ValueError, match=message):
        LoadConfig.from_env(env)


@pytest.mark.slow
def test_listener_costs_little_cpu_per_request() -> None:
    """The listener on real locust objects (bench.listener_cost): ~10 us per request on
    the reference machine, against ~450 us of locust's own; 20x that still fails loudly."""

    async def scenario() -> tuple[float, float]:
        return await listener_cost_us()

    success_us, failure_us = asyncio.run(scenario())
    assert 0 < success_us < 200
    assert 0 < failure_us < 200
