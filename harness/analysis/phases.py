"""Which stop (a deletion or a crash: deletions.py) a failure belongs to, and in which phase of it
(docs/summary-v1.md, "Phases")."""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Sequence

from harness.analysis.deletions import Deletion
from harness.analysis.endpoint_history import NoReadyIntervals

BEFORE_SIGTERM = "before_sigterm"
PROPAGATING = "propagating"
DRAINING = "draining"
AFTER_EXIT = "after_exit"
UNKNOWN = "unknown"
NO_READY_REPLICA = "no_ready_replica"
UNATTRIBUTED = "unattributed"

PHASES: tuple[str, ...] = (
    BEFORE_SIGTERM,
    PROPAGATING,
    DRAINING,
    AFTER_EXIT,
    UNKNOWN,
    NO_READY_REPLICA,
    UNATTRIBUTED,
)
# The phases a failure inside a deletion's window can have (per_deletion[].by_phase).
DELETION_PHASES: tuple[str, ...] = PHASES[:-1]
# What each phase means (docs/summary-v1.md, "Phases"), in the order a deletion goes through them,
# which is the order the report lists them in.
PHASE_MEANINGS: dict[str, str] = {
    NO_READY_REPLICA: "no endpoint at all was ready",
    BEFORE_SIGTERM: "between the delete and SIGTERM: the preStop hook was running",
    PROPAGATING: "after SIGTERM, while the Service still sent new connections to the pod",
    DRAINING: "after routing moved on, before exit: in-flight and keep-alive work was cut",
    AFTER_EXIT: "the process was gone while clients still reached it",
    UNKNOWN: (
        "inside a deletion window, but neither the app's lines nor the platform showed a moment "
        "that bounds the phase (SIGTERM, routing stopped or exit): not guessed"
    ),
    UNATTRIBUTED: "outside every deletion window: not caused by a deletion",
}


def phase_in(deletion: Deletion, t: float) -> str:
    """The phase of a failure at ``t`` inside ``deletion``'s window, endpoints being known ready.

    The first rule that holds wins, so overlapping table rows resolve in this order:
    the process being gone beats everything (it was gone whatever else was pending); before
    SIGTERM beats a removal that came first (with a preStop sleep, R < S is the normal case).
    A phase is only given when the moments on both sides of ``t`` were seen: where one that
    would decide it is missing (an app that writes no SIGTERM line, on a cluster that showed
    none either), the failure is ``unknown``, never put in a phase by assumption. A crash has
    no S (SIGKILL, no SIGTERM): its failures are ``after_exit`` from X on, ``unknown`` in the
    instant between the kill and the exit seen.
    """
    if deletion.gone is not None and t >= deletion.gone:
        return AFTER_EXIT
    if deletion.sigterm is None:
        return UNKNOWN
    if t < deletion.sigterm:
        return BEFORE_SIGTERM
    if deletion.removal is None:
        return UNKNOWN
    if t < deletion.removal:
        return PROPAGATING
    if deletion.gone is None:
        return UNKNOWN  # routing had moved on; whether the process was still there, unseen
    return DRAINING


class Attributor:
    """Answers "which stop, which phase" for a failure in O(log stops)."""

    def __init__(self, deletions: Sequence[Deletion], no_ready: NoReadyIntervals) -> None:
        self.deletions = list(deletions)
        self.no_ready = no_ready
        # A pod may stop more than once (a crash, then a delete): its stops' D in time order,
        # and their indexes, so its own stop at t is a bisect.
        self.by_pod: dict[str, tuple[list[float], list[int]]] = {}
        for i, d in sorted(enumerate(self.deletions), key=lambda item: item[1].requested):
            starts, owners = self.by_pod.setdefault(d.pod, ([], []))
            starts.append(d.requested)
            owners.append(i)
        self.segment_starts, self.segment_owner = _latest_covering(self.deletions)
        # Each deletion's SIGTERM and exit, in time order: the moments that cut a request.
        cuts = sorted(
            (moment, i)
            for i, d in enumerate(self.deletions)
            for moment in (d.sigterm, d.gone)
            if moment is not None
        )
        self.cut_moments = [moment for moment, _ in cuts]
        self.cut_owner = [i for _, i in cuts]

    def deletion_at(self, t: float, pod: str | None, start: float | None = None) -> int | None:
        """Index of the deletion a failure at ``t`` from ``pod`` (sent at ``start``) belongs
        to, or None."""
        if pod is not None:
            own = self._own(pod, t)
            if own is not None:
                return own
        if start is not None:
            cut = self._cut_by(start, t)
            if cut is not None:
                return cut
        i = bisect_right(self.segment_starts, t) - 1
        return self.segment_owner[i] if i >= 0 else None

    def _own(self, pod: str, t: float) -> int | None:
        """The stop of ``pod`` whose window holds ``t``, the latest such. The walk back from the
        latest D at or before t passes only that pod's own stops (a handful at most)."""
        found = self.by_pod.get(pod)
        if found is None:
            return None
        starts, owners = found
        i = bisect_right(starts, t) - 1
        while i >= 0:
            if t <= self.deletions[owners[i]].window_end:
                return owners[i]
            i -= 1
        return None

    def _cut_by(self, start: float, t: float) -> int | None:
        """The deletion whose SIGTERM or exit came while the request was in flight (the latest
        such moment), when its window holds ``t``: with deletions faster than a pod's shutdown
        their windows overlap, and the request was cut by that pod, not by the newest delete."""
        i = bisect_right(self.cut_moments, t) - 1
        while i >= 0 and self.cut_moments[i] >= start:
            d = self.deletions[self.cut_owner[i]]
            if d.requested <= t <= d.window_end:
                return self.cut_owner[i]
            i -= 1
        return None

    def attribute(
        self, t: float, pod: str | None, start: float | None = None
    ) -> tuple[str, int | None]:
        """(phase, deletion index or None) for a failure that ended at ``t`` (sent at
        ``start``, when known)."""
        owner = self.deletion_at(t, pod, start)
        if self.no_ready.holds(t):
            return NO_READY_REPLICA, owner
        if owner is None:
            return UNATTRIBUTED, None
        return phase_in(self.deletions[owner], t), owner


def _latest_covering(deletions: Sequence[Deletion]) -> tuple[list[float], list[int | None]]:
    """Splits time into segments that each have one answer to "the most recent deletion whose
    window holds t", so a lookup is one bisect instead of a scan over all deletions.

    Windows are closed [D, E]; using the next float after E as an exclusive end makes every
    segment half-open without changing which times are inside.
    """
    ends = [math.nextafter(d.window_end, math.inf) for d in deletions]
    bounds = sorted({d.requested for d in deletions} | {e for e in ends if e != math.inf})
    order = sorted(range(len(deletions)), key=lambda i: deletions[i].requested)
    heap: list[tuple[float, int, int]] = []  # (-D, -index, index): the latest delete on top
    starts: list[float] = []
    owners: list[int | None] = []
    next_in = 0
    for bound in bounds:
        while next_in < len(order) and deletions[order[next_in]].requested <= bound:
            i = order[next_in]
            heapq.heappush(heap, (-deletions[i].requested, -i, i))
            next_in += 1
        # Windows that ended stay in the heap until they reach the top; time only moves forward,
        # so once ended they are ended for every later segment too.
        while heap and ends[heap[0][2]] <= bound:
            heapq.heappop(heap)
        owner = heap[0][2] if heap else None
        if owners and owners[-1] == owner:
            continue
        starts.append(bound)
        owners.append(owner)
    return starts, owners
