"""The load nodes' clocks (harness.load.clocks): the offset from one probe, the best of several,
which workers' records move, and the join that moves them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.load.clocks import ClockReading, Clocks, best, cristian, join_records, read_clocks
from harness.records import client_suffix, read_records, record_line, with_client
from harness.runfolder import clocks_name, worker_file


def test_one_probe_is_the_remote_time_against_the_middle_of_the_round_trip() -> None:
    reading = cristian(100.0, 100.55, 101.0)
    assert reading.offset_s == pytest.approx(0.05) and reading.uncertainty_s == pytest.approx(0.5)


def test_the_tightest_probe_wins_and_the_probes_are_counted() -> None:
    chosen = best([cristian(0.0, 5.2, 1.0), cristian(2.0, 7.01, 2.02), cristian(3.0, 8.3, 3.5)])
    assert chosen.offset_s == pytest.approx(5.0) and chosen.uncertainty_s == pytest.approx(0.01)
    assert chosen.probes == 3


def test_only_an_offset_larger_than_its_uncertainty_moves_the_records() -> None:
    assert ClockReading(0.003, 0.004).applied_s == 0.0  # within what the probe could be wrong by
    assert ClockReading(-0.25, 0.004).applied_s == 0.25
    clocks = Clocks(
        nodes={"a": ClockReading(0.003, 0.004), "b": ClockReading(-0.25, 0.004)},
        workers={0: {"pod": "w0", "node": "a"}, 1: {"pod": "w1", "node": "b"}, 2: {"node": None}},
    )
    assert clocks.shifts() == {1: 0.25}


def test_the_clocks_file_round_trips_and_a_bad_one_moves_nothing(tmp_path: Path) -> None:
    clocks = Clocks({"n": ClockReading(1.5, 0.01, 3)}, {0: {"pod": "p", "node": "n"}})
    path = tmp_path / "clocks.json"
    path.write_text(json.dumps(clocks.to_dict()))
    assert read_clocks(path) == clocks
    assert json.loads(path.read_text())["nodes"]["n"]["applied_s"] == -1.5
    path.write_text("{not json")
    assert read_clocks(path) == Clocks() and read_clocks(tmp_path / "none.json") == Clocks()


def test_joining_moves_a_node_whose_clock_is_off_and_keeps_the_client(tmp_path: Path) -> None:
    order = "naive"
    records = tmp_path / f"records-{order}.jsonl"
    for worker, node, ends in ((0, "a", [10.0, 12.0]), (1, "b", [13.5, 15.0])):
        suffix = client_suffix(f"load-w{worker}", node)
        lines = [
            with_client(
                record_line(
                    e - 0.1, 100.0, "/", 200, 1, "p", None, None, "GET", worker, worker
                ).encode(),
                suffix,
            )
            for e in ends
        ]
        worker_file(records, worker).write_bytes(b"".join(lines))
    # Node b's clock runs 2.5 s ahead of this machine's: its records move back by 2.5 s.
    clocks = Clocks(
        {"a": ClockReading(0.0, 0.002), "b": ClockReading(2.5, 0.002)},
        {0: {"pod": "load-w0", "node": "a"}, 1: {"pod": "load-w1", "node": "b"}},
    )
    (tmp_path / clocks_name(order)).write_text(json.dumps(clocks.to_dict()))
    join_records(tmp_path, order)
    joined = read_records(records)
    assert [(r.end, r.worker, r.client_node) for r in joined] == [
        (10.0, 0, "a"),
        (11.0, 1, "b"),
        (12.0, 0, "a"),
        (12.5, 1, "b"),
    ]
    assert all(r.client_pod == f"load-w{r.worker}" for r in joined)
    assert joined[1].start == pytest.approx(10.9)


def test_with_client_adds_the_pod_and_node_inside_the_line() -> None:
    line = record_line(1.0, 1.0, "/", 200, 1, "p", None, None).encode()
    added = with_client(line, client_suffix("load-w0", "node-1"))
    assert added.endswith(b',"client_pod":"load-w0","client_node":"node-1"}\n')
    assert json.loads(added)["client_node"] == "node-1"
    assert with_client(b"not a record", b',"x":1') == b"not a record"
