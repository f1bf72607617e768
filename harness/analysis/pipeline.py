"""Timeline → deletions → attribution → the one pass over records; shared by every entry point."""

from __future__ import annotations

from collections.abc import Iterable

from harness.analysis.deletions import Deletion, find_deletions
from harness.analysis.endpoint_history import NoReadyIntervals
from harness.analysis.index import TimelineIndex, index_timeline
from harness.analysis.phases import Attributor
from harness.analysis.scan import RecordScan, scan_records
from harness.records import Row
from harness.timeline import TimelineEvent


def analyse_rows(
    rows: Iterable[Row], timeline: Iterable[TimelineEvent], run_end: float | None
) -> tuple[TimelineIndex, list[Deletion], RecordScan]:
    index = index_timeline(timeline)
    deletions = find_deletions(index, run_end)
    scan = scan_records(rows, Attributor(deletions, NoReadyIntervals(index.events)))
    return index, deletions, scan
