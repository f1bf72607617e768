"""The load by client node (harness.analysis.clientnodes): failures and late routing per node."""

from __future__ import annotations

import json
from pathlib import Path

from harness.analysis.clientnodes import client_nodes
from harness.load.clocks import ClockReading, Clocks
from harness.records import client_suffix, record_line, with_client


def record(end: float, node: str | None, pod: str | None, error: str | None = None) -> bytes:
    line = record_line(end - 0.01, 10.0, "/", 0 if error else 200, 1, pod, error, None)
    data = line.encode()
    return with_client(data, client_suffix(f"load-{node}", node)) if node else data


def test_each_node_counts_its_failures_and_how_long_a_removed_pod_answered_it(
    tmp_path: Path,
) -> None:
    records = tmp_path / "records-a.jsonl"
    records.write_bytes(
        b"".join(
            [
                record(9.0, "n1", "p1"),
                record(10.4, "n1", "p1"),  # p1 left routing at 10.0: n1 still reached it 0.4 s on
                record(10.1, "n2", "p1"),  # n2 only 0.1 s on
                record(10.2, "n2", None, "connection_refused"),  # in p1's stop window
                record(30.0, "n2", None, "timeout"),  # outside every window
                record(11.0, "n1", "p2"),  # a pod never stopped: no lateness
                b"torn{",
            ]
        )
    )
    per_deletion = [{"pod": "p1", "ts": 9.5, "removal": 10.0, "window_end": 12.0}]
    clocks = tmp_path / "clocks-a.json"
    reading = {"n1": ClockReading(0.001, 0.002)}
    clocks.write_text(json.dumps(Clocks(reading, {0: {"node": "n1"}}).to_dict()))
    block = client_nodes(records, per_deletion, clocks)
    assert block is not None and list(block) == ["n1", "n2"]
    n1, n2 = block["n1"], block["n2"]
    assert (n1["requests"], n1["failed"], n1["routed_after_removal_ms"]) == (3, 0, 400.0)
    assert (n2["requests"], n2["failed"], n2["failed_during_stops"]) == (3, 2, 1)
    assert n2["routed_after_removal_ms"] == 100.0
    assert n2["failures_by_class"] == {"connection_refused": 1, "timeout": 1}
    assert n1["clients"] == ["load-n1"] and n1["clock"]["applied_ms"] == 0.0
    assert n2["clock"] is None


def test_records_from_this_machine_have_no_nodes(tmp_path: Path) -> None:
    records = tmp_path / "records-a.jsonl"
    records.write_bytes(record(1.0, None, "p1"))
    assert client_nodes(records, [], tmp_path / "none.json") is None
