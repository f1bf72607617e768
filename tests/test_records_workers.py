"""Several load workers' records files joined into one (harness.records.merge_worker_files), and
their status files read as one (harness.load.status)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import WriteError
from harness.load.status import WorkerStatus, read_status
from harness.records import (
    merge_worker_files,
    read_records,
    record_line,
    rows_path,
    worker_files,
)
from harness.runfolder import worker_file


def write_part(path: Path, worker: int, ends: list[float], torn: str = "") -> None:
    lines = [
        record_line(end - 0.01, 10.0, "/", 200, 2, "pod", None, None, "GET", worker, worker)
        for end in ends
    ]
    worker_file(path, worker).write_text("".join(lines) + torn)


def test_the_parts_join_into_one_stream_in_order_of_end(tmp_path: Path) -> None:
    path = tmp_path / "records-naive@evict.jsonl"
    write_part(path, 0, [1.0, 3.0, 5.0])
    write_part(path, 1, [2.0, 2.5, 6.0], torn='{"start":7.0,"end":7.')  # killed mid-write
    write_part(path, 10, [4.0])  # numbered, not sorted as text
    (tmp_path / "records-naive.w0.jsonl").write_text("another order's\n")
    rows_path(path).write_bytes(b"stale")
    assert worker_files(path) == [worker_file(path, n) for n in (0, 1, 10)]
    assert merge_worker_files(path) == 3
    records = read_records(path)
    assert [r.end for r in records] == [1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0]
    assert [r.worker for r in records] == [0, 1, 1, 0, 10, 0, 1]
    assert path.read_text().splitlines()[-1] == '{"start":7.0,"end":7.'  # kept, last, skipped
    assert worker_files(path) == [] and not rows_path(path).exists()
    assert (tmp_path / "records-naive.w0.jsonl").exists()
    assert merge_worker_files(path) == 0  # nothing left to join: the file stays as it is
    assert len(read_records(path)) == 7


def test_joining_again_after_a_crash_before_the_parts_went_gives_the_same_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "records-a.jsonl"
    write_part(path, 0, [1.0, 4.0])
    write_part(path, 1, [2.0])
    kept = {p: p.read_bytes() for p in worker_files(path)}
    merge_worker_files(path)
    joined = path.read_bytes()
    for part, data in kept.items():  # as if the harness died between the rename and the unlink
        part.write_bytes(data)
    merge_worker_files(path)
    assert path.read_bytes() == joined


def test_a_joined_file_the_disk_refuses_is_a_write_error_and_the_parts_stay(
    tmp_path: Path,
) -> None:
    path = tmp_path / "records-a.jsonl"
    write_part(path, 0, [1.0])
    (tmp_path / ".records-a.jsonl.joining").mkdir()  # where the joined file would be written
    with pytest.raises(WriteError, match=r"records-a\.jsonl: .*Is a directory"):
        merge_worker_files(path)
    assert worker_files(path) == [worker_file(path, 0)] and not path.exists()


def test_the_master_and_its_workers_status_files_read_as_one(tmp_path: Path) -> None:
    master = tmp_path / "locust.status.jsonl"
    lines = [
        {"event": "started", "ts": 10.0, "client_retries": False, "cpu_s": 0.5},
        {"event": "stopping", "ts": 20.0},
        {"event": "stopped", "ts": 21.0, "cut_off": 0, "records": None, "cpu_s": 0.6},
        {"event": "counted", "ts": 22.0, "locust_requests": 30, "per_worker": {"0": 20, "1": 10}},
    ]
    master.write_text("".join(json.dumps(line) + "\n" for line in lines))
    worker_file(master, 0).write_text(
        '{"event":"connected","ts":9.0,"worker":0}\n'
        '{"event":"started","ts":10.1,"cpu_s":1.0}\n'
        '{"event":"stopped","ts":20.5,"cut_off":1,"records":20,"record_writes":4,"cpu_s":3.0}\n'
    )
    worker_file(master, 1).write_text(  # died: it never said it stopped
        '{"event":"connected","ts":9.5,"worker":1}\n{"event":"started","ts":10.2,"cpu_s":1.0}\n'
    )
    status = read_status(master, workers=2)
    assert (status.started_at, status.stopping_at, status.stopped_at) == (10.0, 20.0, 21.0)
    assert status.locust_requests == 30
    assert status.workers == (
        WorkerStatus(
            0,
            9.0,
            10.1,
            20.5,
            records=20,
            record_writes=4,
            cut_off=1,
            cpu_s=2.0,
            locust_requests=20,
        ),
        WorkerStatus(1, 9.5, 10.2, None, locust_requests=10),
    )
    # A total is known only when every worker said its part.
    assert (status.records, status.record_writes, status.cut_off, status.cpu_s) == (None,) * 4
    assert read_status(tmp_path / "nothing.jsonl", workers=2).workers == (
        WorkerStatus(0),
        WorkerStatus(1),
    )
