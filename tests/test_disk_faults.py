"""Disk faults: a bad --out, a full disk mid-run, a refused write. Each ends as one line; what was
written stays readable, and the summary (or a later `harness report`) says what is missing.

A full disk is real here: a small tmpfs mounted for the test (root on Linux only; elsewhere these
tests skip, saying so), or a file that is /dev/full.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.embedded import processes_with

from harness import run
from harness.backends.base import Backend, DeploySpec, EventSink, PodInfo, Target
from harness.backends.select import Choice
from harness.backends.select import make_backend as real_make_backend
from harness.cli import EXIT_RUN, EXIT_USAGE, main
from harness.errors import WriteError
from harness.journal import RunJournal
from harness.jsonl import JsonlWriter, LineFile
from harness.logsetup import ROOT_LOGGER, run_log
from harness.records import read_rows
from harness.scenario import Scenario
from harness.timeline import read_timeline

NO_SPACE = os.strerror(errno.ENOSPC)
RUN_ARGS = ["--backend", "embedded", "--orders", "naive", "--duration", "6", "--deletions", "1"]


def _can_mount() -> str | None:
    if not sys.platform.startswith("linux"):
        return "a tmpfs of a chosen size needs Linux"
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    return None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a disk that fills up for real."""
    reason = _can_mount()
    if reason is not None:
        pytest.skip(reason)
    with _tmpfs(tmp_path / "disk", "size=256k") as mountpoint:
        yield mountpoint


@contextlib.contextmanager
def _tmpfs(mountpoint: Path, options: str) -> Iterator[Path]:
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def fill(disk: Path) -> Path:
    """Writes a file until the disk is full; returns it (delete it for room again)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


# -- a bad --out ----------------------------------------------------------------------------------


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nothing may be written in: a read-only tmpfs as root (root ignores modes), else
    a folder without write permission."""
    folder = tmp_path / "ro"
    if _can_mount() is None:
        with _tmpfs(folder, "ro,size=64k"):
            yield folder
        return
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def _nothing_may_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the run started although --out is unusable")

    monkeypatch.setattr(run, "make_backend", refuse)
    monkeypatch.setattr(run, "start_load", refuse)


