"""The run journal: one record of a run, filled as it goes, from which everything else is made.

The experiment is data (the scenario); a run fills one ``RunJournal`` (Chaos Toolkit's journal is
the model): the header written to ``run.json`` before anything is deployed, one ``OrderEntry`` per
order as it starts and its load window once load stopped, whether the run was cut short or
failed, and at the end the summary and the gate's verdict (``harness.outputs`` fills those).
Records and timelines are flushed line by line beside it, so a run that was killed can be
journalled again from its folder alone (``RunJournal.from_files``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import runfolder
from harness.analysis.summary import Window
from harness.appspec import CURRENT
from harness.durable import ReservedNotes
from harness.errors import UsageError, WriteError
from harness.fixes.model import fixed_variant_name
from harness.kubeversion import RunSemantics
from harness.matrix import orders_of
from harness.orders import DEFAULT_ORDERS
from harness.records import read_last_end
from harness.timeline import EventKind, TimelineEvent

if TYPE_CHECKING:
    from harness.gate import GateResult


def recorded_variants(scenario: dict[str, Any]) -> list[str]:
    """The variants a run's scenario (as run.json keeps it) may have run: its variants, else its
    orders, else every name a run without either deploys (the sample app's orders, or
    ``current``); the caller keeps those with files."""
    variants = scenario.get("variants")
    if isinstance(variants, dict) and variants:
        return [str(v) for v in variants]
    orders = scenario.get("orders")
    if isinstance(orders, list) and orders:
        return [str(o) for o in orders]
    return [*DEFAULT_ORDERS, CURRENT]


@dataclass
class OrderEntry:
    name: str
    window: Window | None = None  # load started → stopped; None while it runs, or if cut short


@dataclass
class RunJournal:
    """Everything known about one run."""

    run_dir: Path
    header: dict[str, Any]  # run.json: scenario, backend, seed, versions, start time
    orders: list[OrderEntry] = field(default_factory=list)
    partial: bool = False  # interrupted, failed or killed: the numbers may stop short
    error: str | None = None  # why the run failed, when it did
    recovered: bool = False  # rebuilt by `harness report` from the files of a killed run
    summary: dict[str, Any] | None = None  # summary.json, once summarised
    gate: GateResult | None = None  # the gated order's verdict, evaluated once
    missing: list[str] = field(default_factory=list)  # what could not be written: summary.missing
    notes: ReservedNotes | None = None  # the on-disk copy of ``missing`` while the run goes on

    @classmethod
    def start(
        cls, run_dir: Path, scenario: dict[str, Any], backend: str, why: str, seed: int
    ) -> RunJournal:
        """A new journal; its header is on disk (run.json) when this returns."""
        header = {
            "schema_version": runfolder.SCHEMA_VERSION,
            "backend": backend,
            "backend_detail": {"why": why},
            "scenario": scenario,
            "started": runfolder.iso_now(),
            "seed": seed,
            "versions": runfolder.versions(),
        }
        runfolder.write_json_atomic(run_dir / runfolder.RUN_JOURNAL, header)
        try:
            notes = ReservedNotes(run_dir / runfolder.MISSING_NOTES)
        except OSError as exc:
            raise WriteError(run_dir / runfolder.MISSING_NOTES, exc) from None
        return cls(run_dir, header, notes=notes)

    @classmethod
    def from_files(cls, run_dir: Path) -> RunJournal:
        """The journal of a run that ended without its summary: run.json, and each planned order
        that left a records or timeline file (its window is read from them)."""
        path = run_dir / runfolder.RUN_JOURNAL
        try:
            header = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(
                f"{run_dir}: neither {runfolder.SUMMARY} nor {runfolder.RUN_JOURNAL}: "
                "not a run folder"
            ) from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UsageError(f"cannot read {path}: {exc}") from None
        if not isinstance(header, dict) or not isinstance(header.get("scenario"), dict):
            raise UsageError(f"{path}: not a run journal (no scenario)")
        planned = orders_of(header["scenario"], recorded_variants(header["scenario"]))
        # A variant's fix (--verify-fix, harness.verify) ran after every planned variant.
        planned += [fixed_variant_name(name) for name in planned]
        orders = [
            OrderEntry(name)
            for name in planned
            if (run_dir / runfolder.records_name(name)).exists()
            or (run_dir / runfolder.timeline_name(name)).exists()
        ]
        missing = ReservedNotes.read(run_dir / runfolder.MISSING_NOTES)
        return cls(run_dir, header, orders, partial=True, recovered=True, missing=missing)

    def note_missing(self, what: str) -> None:
        """Records that data never reached the disk: ``what`` is one line, ``file: what and why``.
        The first line on a file is the one that counts. Kept in the reserved notes file too, so a
        later ``harness report`` can say it although the disk was full."""
        name = what.split(":", 1)[0]
        if any(line.split(":", 1)[0] == name for line in self.missing):
            return
        self.missing.append(what)
        if self.notes is not None:
            self.notes.add(what)

    def note_semantics(self, stated: RunSemantics | None) -> None:
        """The endpoint semantics the backend states (the kube backend knows the server's
        version once it deployed): into the header and run.json, so a killed run keeps them.
        A disk that refuses them loses the run nothing: ``missing`` says so."""
        if stated is None or self.header.get("semantics") == stated.block():
            return
        self.header["semantics"] = stated.block()
        try:
            runfolder.write_json_atomic(self.run_dir / runfolder.RUN_JOURNAL, self.header)
        except WriteError as exc:
            self.note_missing(f"{runfolder.RUN_JOURNAL}: semantics not written ({exc.reason})")

    def close(self) -> None:
        """The run is over: the notes file is closed (and removed if the run lost nothing)."""
        if self.notes is not None:
            self.notes.close()
            self.notes = None

    def order_started(self, name: str) -> OrderEntry:
        entry = OrderEntry(name)
        self.orders.append(entry)
        return entry


def window_of(timeline: list[TimelineEvent]) -> Window:
    """An order's load window from its timeline: load_started to load_stopped, and where either
    is missing (an interrupted order) the span of what was observed."""
    stamps = [e.ts for e in timeline]
    if not stamps:
        raise ValueError("an empty timeline has no window")
    started = [e.ts for e in timeline if e.kind == EventKind.LOAD_STARTED]
    stopped = [e.ts for e in timeline if e.kind == EventKind.LOAD_STOPPED]
    return (started[0] if started else min(stamps), stopped[-1] if stopped else max(stamps))


def window_from_files(timeline: list[TimelineEvent], records_path: Path) -> Window:
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


def last_record_end(path: Path) -> float | None:
    """The ``end`` of the records file's last whole record (read from its tail)."""
    return read_last_end(path)
