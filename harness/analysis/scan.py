"""The one pass over the records: counts, failure attribution and the latency samples.

Records arrive as ``Row`` tuples (end, latency_ms, pod, error) so that a list of RequestRecord
and a JSONL file streamed line by line (``harness.records.read_rows``) share this loop; nothing
but the successful requests' latencies (8 bytes each) and a few counters is kept.

It also counts the evidence a verdict rests on: how many requests, and how many failures, ended
inside a deletion's window ``[D, E]`` (the windows the phases are attributed in), since only
those say anything about how the app shuts down.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from harness.analysis.causes import FailureCauses
from harness.analysis.deletions import Deletion
from harness.analysis.phases import DELETION_PHASES, NO_READY_REPLICA, PHASES, Attributor
from harness.classify import ERROR_CLASSES
from harness.records import RequestRecord, Row

# Successful requests ending this long before a delete call count as "around" it: a request
# that was in flight when the delete happened is the one that would be slowed down.
AROUND_LEAD_S = 1.0


@dataclass(slots=True)
class RecordScan:
    requests: int
    failed: int
    by_class: dict[str, int]  # every ERROR_CLASSES key; an unknown class is counted as "other"
    by_phase: dict[str, int]  # every PHASES key
    per_deletion: list[dict[str, int]]  # per deletion (same order): DELETION_PHASES -> count
    after_listener_closed: list[int]  # per deletion: its failures at/after app_listener_closed
    latencies: array[float]  # latency_ms of every successful request
    around: array[float]  # latency_ms of the successful requests around a deletion
    last_served: dict[str, float]  # pod -> end of the last successful response it sent
    # pod -> start (end - latency) of the last successful request it served: with a new
    # connection per request, a moment at which the Service still routed to the pod
    last_started: dict[str, float]
    causes: FailureCauses  # per deletion: what cut its failures (analysis/causes.py)
    no_ready_ends: array[float]  # when each no_ready_replica failure ended (analysis/semantics)
    requests_in_windows: int = 0  # requests whose end lies in some deletion's window [D, E]
    failures_in_windows: int = 0  # of them, the failed ones


def rows_of(records: Iterable[RequestRecord]) -> Iterator[Row]:
    for r in records:
        yield r.end, r.latency_ms, r.pod, r.error


def around_intervals(deletions: Sequence[Deletion]) -> tuple[list[float], list[float]]:
    """The union of [D - 1 s, E] over all deletions, as sorted disjoint closed intervals."""
    return _union(deletions, AROUND_LEAD_S)


def window_intervals(deletions: Sequence[Deletion]) -> tuple[list[float], list[float]]:
    """The union of the deletion windows [D, E], as sorted disjoint closed intervals: the times
    ``Attributor.deletion_at`` gives an owner for."""
    return _union(deletions, 0.0)


def _union(deletions: Sequence[Deletion], lead_s: float) -> tuple[list[float], list[float]]:
    spans = sorted((d.requested - lead_s, d.window_end) for d in deletions)
    starts: list[float] = []
    ends: list[float] = []
    for start, end in spans:
        if end < start:
            continue
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def scan_records(rows: Iterable[Row], attributor: Attributor) -> RecordScan:
    deletions = attributor.deletions
    by_class = dict.fromkeys(ERROR_CLASSES, 0)
    by_phase = dict.fromkeys(PHASES, 0)
    per_deletion = [dict.fromkeys(DELETION_PHASES, 0) for _ in deletions]
    after_closed = [0] * len(deletions)
    causes = FailureCauses(deletions)
    closed_at = [d.listener_closed for d in deletions]
    latencies: array[float] = array("d")
    around: array[float] = array("d")
    no_ready_ends: array[float] = array("d")
    last_served: dict[str, float] = {}
    last_started: dict[str, float] = {}
    a_starts, a_ends = around_intervals(deletions)
    w_starts, w_ends = window_intervals(deletions)
    in_windows = failures_in_windows = 0
    # Local names: this loop runs once per record, millions of times.
    add_latency = latencies.append
    add_around = around.append
    last_get = last_served.get
    started_get = last_started.get
    attribute = attributor.attribute
    failed = 0
    no_last = -math.inf
    for end, latency_ms, pod, error in rows:
        if error is None:
            add_latency(latency_ms)
            if a_starts:
                i = bisect_right(a_starts, end) - 1
                if i >= 0 and end <= a_ends[i]:
                    add_around(latency_ms)
                    # The windows lie inside the "around" spans: only a request there can be in one.
                    j = bisect_right(w_starts, end) - 1
                    if j >= 0 and end <= w_ends[j]:
                        in_windows += 1
            if pod is not None:
                if end > last_get(pod, no_last):
                    last_served[pod] = end
                start = end - latency_ms / 1000.0
                if start > started_get(pod, no_last):
                    last_started[pod] = start
            continue
        failed += 1
        if error in by_class:
            by_class[error] += 1
        else:
            by_class["other"] += 1
        phase, owner = attribute(end, pod, end - latency_ms / 1000.0)
        by_phase[phase] += 1
        if phase == NO_READY_REPLICA:
            no_ready_ends.append(end)
        if owner is not None:  # an owner exactly when the failure lies in a window
            failures_in_windows += 1
            per_deletion[owner][phase] += 1
            closed = closed_at[owner]
            if closed is not None and end >= closed:
                after_closed[owner] += 1
            causes.add(owner, phase, end, latency_ms, error)
    return RecordScan(
        requests=len(latencies) + failed,
        failed=failed,
        by_class=by_class,
        by_phase=by_phase,
        per_deletion=per_deletion,
        after_listener_closed=after_closed,
        latencies=latencies,
        around=around,
        last_served=last_served,
        last_started=last_started,
        causes=causes,
        no_ready_ends=no_ready_ends,
        requests_in_windows=in_windows + failures_in_windows,
        failures_in_windows=failures_in_windows,
    )
