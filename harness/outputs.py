"""What a run leaves behind: summary.json, pods-<order>.jsonl, junit.xml and report.html.

All made from a ``RunJournal`` and the files beside it, at the end of a run or, for a run that
was killed, later by ``harness report`` (``recover``). The gate is evaluated once per summary:
its verdicts go into summary.json and junit.xml, and the report reads the stored verdict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import runfolder
from harness.analysis import analyse_order_file, summary_of_orders
from harness.analysis.matrix import matrix_block
from harness.analysis.proxygap import new_connection_per_request
from harness.analysis.semantics import conditions_seen, either_seen, semantics_block
from harness.durable import write_bytes_durably
from harness.errors import UsageError, WriteError
from harness.fixes.files import FixServer, run_fixes
from harness.gate import GateLimits, evaluate_run
from harness.journal import RunJournal, window_from_files
from harness.jsonl import dumps_line
from harness.load.clocks import join_records
from harness.load.pacing import load_of
from harness.matrix import cell_semantics
from harness.report.beforeafter import verify_block
from harness.report.html import write_report
from harness.report.junit import write_junit
from harness.runlock import running_pid
from harness.timeline import read_timeline

RECOVERED = (
    "the run ended without writing its summary (killed or crashed); "
    "rebuilt from its records and timelines by `harness report`"
)


def summarise(journal: RunJournal) -> dict[str, Any]:
    """Analyses each order from its files, writes pods-<order>.jsonl; the summary, also kept in
    the journal."""
    run_dir = journal.run_dir
    per_order: dict[str, Any] = {}
    traffic = journal.header.get("scenario", {}).get("traffic") or {}
    load, new_connections = load_of(traffic), new_connection_per_request(traffic)
    stated = journal.header.get("semantics")  # harness.kubeversion.RunSemantics.block
    stated = stated if isinstance(stated, dict) else None
    seen: bool | None = None
    by_profile = False  # a matrix of embedded profiles: each cell states its own semantics
    for entry in journal.orders:
        own = cell_semantics(entry.name)
        by_profile = by_profile or own is not None
        order_stated = own or stated
        fallback = order_stated is not None and order_stated.get("fallback") is True
        records_path = run_dir / runfolder.records_name(entry.name)
        timeline_path = run_dir / runfolder.timeline_name(entry.name)
        join_records(run_dir, entry.name)  # a run killed before it joined its workers' records
        if not records_path.exists():
            try:
                records_path.touch()  # an order cut before load started: zero requests
            except OSError as exc:
                raise WriteError(records_path, exc) from None
        timeline = read_timeline(timeline_path) if timeline_path.exists() else []
        window = entry.window or window_from_files(timeline, records_path)
        analysis = analyse_order_file(
            entry.name, records_path, timeline, window, load, new_connections, fallback=fallback
        )
        order_seen = conditions_seen(timeline)
        seen = either_seen(seen, order_seen)
        per_order[entry.name] = analysis.summary
        if own is not None:
            analysis.summary["semantics"] = semantics_block(own, order_seen)
        # Replaced whole, never appended to: `harness report` may summarise a run again.
        rows = "".join(dumps_line(row) for row in analysis.pods).encode()
        write_bytes_durably(run_dir / runfolder.pods_name(entry.name), rows)
    summary = summary_of_orders(per_order)
    if verified := verify_block(per_order):
        summary["verify"] = verified  # --verify-fix: each fix's run beside its variant's
    summary.update(journal.header)
    if matrix := matrix_block(per_order, journal.header.get("scenario") or {}):
        summary["matrix"] = matrix  # each variant per chaos action (and embedded profile)
    if by_profile:
        summary.pop("semantics", None)  # the header's is the backend's default profile
    elif stated is not None:
        summary["semantics"] = semantics_block(stated, seen)
    summary["partial"] = journal.partial or any(o.window is None for o in journal.orders)
    summary["finished"] = runfolder.iso_now()
    if journal.error is not None:
        summary["error"] = journal.error
    if journal.missing:
        summary["missing"] = journal.missing
    if journal.recovered:
        summary["recovered"] = RECOVERED
    journal.summary = summary
    return summary


def write_outputs(
    journal: RunJournal, limits: GateLimits | None, server: FixServer | None = None
) -> Path:
    """Evaluates the gate once (``limits`` None: every order against the defaults, for
    information), writes fix-<variant>.yaml for each variant that dropped requests (checked on
    ``server`` when a cluster is at hand), then summary.json with the gated verdict and the
    fixes, junit.xml and report.html; returns the report's path."""
    summary = journal.summary if journal.summary is not None else summarise(journal)
    run_fixes(journal.run_dir, summary, journal.header.get("scenario"), server)
    verdicts = evaluate_run(summary, limits)
    journal.gate = verdicts.gated_result
    if journal.gate is not None:
        summary["gate"] = journal.gate.to_dict()
    runfolder.write_json_atomic(journal.run_dir / runfolder.SUMMARY, summary)
    junit = journal.run_dir / runfolder.JUNIT
    try:
        write_junit(summary, verdicts, junit)
    except OSError as exc:
        raise WriteError(junit, exc) from None
    try:
        return write_report(journal.run_dir)
    except OSError as exc:
        raise WriteError(journal.run_dir / runfolder.REPORT, exc) from None


def recover(run_dir: Path) -> Path:
    """Summary, junit and report of a run that ended without them, from its folder alone."""
    pid = running_pid(run_dir)
    if pid is not None:
        raise UsageError(
            f"{run_dir}: the run is still going (pid {pid or '?'}); report it when it has ended"
        )
    (run_dir / runfolder.RUN_LOCK).unlink(missing_ok=True)  # left by a run that was killed
    journal = RunJournal.from_files(run_dir)
    return write_outputs(journal, None)
