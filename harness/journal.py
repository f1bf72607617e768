"""The run folder as a journal: what a run writes when it starts, and the summary made from the
folder's files alone, at the end of a run or after a run that was killed.

``run.json`` is written before anything is deployed: the scenario, the backend and the versions.
Records and timelines are flushed line by line while the run goes. So whatever ends the process
(SIGKILL, a crash, the machine going down), ``recover`` can still turn the folder into a summary
and a report: the same analysis as at the end of a run, marked partial and recovered.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import runfolder
from harness.analysis import analyse_order_file, summary_of_orders
from harness.errors import UsageError
from harness.gate import GateLimits, GateResult, evaluate
from harness.jsonl import JsonlWriter
from harness.records import read_last_end
from harness.report.html import write_report
from harness.report.junit import write_junit
from harness.timeline import EventKind, TimelineEvent, read_timeline

Window = tuple[float, float]
RECOVERED = (
    "the run ended without writing its summary (killed or crashed); "
    "rebuilt from its records and timelines by `harness report`"
)


def run_header(
    scenario: dict[str, Any], backend: str, why: str, seed: int, started: str
) -> dict[str, Any]:
    """What is known of a run before it starts; every summary.json carries these keys."""
    return {
        "schema_version": runfolder.SCHEMA_VERSION,
        "backend": backend,
        "backend_detail": {"why": why},
        "scenario": scenario,
        "started": started,
        "seed": seed,
        "versions": runfolder.versions(),
    }


def write_header(run_dir: Path, header: dict[str, Any]) -> None:
    runfolder.write_json_atomic(run_dir / runfolder.RUN_JOURNAL, header)


def read_header(run_dir: Path) -> dict[str, Any]:
    path = run_dir / runfolder.RUN_JOURNAL
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{run_dir}: neither {runfolder.SUMMARY} nor {runfolder.RUN_JOURNAL}: not a run folder"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("scenario"), dict):
        raise UsageError(f"{path}: not a run journal (no scenario)")
    return data


@contextlib.contextmanager
def running(run_dir: Path) -> Iterator[None]:
    """Marks the run folder as in use while the run goes on. The mark is a lock the kernel drops
    when the process ends, however it ends, so a killed run never looks alive."""
    path = run_dir / runfolder.RUN_LOCK
    with path.open("w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def running_pid(run_dir: Path) -> int | None:
    """The process of a run still going on in ``run_dir`` (0 if it cannot tell which); None when
    no run holds the folder."""
    try:
        handle = (run_dir / runfolder.RUN_LOCK).open("r", encoding="utf-8")
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else 0
    return None


@dataclass(frozen=True, slots=True)
class OrderWindow:
    order: str
    window: Window | None  # when load ran; None: the run could not close it (read from the files)


def window_of(timeline: list[TimelineEvent]) -> Window:
    """An order's load window from its timeline: load_started to load_stopped, and where either
    is missing (an interrupted order) the span of what was observed."""
    stamps = [e.ts for e in timeline]
    if not stamps:
        raise ValueError("an empty timeline has no window")
    started = [e.ts for e in timeline if e.kind == EventKind.LOAD_STARTED]
    stopped = [e.ts for e in timeline if e.kind == EventKind.LOAD_STOPPED]
    return (started[0] if started else min(stamps), stopped[-1] if stopped else max(stamps))


def summarise(
    run_dir: Path, header: dict[str, Any], orders: list[OrderWindow], partial: bool
) -> dict[str, Any]:
    """Analyses each order from its files, writes pods-<order>.jsonl and returns the summary."""
    per_order: dict[str, Any] = {}
    for entry in orders:
        records_path = run_dir / runfolder.records_name(entry.order)
        timeline_path = run_dir / runfolder.timeline_name(entry.order)
        if not records_path.exists():
            records_path.touch()  # an order cut before load started: zero requests
        timeline = read_timeline(timeline_path) if timeline_path.exists() else []
        window = entry.window or _window_from_files(timeline, records_path)
        analysis = analyse_order_file(entry.order, records_path, timeline, window)
        per_order[entry.order] = analysis.summary
        with JsonlWriter(run_dir / runfolder.pods_name(entry.order)) as pods:
            for row in analysis.pods:
                pods.write(row)
    summary = summary_of_orders(per_order)
    summary.update(header)
    summary["partial"] = partial or any(o.window is None for o in orders)
    summary["finished"] = runfolder.iso_now()
    return summary


def _window_from_files(timeline: list[TimelineEvent], records_path: Path) -> Window:
    """The window of an order the run could not close itself. If its timeline has both load
    events it finished: exactly those. If it was cut short: from its timeline, and on to its last
    record (requests may have gone on after the last event; their failures must stay attributable).
    """
    if {EventKind.LOAD_STARTED, EventKind.LOAD_STOPPED} <= {e.kind for e in timeline}:
        return window_of(timeline)
    last = last_record_end(records_path)
    if not timeline:
        now = time.time()
        return (now, now) if last is None else (last, last)
    start, end = window_of(timeline)
    return (start, end if last is None else max(end, last))


def last_record_end(path: Path, tail_bytes: int = 65536) -> float | None:
    """The ``end`` of the file's last whole record, reading only its tail."""
    return read_last_end(path, tail_bytes)


def write_outputs(
    run_dir: Path, summary: dict[str, Any], gate_limits: GateLimits | None
) -> tuple[Path, GateResult | None]:
    """summary.json (with the gate's verdict), junit.xml and report.html; returns the report."""
    gate = evaluate(summary, gate_limits) if gate_limits is not None else None
    if gate is not None:
        summary["gate"] = gate.to_dict()
    runfolder.write_json_atomic(run_dir / runfolder.SUMMARY, summary)
    write_junit(summary, gate_limits, run_dir / runfolder.JUNIT)
    return write_report(run_dir), gate


def recover(run_dir: Path) -> Path:
    """Summary, junit and report of a run that ended without them, from run.json and its files."""
    pid = running_pid(run_dir)
    if pid is not None:
        raise UsageError(
            f"{run_dir}: the run is still going (pid {pid or '?'}); report it when it has ended"
        )
    (run_dir / runfolder.RUN_LOCK).unlink(missing_ok=True)  # left by a run that was killed
    header = read_header(run_dir)
    planned = [str(o) for o in header["scenario"].get("orders") or []]
    ran = [
        OrderWindow(order, None)
        for order in planned
        if (run_dir / runfolder.records_name(order)).exists()
        or (run_dir / runfolder.timeline_name(order)).exists()
    ]
    summary = summarise(run_dir, header, ran, partial=True)
    summary["recovered"] = RECOVERED
    report, _ = write_outputs(run_dir, summary, None)
    return report