@pytest.mark.usefixtures("restore_log_handlers")
@pytest.mark.parametrize(
    ("out", "why"),
    [
        ("/proc/drainlab-x", "cannot create a run folder there: No such file or directory"),
        ("/sys/drainlab-x", "cannot create a run folder there: Operation not permitted"),
        ("/dev/null/x", "not a folder (a file is in the way)"),
    ],
)
def test_a_bad_out_is_one_line_and_exit_2_before_anything_starts(
    out: str, why: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path("/proc/self").exists() or not Path("/sys/kernel").exists():
        pytest.skip("needs Linux's /proc and /sys")
    _nothing_may_start(monkeypatch)
    code = main(["run", *RUN_ARGS, "--out", out, "--quiet"])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE, captured.err
    assert captured.err.splitlines() == [f"harness: error: --out {out}: {why}"]


@pytest.mark.usefixtures("restore_log_handlers")
def test_a_file_where_the_out_folder_should_be_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _nothing_may_start(monkeypatch)
    (tmp_path / "reports").write_text("not a folder\n")
    for out in (tmp_path / "reports", tmp_path / "reports" / "below"):
        code = main(["run", *RUN_ARGS, "--out", str(out), "--quiet"])
        captured = capsys.readouterr()
        assert code == EXIT_USAGE, captured.err
        assert captured.err.splitlines() == [
            f"harness: error: --out {out}: not a folder (a file is in the way)"
        ]


@pytest.mark.usefixtures("restore_log_handlers")
def test_a_read_only_out_folder_is_one_line_and_exit_2(
    read_only_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _nothing_may_start(monkeypatch)
    out = read_only_folder / "reports"
    code = main(["run", *RUN_ARGS, "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE, captured.err
    (line,) = captured.err.splitlines()
    assert line.startswith(f"harness: error: --out {out}: cannot create a run folder there: ")
    assert line.endswith(("Read-only file system", "Permission denied"))


@pytest.mark.usefixtures("restore_log_handlers")
def test_an_out_folder_on_a_full_disk_is_one_line_and_exit_2_before_anything_starts(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _nothing_may_start(monkeypatch)
    fill(small_disk)
    code = main(["run", *RUN_ARGS, "--out", str(small_disk), "--quiet"])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE, captured.err
    assert captured.err.splitlines() == [
        f"harness: error: --out {small_disk}: cannot write in it: {NO_SPACE}"
    ]


# -- a refused write ------------------------------------------------------------------------------


def test_a_write_the_disk_refuses_raises_naming_the_file_and_later_ones_count_as_lost(
    tmp_path: Path,
) -> None:
    path = tmp_path / "timeline-naive.jsonl"
    path.symlink_to("/dev/full")
    writer = JsonlWriter(path)
    for _ in range(3):
        with pytest.raises(WriteError, match=f"^cannot write {path}: {NO_SPACE}$"):
            writer.write({"ts": 1.0})
    assert (writer.count, writer.lost) == (0, 3)
    writer.close()  # no fsync of a file that already failed: closing does not raise again


def test_a_line_file_with_a_failure_callback_reports_once_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "records-naive.jsonl"
    path.symlink_to("/dev/full")
    failures: list[WriteError] = []
    records = LineFile(path, failures.append)
    for _ in range(3):
        records.write_line('{"end":1}\n')
    assert [str(f) for f in failures] == [f"cannot write {path}: {NO_SPACE}"]
    assert failures[0].errno == errno.ENOSPC
    assert (records.count, records.lost) == (0, 3)
    records.close()


# -- a full disk mid-run --------------------------------------------------------------------------


class FillsTheDisk:
    """The real embedded backend, except that the disk fills up as it deploys, so its timeline
    events are refused (and, with ``room_at_teardown``, there is room again once the order is
    torn down). Filled before the first event: on tmpfs a file's last page takes appends until
    it is full, so a fault later on would come at a point that depends on line lengths."""

    def __init__(self, inner: Backend, disk: Path, room_at_teardown: bool) -> None:
        self._inner = inner
        self.name = inner.name
        self._disk = disk
        self._room_at_teardown = room_at_teardown
        self.filler: Path | None = None
        self.teardowns = 0

    async def deploy(self, spec: DeploySpec, emit: EventSink) -> Target:
        self.filler = fill(self._disk)
        return await self._inner.deploy(spec, emit)

    async def list_pods(self) -> list[PodInfo]:
        return await self._inner.list_pods()

    async def delete_pod(self, name: str, grace_period_s: float | None = None) -> None:
        await self._inner.delete_pod(name, grace_period_s)

    async def rolling_restart(self, max_surge: str = "25%", max_unavailable: str = "25%") -> None:
        await self._inner.rolling_restart(max_surge, max_unavailable)

    async def wait_settled(self, timeout_s: float) -> None:
        await self._inner.wait_settled(timeout_s)

    async def teardown(self) -> None:
        self.teardowns += 1
        await self._inner.teardown()
        if self._room_at_teardown and self.filler is not None:
            self.filler.unlink()


def _run_on(
    disk: Path,
    room_at_teardown: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[FillsTheDisk, Path, str]:
    """`harness run` on ``disk`` with the backend that fills it: the backend, the run folder and
    the one line on stderr, once it checked the run failed (exit 3) and every pod is gone."""
    made: list[FillsTheDisk] = []

    def make(choice: Choice, scenario: Scenario, run_dir: Path) -> FillsTheDisk:
        made.append(
            FillsTheDisk(real_make_backend(choice, scenario, run_dir), disk, room_at_teardown)
        )
        return made[0]

    def no_load(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("load started although timeline events were lost")

    monkeypatch.setattr(run, "make_backend", make)
    monkeypatch.setattr(run, "start_load", no_load)
    marker = uuid.uuid4().hex  # the pods inherit it: found in /proc if left behind
    monkeypatch.setenv("DRAINLAB_TEST_MARKER", marker)
    code = main(["run", *RUN_ARGS, "--out", str(disk), "--quiet"])
    assert processes_with(marker) == []  # torn down, fault or not
    assert made and made[0].teardowns == 1
    captured = capsys.readouterr()
    assert code == EXIT_RUN, captured.err
    (line,) = captured.err.splitlines()
    (run_dir,) = (p for p in disk.iterdir() if p.is_dir())
    return made[0], run_dir, line


@pytest.mark.usefixtures("restore_log_handlers")
def test_timeline_events_the_disk_refuses_end_the_run_with_one_line_and_are_reported_missing(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, run_dir, error = _run_on(small_disk, True, monkeypatch, capsys)
    timeline_path = run_dir / "timeline-naive.jsonl"
    assert error == f"harness: error: cannot write {timeline_path}: {NO_SPACE}"
    assert read_timeline(timeline_path) == []  # readable; nothing reached it, and that is said:
    summary = json.loads((run_dir / "summary.json").read_text())
    (missing,) = summary["missing"]
    assert missing.startswith("timeline-naive.jsonl: ")
    assert missing.endswith(f" events not written ({NO_SPACE})")
    assert summary["partial"] is True
    assert missing in (run_dir / "report.html").read_text()


@pytest.mark.usefixtures("restore_log_handlers")
def test_a_disk_that_stays_full_is_one_line_and_harness_report_rebuilds_once_there_is_room(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend, run_dir, error = _run_on(small_disk, False, monkeypatch, capsys)
    timeline_path = run_dir / "timeline-naive.jsonl"
    assert error == (
        f"harness: error: cannot write {timeline_path}: {NO_SPACE}; no summary or report: "
        f"`harness report {run_dir}` once there is room"
    )
    assert not (run_dir / "summary.json").exists()
    assert not list(run_dir.glob(".*.tmp"))  # no half-written temp file left taking room
    assert json.loads((run_dir / "run.json").read_text())["backend"] == "embedded"
    # The gate says in one line what is missing.
    assert main(["gate", str(run_dir)]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        f"harness: error: no summary: {run_dir} has no summary.json (the run ended without one: "
        f"`harness report {run_dir}` rebuilds it)"
    ]
    assert backend.filler is not None
    backend.filler.unlink()  # room again
    assert main(["report", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["recovered"]
    assert summary["missing"] == [f"timeline-naive.jsonl: {_lost_line(run_dir)}"]
    assert summary["missing"][0] in (run_dir / "report.html").read_text()


def _lost_line(run_dir: Path) -> str:
    line: str = json.loads((run_dir / "summary.json").read_text())["missing"][0]
    return line.split(": ", 1)[1]


@pytest.mark.slow
@pytest.mark.usefixtures("restore_log_handlers")
def test_records_the_disk_refuses_end_the_run_with_one_line_and_stay_readable_up_to_the_fault(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real run whose records outgrow the disk: locust stops, the order is torn down, the one
    line names the records file; the records up to the fault load with the readers."""
    marker = uuid.uuid4().hex
    monkeypatch.setenv("DRAINLAB_TEST_MARKER", marker)
    code = main(
        ["run", "--backend", "embedded", "--orders", "naive,graceful", "--duration", "20",
         "--deletions", "1", "--out", str(small_disk), "--quiet"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == EXIT_RUN, captured.out + captured.err
    (run_dir,) = (p for p in small_disk.iterdir() if p.is_dir())
    (line,) = captured.err.splitlines()
    # Which file meets the full disk first depends on how lines fall on pages: records, mostly.
    assert re.match(
        rf"harness: error: cannot write {re.escape(str(run_dir))}/(records|timeline)-\w+\.jsonl: "
        rf"{NO_SPACE}; no summary or report: ",
        line,
    ), line
    left = processes_with(marker)
    assert left == [], [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in left]
    for records in run_dir.glob("records-*.jsonl"):
        assert list(read_rows(records))  # every record up to the fault
    for timeline in run_dir.glob("timeline-*.jsonl"):
        assert read_timeline(timeline)
    # Room again: `harness report` rebuilds the summary, and it says what is missing.
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
    assert main(["report", str(run_dir)]) == 0
    (missing,) = json.loads((run_dir / "summary.json").read_text())["missing"]
    assert missing.split(":")[0] in line


def test_a_run_log_the_disk_refuses_is_one_warning_not_a_traceback_per_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "harness.log").symlink_to("/dev/full")
    seen: list[str] = []
    catcher = logging.Handler(logging.INFO)
    catcher.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger(ROOT_LOGGER)
    logger.addHandler(catcher)
    try:
        with run_log(logs):
            for n in range(3):
                logging.getLogger(f"{ROOT_LOGGER}.test").warning("retry %d", n)
    finally:
        logger.removeHandler(catcher)
    assert capsys.readouterr().err == ""  # no "--- Logging error ---" tracebacks
    assert seen == [
        "retry 0",
        f"cannot write {logs / 'harness.log'}: {NO_SPACE}; the harness log goes on on the "
        "terminal only",
        "retry 1",
        "retry 2",
    ]


# -- fsync where the docs promise durability ------------------------------------------------------


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths fsynced from here on, in order (files and folders)."""
    paths: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("names descriptors through Linux's /proc/self/fd")
    monkeypatch.setattr(os, "fsync", recording)
    return paths


def test_a_finished_jsonl_file_is_fsynced_once_with_its_folder_not_per_line(
    tmp_path: Path, fsynced: list[str]
) -> None:
    path = tmp_path / "timeline-naive.jsonl"
    with JsonlWriter(path) as writer:
        for n in range(1000):
            writer.write({"n": n})
        assert fsynced == []  # none per line: appends are flushed (write(2)), not synced
    assert fsynced == [str(path), str(tmp_path)]


def test_run_json_and_summary_json_are_fsynced_with_their_folder(
    tmp_path: Path, fsynced: list[str]
) -> None:
    RunJournal.start(tmp_path, Scenario().to_dict(), "embedded", "test", 1).close()
    # The temp file is synced before it is renamed over run.json, then the folder naming it.
    assert fsynced == [str(tmp_path / ".run.json.tmp"), str(tmp_path)]
    assert not (tmp_path / ".missing").exists()  # nothing went missing: no notes file left
