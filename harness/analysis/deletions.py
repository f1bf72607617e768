"""Deletions: each pod's delete call and the observed moments that bound its phases.

A deletion is the first ``delete_requested`` event of a pod. A later delete of the same pod (a
rolling restart reaching a pod that chaos already deleted) does not start a second shutdown, so it
is not a second deletion. Pod names are assumed not to be reused within one order's run, which
holds for the generated names of a Deployment's pods.

Every moment is an event of the timeline or None; nothing is estimated here. Each deletion keeps
``basis``: for each moment, the kind of event it was taken from, so that every phase can say
whether it rests on the app's own lines or on what the platform showed. What a missing moment does
to the phases is decided in ``phases.py``; what it does to the window is decided here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.analysis.dataplane import ProxyMoment, data_plane_moment, proxy_moments
from harness.analysis.endpoint_history import CONTROLLER, PROXY, removal_in_effect
from harness.analysis.index import TimelineIndex
from harness.timeline import EventKind

# How long after the pod is gone from routing and from the process table a failure may still be
# blamed on its deletion: clients see a refused or reset connection a little after the fact.
WINDOW_TAIL_S = 2.0
# Where S comes from, best first: the kubelet's own act (embedded: exact; kube: its Killing
# Event), the app's line that it got the signal, the preStop hook's end (the kubelet sends SIGTERM
# right after it; on Kubernetes only a failed hook's end is seen: a hook whose command does not
# exist in the image fails at once), then the time the kubelet's rules put it at.
SIGTERM_SOURCES: tuple[str, ...] = (
    EventKind.SIGTERM_SENT,
    EventKind.APP_SIGTERM,
    EventKind.PRESTOP_ENDED,
    EventKind.SIGTERM_DUE,
)


@dataclass(frozen=True, slots=True)
class Deletion:
    pod: str
    requested: float  # D: the delete call
    grace_period_s: float | None  # from the delete_requested detail, when given
    sigterm: float | None  # S: the first event at/after D of the best of SIGTERM_SOURCES
    removal: float | None  # R: when routing to the pod stopped (proxy view, else controller view)
    endpoint_removed: float | None  # first endpoint_removed at/after D (controller)
    removal_applied: float | None  # the data plane's moment at/after D (``data_plane.ts``)
    gone: float | None  # X: the earlier of the first exited and the first killed at/after D
    listener_closed: float | None  # first app_listener_closed at/after D
    window_end: float  # E: the window is [D, E], both ends included
    window_open: bool  # True when R or X was not observed, so E is the end of the run
    # moment ("delete", "sigterm", "removal", "exit") -> the kind of the event it was taken
    # from, None when not observed
    basis: dict[str, str | None] = field(default_factory=dict)
    # Every removal_applied at/after D, one per (node, method), and the one that is the data
    # plane's moment: each node by its most direct method, then the last node (dataplane.py).
    proxy_moments: tuple[ProxyMoment, ...] = ()
    data_plane: ProxyMoment | None = None

    @property
    def propagation_ms(self) -> float | None:
        """Delete call → new connections stop reaching the pod, as far as it was observed."""
        moment = self.removal_applied if self.removal_applied is not None else self.endpoint_removed
        return ms_between(self.requested, moment)

    @property
    def propagation_to(self) -> str | None:
        if self.removal_applied is not None:
            return EventKind.REMOVAL_APPLIED
        if self.endpoint_removed is not None:
            return EventKind.ENDPOINT_REMOVED
        return None


def ms_between(start: float, end: float | None) -> float | None:
    # Rounded to the microsecond: float unix seconds carry no more than that, and it keeps
    # 0.1 s from printing as 100.00000000000001 ms.
    return None if end is None else round((end - start) * 1000.0, 3)


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def find_deletions(index: TimelineIndex, run_end: float | None) -> list[Deletion]:
    """Every pod's deletion, by delete time. ``run_end`` closes windows whose pod was never seen
    leaving routing or exiting (the run ended first); without it such windows never close.
    """
    open_end = math.inf if run_end is None else run_end
    found: list[Deletion] = []
    for pod in index.pods:
        requested = index.first(pod, EventKind.DELETE_REQUESTED)
        if requested is None:
            continue
        sigterm, sigterm_from = _first_of(index, pod, SIGTERM_SOURCES, requested)
        own = index.by_pod[pod]
        moments = proxy_moments(own, requested)
        applied = data_plane_moment(moments)
        removal, removal_from = _proxy_removal(index, pod, requested), EventKind.REMOVAL_APPLIED
        if removal is not None and removal >= requested and applied is not None:
            removal = applied.ts  # routing stopped when the last node stopped routing
        if removal is None:
            removal = removal_in_effect(own, requested, CONTROLLER)
            removal_from = EventKind.ENDPOINT_REMOVED
        exited = index.first_at_or_after(pod, EventKind.EXITED, requested)
        killed = index.first_at_or_after(pod, EventKind.KILLED, requested)
        gone = min((t for t in (exited, killed) if t is not None), default=None)
        gone_from = EventKind.KILLED if gone is not None and gone == killed else EventKind.EXITED
        if removal is not None and gone is not None:
            window_end, window_open = max(removal, gone) + WINDOW_TAIL_S, False
        else:
            window_end, window_open = open_end, True
        grace = index.first_detail[(pod, EventKind.DELETE_REQUESTED)].get("grace_period_s")
        found.append(
            Deletion(
                pod=pod,
                requested=requested,
                grace_period_s=_seconds(grace),
                sigterm=sigterm,
                removal=removal,
                endpoint_removed=index.first_at_or_after(
                    pod, EventKind.ENDPOINT_REMOVED, requested
                ),
                removal_applied=None if applied is None else applied.ts,
                gone=gone,
                listener_closed=index.first_at_or_after(
                    pod, EventKind.APP_LISTENER_CLOSED, requested
                ),
                window_end=window_end,
                window_open=window_open,
                basis={
                    "delete": EventKind.DELETE_REQUESTED.value,
                    "sigterm": None if sigterm_from is None else str(sigterm_from),
                    "removal": None if removal is None else removal_from.value,
                    "exit": None if gone is None else gone_from.value,
                },
                proxy_moments=tuple(moments),
                data_plane=applied,
            )
        )
    found.sort(key=lambda d: d.requested)
    return found


def _proxy_removal(index: TimelineIndex, pod: str, requested: float) -> float | None:
    """R in the proxy's view. Kubernetes' observers see removals only (no ``addition_applied``),
    so there a removal before the delete call (a readiness failure) may have been undone by an
    addition they cannot see: only the removals after it count, and a pod that had left before
    it is left to the controller's view, which sees both."""
    if index.first(pod, EventKind.ADDITION_APPLIED) is None:
        return index.first_at_or_after(pod, EventKind.REMOVAL_APPLIED, requested)
    return removal_in_effect(index.by_pod[pod], requested, PROXY)


def _first_of(
    index: TimelineIndex, pod: str, kinds: tuple[str, ...], t: float
) -> tuple[float | None, str | None]:
    """The first event at or after ``t`` of the first kind in ``kinds`` that has one, and that
    kind."""
    for kind in kinds:
        found = index.first_at_or_after(pod, kind, t)
        if found is not None:
            return found, kind
    return None, None
