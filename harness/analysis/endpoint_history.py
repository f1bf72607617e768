"""The Service's endpoint set over time: when no pod was a ready endpoint, and when a pod left it.

Two views exist. The controller's (``endpoint_added`` / ``endpoint_removed``, every backend) says
which pods the Service *should* route to; the proxy's (``addition_applied`` / ``removal_applied``;
on Kubernetes only removals, one per node and method: dataplane.py) says when routing actually
changed.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

from harness.timeline import EventKind, TimelineEvent

CONTROLLER = (EventKind.ENDPOINT_ADDED, EventKind.ENDPOINT_REMOVED)
PROXY = (EventKind.ADDITION_APPLIED, EventKind.REMOVAL_APPLIED)


class NoReadyIntervals:
    """Half-open intervals [start, end) during which the controller had no ready endpoint at all.

    A pod counts as a ready endpoint from its ``endpoint_added`` until its ``endpoint_removed``.
    Before the first controller endpoint event nothing is known, so no interval starts earlier:
    a backend that emits no endpoint events never produces ``no_ready_replica``. A pod whose first
    endpoint event is a removal was an endpoint before the events began (its addition predates
    what was recorded), so it counts from the start rather than making the set look empty.
    """

    def __init__(self, events: Sequence[TimelineEvent]) -> None:
        added = CONTROLLER[0]
        changes = [(e.ts, e.kind == added, e.pod) for e in events if e.kind in CONTROLLER and e.pod]
        members: set[str] = set()
        first_seen: set[str] = set()
        for _, is_addition, pod in changes:
            if pod not in first_seen:
                first_seen.add(pod)
                if not is_addition:
                    members.add(pod)
        starts: list[float] = []
        ends: list[float] = []
        empty_since: float | None = None
        for ts, is_addition, pod in changes:
            if is_addition:
                members.add(pod)
            else:
                members.discard(pod)
            if not members and empty_since is None:
                empty_since = ts
            elif members and empty_since is not None:
                if ts > empty_since:  # a removal and an addition at one instant leave no gap
                    starts.append(empty_since)
                    ends.append(ts)
                empty_since = None
        if empty_since is not None:
            starts.append(empty_since)
            ends.append(math.inf)
        self.starts = starts
        self.ends = ends

    def holds(self, t: float) -> bool:
        i = bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.ends[i]


def removal_in_effect(
    pod_events: Sequence[TimelineEvent], at: float, view: tuple[str, str]
) -> float | None:
    """When a pod stopped being routed to, in one view (CONTROLLER or PROXY), for its deletion at
    ``at``. ``pod_events`` are that pod's events in timeline order. If its last event of the view
    at or before ``at`` is a removal (it had already left, e.g. it failed readiness earlier), that
    removal's time; otherwise the first removal after ``at``; None when no removal is observed.
    """
    removed = view[1]
    state: str | None = None
    state_ts = 0.0
    for event in pod_events:
        if event.kind not in view:
            continue
        if event.ts <= at:
            state, state_ts = event.kind, event.ts
        elif state == removed:
            break
        elif event.kind == removed:
            return event.ts
    return state_ts if state == removed else None
