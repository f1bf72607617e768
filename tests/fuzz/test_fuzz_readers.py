"""The run's readers on anything a crash, a full disk or a stranger may leave in a run folder:
records (JSONL and the binary rows file beside it) and timelines. No exception escapes, every row
and event has the types the analysis relies on, and what is a record or an event is still read.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

from helpers.fuzz import SCALARS, deep_json, fuzz, json_trees
from hypothesis import given
from hypothesis import strategies as st

from harness.records import (
    RecordRows,
    RecordTail,
    read_last_end,
    read_records,
    read_rows,
    record_line,
    rows_path,
)
from harness.timeline import read_timeline

TMP = Path(tempfile.mkdtemp(prefix="drainlab-fuzz-readers-"))

LABELS = st.one_of(st.none(), st.text(max_size=8))
GOOD_LINES = st.builds(
    lambda start, latency, pod, error: record_line(start, latency, "/", 200, 1, pod, error, None),
    st.floats(0, 2e9),
    st.floats(0, 1e6),
    LABELS,
    LABELS,
).map(str.encode)
RECORD_FIELDS = ["start", "end", "latency_ms", "name", "status", "bytes", "pod", "error"]
ODD_RECORDS = st.dictionaries(st.sampled_from(RECORD_FIELDS), SCALARS, max_size=8).map(
    lambda d: json.dumps(d).encode()
)
LINES = st.one_of(
    GOOD_LINES,
    ODD_RECORDS,
    st.binary(max_size=40),
    st.builds(lambda depth: deep_json(depth).encode(), st.integers(0, 5000)),
    json_trees(max_leaves=6).map(lambda tree: json.dumps(tree).encode()),
)


def torn(lines: list[bytes], cut: int) -> bytes:
    """The lines as a file, its end torn off (a writer killed mid-line)."""
    data = b"".join(line.rstrip(b"\n") + b"\n" for line in lines)
    return data[: max(0, len(data) - cut)]


def intact(good: list[bytes], full: int, kept: int) -> int:
    """How many of ``good``, the last lines of a file of ``full`` bytes, the first ``kept``
    bytes hold whole."""
    end = full - sum(len(line) + 1 for line in good)
    whole = 0
    for line in good:
        end += len(line) + 1
        whole += end <= kept
    return whole


def write(name: str, data: bytes) -> Path:
    path = TMP / name
    path.write_bytes(data)
    rows_path(path).unlink(missing_ok=True)
    return path


def assert_row(row: Any) -> None:
    end, latency, pod, error = row
    assert type(end) is float and type(latency) is float
    assert pod is None or type(pod) is str
    assert error is None or type(error) is str


@fuzz(150)
@given(st.lists(LINES, max_size=8), st.lists(GOOD_LINES, max_size=6))
def test_record_rows_of_any_lines(junk: list[bytes], good: list[bytes]) -> None:
    rows = RecordRows(torn([*junk, *good], 0).splitlines())
    read = list(rows)
    for row in read:
        assert_row(row)
    expected = list(RecordRows(good))
    assert len(expected) == len(good)  # a line the formatter wrote is always a record
    assert read[len(read) - len(good) :] == expected
    assert rows.skipped <= sum(1 for line in junk for part in line.splitlines() if part.strip())


@fuzz(120)
@given(st.lists(GOOD_LINES, max_size=10), st.lists(LINES, max_size=6), st.integers(0, 40))
def test_records_file_keeps_every_whole_record(
    good: list[bytes], junk: list[bytes], cut: int
) -> None:
    path = write("records.jsonl", torn([*junk, *good], cut))
    rows = list(read_rows(path))
    for row in rows:
        assert_row(row)
    assert len(rows) >= intact(good, len(torn([*junk, *good], 0)), path.stat().st_size)
    last = read_last_end(path)
    assert last is None or type(last) is float
    for record in read_records(path):
        assert record.pod is None or type(record.pod) is str


@fuzz(200)
@given(st.lists(GOOD_LINES, min_size=1, max_size=8), st.binary(max_size=200), st.booleans())
def test_a_rows_file_of_garbage_is_not_trusted(
    good: list[bytes], garbage: bytes, with_header: bool
) -> None:
    path = write("records.jsonl", b"".join(good))
    expected = list(RecordRows(b"".join(good).splitlines()))
    side = b""
    if with_header:  # past the header check: the chunks themselves are garbage
        stat = os.stat(path)
        side = f"drainlab rows 1 {__import__('sys').byteorder}\n".encode()
        side += struct.pack("<QQ", stat.st_dev, stat.st_ino)
    rows_path(path).write_bytes(side + garbage)
    rows = list(read_rows(path))
    for row in rows:
        assert_row(row)
    if not with_header:
        assert rows == expected


@fuzz(100)
@given(st.lists(GOOD_LINES, min_size=1, max_size=8), st.integers(9, 2**32 - 1))
def test_a_rows_chunk_claiming_huge_counts_reads_nothing_big(good: list[bytes], count: int) -> None:
    path = write("records.jsonl", b"".join(good))
    tail = RecordTail(path, keep_rows=True)
    tail.new_rows()
    side = rows_path(path)
    data = side.read_bytes()
    head = len(f"drainlab rows 1 {__import__('sys').byteorder}\n") + 16
    # the first chunk's header, its row count raised: the columns it announces are not there,
    # and reading them would first allocate up to 128 GiB
    tag, upto, new, _ = struct.unpack_from("<4sQII", data, head)
    side.write_bytes(data[:head] + struct.pack("<4sQII", tag, upto, new, count))
    rows = list(read_rows(path))
    assert [r[:2] for r in rows] == [r[:2] for r in RecordRows(b"".join(good).splitlines())]


EVENT_FIELDS = ["ts", "kind", "pod", "detail"]
ODD_EVENTS = st.dictionaries(
    st.sampled_from(EVENT_FIELDS), st.one_of(SCALARS, json_trees(max_leaves=3)), max_size=4
).map(lambda d: json.dumps(d).encode())
GOOD_EVENTS = st.builds(
    lambda ts, kind, pod: json.dumps({"ts": ts, "kind": kind, "pod": pod, "detail": {}}).encode(),
    st.floats(0, 2e9),
    st.text(max_size=10),
    LABELS,
)


@fuzz(150)
@given(
    st.lists(st.one_of(ODD_EVENTS, LINES), max_size=8),
    st.lists(GOOD_EVENTS, max_size=6),
    st.integers(0, 30),
)
def test_timeline_of_any_lines(junk: list[bytes], good: list[bytes], cut: int) -> None:
    data = torn([*junk, *good], cut)
    events = read_timeline(write("timeline.jsonl", data))
    for event in events:
        assert type(event.ts) is float and math.isfinite(event.ts)
        assert type(event.kind) is str and (event.pod is None or type(event.pod) is str)
        assert isinstance(event.detail, dict)
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert len(events) >= intact(good, len(torn([*junk, *good], 0)), len(data))
