"""The run journal: run.json at the start, the run lock, and a summary rebuilt from a killed
run's files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness import journal, runfolder
from harness.cli import main
from harness.errors import UsageError
from harness.journal import RunJournal
from harness.kubeversion import server_semantics
from harness.outputs import RECOVERED, recover
from harness.runlock import running, running_pid
from harness.scenario import Scenario
from harness.timeline import EventKind, TimelineEvent

T0 = 1_764_012_600.0


def _event(ts: float, kind: str, pod: str | None = None) -> TimelineEvent:
    return TimelineEvent(T0 + ts, kind, pod)


def test_the_window_is_the_load_events_or_else_the_span_observed() -> None:
    finished = [
        _event(0, EventKind.LOAD_STARTED),
        _event(3, EventKind.DELETE_REQUESTED, "p"),
        _event(9, EventKind.LOAD_STOPPED),
    ]
    assert journal.window_of(finished) == (T0, T0 + 9)
    cut = [
        _event(-2, "pod_ready", "p"),
        _event(0, EventKind.LOAD_STARTED),
        _event(4, EventKind.EXITED, "p"),
    ]
    assert journal.window_of(cut) == (T0, T0 + 4)
    before_load = [_event(1, "pod_ready", "p"), _event(2, "pod_ready", "q")]
    assert journal.window_of(before_load) == (T0 + 1, T0 + 2)


def _killed_run(
    tmp_path: Path, records: int, torn_tail: bool, orders: list[str] | None = None
) -> Path:
    """A folder as SIGKILL leaves it in the middle of its second order: no summary, no report.
    ``orders`` None: the scenario names none, as `make chaos` runs the sample app's four."""
    run_dir = tmp_path / "20261124-120000"
    run_dir.mkdir()
    scenario = Scenario(orders=orders)
    RunJournal.start(run_dir, scenario.to_dict(), "embedded", "test", 1)
    lines = []
    for i in range(records):
        failed = i % 10 == 0
        lines.append(
            json.dumps(
                {
                    "start": T0 + i * 0.01,
                    "end": T0 + i * 0.01 + 0.002,
                    "latency_ms": 2.0,
                    "name": "/",
                    "status": 0 if failed else 200,
                    "bytes": 0 if failed else 12,
                    "pod": None if failed else "naive-0",
                    "error": "connection_refused" if failed else None,
                    "message": None,
                },
                separators=(",", ":"),
            )
        )
    text = "\n".join(lines) + "\n" + ('{"start":1764012609.5,"end":17640' if torn_tail else "")
    (run_dir / runfolder.records_name("naive")).write_text(text)
    (run_dir / runfolder.timeline_name("naive")).write_text(
        "\n".join(
            json.dumps({"ts": e.ts, "kind": e.kind, "pod": e.pod, "detail": e.detail})
            for e in [
                _event(-1, "endpoint_added", "naive-0"),
                _event(0, EventKind.LOAD_STARTED),
                _event(0.5, EventKind.DELETE_REQUESTED, "naive-0"),
                _event(0.51, EventKind.SIGTERM_SENT, "naive-0"),
                _event(0.52, EventKind.EXITED, "naive-0"),
                _event(records * 0.01, EventKind.LOAD_STOPPED),
            ]
        )
        + "\n"
    )
    # The second order was cut right after its load started.
    (run_dir / runfolder.timeline_name("graceful")).write_text(
        json.dumps({"ts": T0 + 100, "kind": EventKind.LOAD_STARTED, "pod": None, "detail": {}})
        + "\n"
    )
    return run_dir


def test_a_killed_run_is_summarised_from_its_files(tmp_path: Path) -> None:
    run_dir = _killed_run(tmp_path, records=500, torn_tail=True, orders=["naive", "graceful"])
    report = recover(run_dir)
    assert report == run_dir / runfolder.REPORT and report.exists()
    summary = json.loads((run_dir / runfolder.SUMMARY).read_text())
    assert summary["partial"] is True
    assert summary["recovered"] == RECOVERED
    assert summary["backend"] == "embedded" and summary["seed"] == 1
    assert list(summary["orders"]) == ["naive", "graceful"]  # prestop never started
    naive = summary["orders"]["naive"]
    assert naive["requests"] == 500  # the torn last line is skipped, every whole one counted
    assert naive["failed"] == 50
    assert naive["deletions"] == 1
    assert summary["orders"]["graceful"]["requests"] == 0
    assert (run_dir / runfolder.pods_name("naive")).exists()
    assert (run_dir / runfolder.JUNIT).exists()


