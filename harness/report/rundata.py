"""Reads what the report needs of one order from the run folder: the only module here doing I/O
on the raw files. A missing file is not an error (a partial run may not have written it): the
order's section then says what is missing instead of failing the whole report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import runfolder
from harness.jsonl import iter_jsonl
from harness.report.formats import as_float
from harness.report.lifecycle import PodRow, ts
from harness.report.traffic import TrafficScan, scan_file
from harness.timeline import TimelineEvent, read_timeline

FILE_KINDS: tuple[str, ...] = ("records", "timeline", "pods")
_DEFAULT_NAMES = {
    "records": runfolder.records_name,
    "timeline": runfolder.timeline_name,
    "pods": runfolder.pods_name,
}


@dataclass(frozen=True, slots=True)
class OrderData:
    name: str
    t0: float  # the time axis origin: the order's window start
    files: dict[str, Path]  # kind -> path, whether or not it exists
    scan: TrafficScan
    events: list[TimelineEvent]
    pods: Sequence[PodRow]
    missing: list[str] = field(default_factory=list)  # kinds whose file is absent


def file_name(order: str, kind: str, entry: Mapping[str, Any]) -> str:
    """The file the summary names, if it is a plain name inside the run folder; else the default.

    Never a path elsewhere: the report links these files and must stay inside its own folder.
    """
    files = entry.get("files")
    named = files.get(kind) if isinstance(files, dict) else None
    if isinstance(named, str) and named and Path(named).name == named and named not in (".", ".."):
        return named
    return _DEFAULT_NAMES[kind](order)


def load_order(run_dir: Path, order: str, entry: Mapping[str, Any]) -> OrderData:
    files = {kind: run_dir / file_name(order, kind, entry) for kind in FILE_KINDS}
    missing = [kind for kind, path in files.items() if not path.is_file()]
    scan = scan_file(files["records"]) if "records" not in missing else TrafficScan()
    events = read_timeline(files["timeline"]) if "timeline" not in missing else []
    pods = list(iter_jsonl(files["pods"])) if "pods" not in missing else []
    return OrderData(order, origin(entry, events, pods, scan), files, scan, events, pods, missing)


def origin(
    entry: Mapping[str, Any], events: list[TimelineEvent], pods: Sequence[PodRow], scan: TrafficScan
) -> float:
    """The window start the summary gives, else the earliest thing the files show."""
    window = entry.get("window")
    start = as_float(window.get("start")) if isinstance(window, dict) else None
    if start is not None:
        return start
    candidates = [e.ts for e in events]
    candidates += [v for r in pods if (v := ts(r, "delete_requested")) is not None]
    if len(scan.ok_ends):
        candidates.append(min(scan.ok_ends))
    return min(candidates, default=0.0)
