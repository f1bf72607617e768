"""The records sink of a locust process (harness.load.recordsink): the lines of one pass of
gevent's loop go out with one write, each before its user runs again."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import gevent

from harness.errors import WriteError
from harness.jsonl import LineFile
from harness.load.recordsink import RecordSink


def test_the_lines_of_a_pass_go_out_together_in_order(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    out = LineFile(path)
    scheduled: list[Callable[[], None]] = []
    sink = RecordSink(out, scheduled.append)
    for n in range(3):
        sink.add(f'{{"n":{n}}}\n')
    assert len(scheduled) == 1 and path.read_text() == ""  # nothing yet: the pass goes on
    scheduled.pop()()
    assert path.read_text() == '{"n":0}\n{"n":1}\n{"n":2}\n'
    assert (sink.writes, out.count) == (1, 3)
    sink.add('{"n":3}\n')  # the next pass schedules its own write
    assert len(scheduled) == 1
    assert sink.written() == 4  # the count of the file, what was pending included
    scheduled.pop()()  # the pass's callback finds nothing left to write
    assert (sink.writes, path.read_text().count("\n")) == (2, 4)


def test_a_refused_write_counts_every_line_of_it_as_lost_and_reports_once(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.symlink_to("/dev/full")
    failures: list[WriteError] = []
    out = LineFile(path, failures.append)
    scheduled: list[Callable[[], None]] = []
    sink = RecordSink(out, scheduled.append)
    for _ in range(3):
        sink.add('{"end":1}\n')
    scheduled.pop()()
    sink.add('{"end":2}\n')
    assert sink.written() == 0
    assert [f.errno for f in failures] == [errno.ENOSPC]
    assert out.lost == 4


def test_with_gevent_a_record_is_in_the_file_before_its_user_runs_again(tmp_path: Path) -> None:
    # What keeps a SIGKILL's loss at the requests in flight: a user that recorded a request and
    # then waits (locust's wait_time: a sleep of 0 or more) wakes only after the write.
    path = tmp_path / "records.jsonl"
    out = LineFile(path)
    sink = RecordSink(out, gevent.get_hub().loop.run_callback)
    missing: list[str] = []

    def user(number: int) -> None:
        for request in range(40):
            line = f'{{"user":{number},"request":{request}}}\n'
            sink.add(line)
            gevent.sleep(0.0 if request % 2 else 0.001)
            if line not in path.read_text():
                missing.append(line)

    gevent.joinall([gevent.spawn(user, number) for number in range(4)], raise_error=True)
    assert missing == []
    assert out.count == 160
    # The users' records of one pass shared a write.
    assert sink.writes < out.count