def test_a_killed_run_of_the_default_orders_finds_them_and_summarising_again_replaces_pods(
    tmp_path: Path,
) -> None:
    run_dir = _killed_run(tmp_path, records=50, torn_tail=False)
    recover(run_dir)
    summary = json.loads((run_dir / runfolder.SUMMARY).read_text())
    assert list(summary["orders"]) == ["naive", "graceful"]  # in the default orders' order
    pods = (run_dir / runfolder.pods_name("naive")).read_text()
    (run_dir / runfolder.SUMMARY).unlink()
    recover(run_dir)
    assert (run_dir / runfolder.pods_name("naive")).read_text() == pods  # not appended to


def test_report_recovers_once_then_regenerates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = _killed_run(tmp_path, records=50, torn_tail=False)
    assert main(["report", str(run_dir)]) == 0
    assert "rebuilt it from the run's files" in capsys.readouterr().out
    first = json.loads((run_dir / runfolder.SUMMARY).read_text())
    assert main(["report", str(run_dir)]) == 0  # summary.json exists now: a plain regeneration
    assert "rebuilt it" not in capsys.readouterr().out
    assert json.loads((run_dir / runfolder.SUMMARY).read_text()) == first


def test_a_folder_without_summary_or_journal_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("harness: error:") and "\n" not in err
    with pytest.raises(UsageError, match="not a run folder"):
        RunJournal.from_files(tmp_path)
    (tmp_path / runfolder.RUN_JOURNAL).write_text("{ not json")
    with pytest.raises(UsageError, match="cannot read"):
        RunJournal.from_files(tmp_path)


def test_a_cut_short_order_keeps_the_requests_after_its_last_event(tmp_path: Path) -> None:
    run_dir = _killed_run(tmp_path, records=20, torn_tail=False)
    # graceful was cut after load_started (T0 + 100); its requests went on until T0 + 107.
    (run_dir / runfolder.records_name("graceful")).write_text(
        "".join(
            json.dumps({"start": T0 + 100 + i, "end": T0 + 100.5 + i, "latency_ms": 500.0,
                        "name": "/", "status": 200, "bytes": 2, "pod": "g-0", "error": None,
                        "message": None}) + "\n"
            for i in range(7)
        )
        + '{"start": 1764012707.9, "end": 17640'  # torn by the kill
    )  # fmt: skip
    assert journal.last_record_end(run_dir / runfolder.records_name("graceful")) == T0 + 106.5
    recover(run_dir)
    summary = json.loads((run_dir / runfolder.SUMMARY).read_text())
    graceful = summary["orders"]["graceful"]
    assert graceful["requests"] == 7
    assert graceful["window"] == {"start": T0 + 100, "end": T0 + 106.5}


def test_a_run_in_progress_is_not_recovered_under_its_feet(tmp_path: Path) -> None:
    run_dir = _killed_run(tmp_path, records=10, torn_tail=False)
    with running(run_dir):
        assert running_pid(run_dir) == os.getpid()
        with pytest.raises(UsageError, match=f"still going \\(pid {os.getpid()}\\)"):
            recover(run_dir)
    assert running_pid(run_dir) is None
    assert not (run_dir / runfolder.SUMMARY).exists()


def test_the_mark_of_a_killed_run_does_not_keep_it_alive(tmp_path: Path) -> None:
    run_dir = _killed_run(tmp_path, records=10, torn_tail=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    assert running_pid(run_dir) == holder.pid
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    assert (run_dir / runfolder.RUN_LOCK).exists()  # nothing could remove it
    assert running_pid(run_dir) is None  # but the kernel released the lock
    recover(run_dir)
    assert not (run_dir / runfolder.RUN_LOCK).exists()


HOLD_LOCK = """
import sys, time
from pathlib import Path
from harness.runlock import running
with running(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_gating_a_killed_run_says_how_to_recover_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = _killed_run(tmp_path, records=10, torn_tail=False)
    assert main(["gate", str(run_dir), "--order", "naive"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"`harness report {run_dir}` rebuilds it" in err


def test_the_semantics_the_backend_states_reach_run_json_and_the_summary(tmp_path: Path) -> None:
    run_dir = _killed_run(tmp_path, records=50, torn_tail=False)
    killed = RunJournal.from_files(run_dir)
    killed.note_semantics(server_semantics("v1.28.3", 28))
    stated = json.loads((run_dir / runfolder.RUN_JOURNAL).read_text())["semantics"]
    assert stated["version"] == "v1.28.3" and stated["fallback"] is True
    recover(run_dir)
    summary = json.loads((run_dir / runfolder.SUMMARY).read_text())
    # The version implies the conditions; this run's endpoint events carried none.
    assert summary["semantics"] == {**stated, "conditions": True, "conditions_seen": False}


def test_a_run_without_stated_semantics_has_no_semantics_block(tmp_path: Path) -> None:
    run_dir = _killed_run(tmp_path, records=50, torn_tail=False)
    RunJournal.from_files(run_dir).note_semantics(None)
    recover(run_dir)
    assert "semantics" not in json.loads((run_dir / runfolder.SUMMARY).read_text())
