"""Reading records files (harness.records): streamed rows give exactly what reading them as
RequestRecord gives, whatever the writer, and torn or garbled lines are skipped."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from helpers.analysis import ev, fail, ok

from harness.analysis import analyse_order, analyse_order_file
from harness.analysis.scan import rows_of
from harness.jsonl import JsonlWriter
from harness.records import (
    RecordRows,
    RequestRecord,
    read_last_end,
    read_records,
    read_rows,
    record_line,
)
from harness.timeline import EventKind

RECORDS = [ok(1000.0 + i * 0.125, latency_ms=float(i), pod=f"p-{i % 3}") for i in range(40)] + [
    fail(1001.0),
    fail(1001.5, "http_5xx", pod="p-1"),
    fail(1002.0, "timeout"),
    RequestRecord(1002.0, 1002.5, 500.0, "/", 0, 0, None, "connection_reset", 'said "no"\n'),
]


def write(path: Path, records: list[RequestRecord]) -> Path:
    with JsonlWriter(path) as writer:
        for r in records:
            writer.write(r)
    return path


def test_jsonlwriter_output_reads_back_as_written(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", RECORDS)
    rows = RecordRows(path.read_bytes().splitlines())
    assert list(rows) == list(rows_of(RECORDS))
    assert rows.skipped == 0
    assert list(read_rows(path)) == list(rows_of(read_records(path)))


def test_recorder_lines_read_back_as_written(tmp_path: Path) -> None:
    lines = [
        record_line(1000.25, 12.5, "/", 200, 14, "p-0", None, None),
        record_line(1001.0, 3.0, "/work?ms=1", 0, 0, None, "connection_refused", 'said "no"'),
    ]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(lines))
    assert list(read_rows(path)) == [
        (1000.2625, 12.5, "p-0", None),
        (1001.003, 3.0, None, "connection_refused"),
    ]
    assert read_last_end(path) == 1001.003


def test_a_torn_last_line_is_skipped_like_iter_jsonl_does(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", RECORDS)
    with path.open("a") as handle:
        handle.write('{"start":1.0,"end":2.0,"latency_ms":3.0,"name":"/","sta')
    assert list(read_rows(path)) == list(rows_of(RECORDS))
    assert list(read_rows(path)) == list(rows_of(read_records(path)))
    assert read_last_end(path) == RECORDS[-1].end
    assert read_last_end(path, tail_bytes=300) == RECORDS[-1].end  # the tail cuts a line


def test_other_writers_formats_fall_back_to_json(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    lines = [
        json.dumps(asdict(ok(1000.0, 1.5, pod="p-0"))),  # spaces after separators
        json.dumps({"error": None, "pod": "p-\u00e9", "end": 1000.5, "latency_ms": 2.0}),
        json.dumps(asdict(fail(1001.0, pod='we"ird'))),  # an escaped quote
        "",
        "not json",
        json.dumps([1, 2]),
    ]
    path.write_text("\n".join(lines) + "\n")
    rows = RecordRows(path.read_bytes().splitlines())
    assert len(list(rows)) == 3 and rows.skipped == 2  # the blank line is not counted
    assert list(read_rows(path)) == [
        (1000.0, 1.5, "p-0", None),
        (1000.5, 2.0, "p-\u00e9", None),
        (1001.0, 1.0, 'we"ird', "connection_refused"),
    ]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("")
    assert list(read_rows(path)) == []
    assert read_last_end(path) is None


def test_analyse_order_file_equals_analyse_order(tmp_path: Path) -> None:
    path = write(tmp_path / "records-naive.jsonl", RECORDS)
    timeline = [
        ev(1001.0, EventKind.DELETE_REQUESTED, "p-1"),
        ev(1001.2, EventKind.SIGTERM_SENT, "p-1"),
        ev(1001.75, EventKind.REMOVAL_APPLIED, "p-1"),
        ev(1002.25, EventKind.EXITED, "p-1"),
    ]
    window = (1000.0, 1010.0)
    from_file = analyse_order_file("naive", path, timeline, window)
    in_memory = analyse_order("naive", RECORDS, timeline, window)
    assert from_file == in_memory
    assert from_file.summary["failed"] == 4
    assert from_file.summary["failures_by_phase"] == {
        "before_sigterm": 1,  # 1001.0
        "propagating": 1,  # 1001.5
        "draining": 1,  # 1002.0
        "after_exit": 1,  # 1002.5
        "unknown": 0,
        "no_ready_replica": 0,
        "unattributed": 0,
    }


def test_records_whose_pod_or_error_is_no_string_are_skipped(tmp_path: Path) -> None:
    """Such a line is not one drainlab wrote; read as a row, its list or object would end the
    analysis in "unhashable type"."""
    odd = [
        '{"start":1,"end":2.5,"latency_ms":3,"name":"/","status":0,"bytes":0,"pod":[1],"error":"x"}',
        '{"start":1,"end":2.5,"latency_ms":3,"name":"/","status":0,"bytes":0,"pod":null,"error":{}}',
        '{"start":1,"end":2.5,"latency_ms":3,"name":"/","status":0,"bytes":0,"pod":"p","error":1}',
        '{"ts": 1, "kind": 2}',
        "\udcff\udcfe not utf-8",
    ]
    path = write(tmp_path / "r.jsonl", RECORDS[:3])
    with path.open("a", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write("\n".join(odd) + "\n")
    rows = RecordRows(path.read_bytes().splitlines())
    assert list(rows) == list(rows_of(RECORDS[:3])) and rows.skipped == len(odd)
    assert read_records(path) == RECORDS[:3]
    analysis = analyse_order_file("naive", path, [], (999.0, 1010.0))
    assert analysis is not None
