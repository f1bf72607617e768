"""The rows file the progress tail keeps beside a records file: reading through it gives exactly
the rows the JSONL gives, and a rows file that does not match its JSONL is not trusted."""

from __future__ import annotations

from pathlib import Path

from harness.records import (
    RecordRows,
    RecordTail,
    read_rows,
    record_line,
    rows_path,
)


def line(i: int, pod: str | None = "p-0", error: str | None = None) -> str:
    return record_line(1000.0 + i / 7, 1.0 + i / 3, "/", 0 if error else 200, 2, pod, error, None)


def lines(start: int, count: int) -> list[str]:
    pods: list[str | None] = ["p-0", "p-1", 'we"ird', None, "p-\u00e9"]
    errors: list[str | None] = [None, None, "connection_refused", "http_5xx"]
    return [line(i, pods[i % len(pods)], errors[i % len(errors)]) for i in range(start, count)]


def from_json(path: Path) -> list[tuple[float, float, str | None, str | None]]:
    return list(RecordRows(path.read_bytes().splitlines()))


def grow(path: Path, tail: RecordTail, batches: list[list[str]]) -> None:
    for batch in batches:
        with path.open("a") as handle:
            handle.write("".join(batch))
        tail.new_rows()


def test_rows_file_gives_the_jsonl_rows_and_the_jsonl_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "records-naive.jsonl"
    path.write_text("")
    tail = RecordTail(path, keep_rows=True)
    grow(path, tail, [lines(0, 10), lines(10, 11), [], lines(11, 40)])
    with path.open("a") as handle:  # after the last look: only in the JSONL
        handle.write("".join(lines(40, 45)) + line(45)[:30])
    assert rows_path(path).stat().st_size > 0
    assert len(from_json(path)) == 45
    assert list(read_rows(path)) == from_json(path)


def test_a_torn_or_foreign_rows_file_falls_back_to_the_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "records-naive.jsonl"
    path.write_text("")
    tail = RecordTail(path, keep_rows=True)
    grow(path, tail, [lines(0, 10), lines(10, 20)])
    side = rows_path(path)
    whole = side.read_bytes()
    for cut in range(0, len(whole), 7):  # torn anywhere: what is whole is used, the rest parsed
        side.write_bytes(whole[:cut])
        assert list(read_rows(path)) == from_json(path)
    side.write_bytes(whole)
    copy = tmp_path / "records-copy.jsonl"  # another file (inode) with the same content
    copy.write_bytes(path.read_bytes())
    rows_path(copy).write_bytes(whole[:-8] + b"\xff" * 8)  # and a garbled code
    assert list(read_rows(copy)) == from_json(copy)
    path.write_text("".join(lines(100, 103)))  # rewritten in place, shorter than covered
    assert list(read_rows(path)) == from_json(path)


def test_a_new_tail_starts_the_rows_file_anew(tmp_path: Path) -> None:
    path = tmp_path / "records-naive.jsonl"
    path.write_text("")
    grow(path, RecordTail(path, keep_rows=True), [lines(0, 30)])
    path.write_bytes(b"")  # the next run truncates the records file, keeping its inode
    tail = RecordTail(path, keep_rows=True)
    assert not rows_path(path).exists()
    grow(path, tail, [lines(50, 55)])
    assert list(read_rows(path)) == from_json(path)
    assert len(from_json(path)) == 5


def test_a_record_whose_pod_is_no_string_is_skipped_by_both_readers(tmp_path: Path) -> None:
    path = tmp_path / "records-naive.jsonl"
    path.write_text("")
    tail = RecordTail(path, keep_rows=True)
    odd = (
        '{"start":1,"end":2.5,"latency_ms":3,"name":"/","status":0,"bytes":0,"pod":7,"error":null}'
    )
    grow(path, tail, [lines(0, 5), [odd + "\n"], lines(5, 9)])
    rows = list(read_rows(path))
    assert rows == from_json(path)
    assert len(rows) == 9 and all(row[2] is None or isinstance(row[2], str) for row in rows)


def test_without_keep_rows_no_rows_file(tmp_path: Path) -> None:
    path = tmp_path / "records-naive.jsonl"
    path.write_text("".join(lines(0, 3)))
    assert len(RecordTail(path).new_rows()) == 3
    assert not rows_path(path).exists()
