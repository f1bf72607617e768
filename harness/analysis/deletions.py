"""Stops: each time a pod was stopped (deleted or crashed), and the observed moments that bound
its phases.

A stop begins with the pod's first ``delete_requested`` (a deletion, ``stopped_by`` the action
that deleted it: delete, evict, drain, scale_down, rollout) or with a ``pod_crashed`` before it (a
crash: SIGKILL from outside, no preStop, no SIGTERM; the kubelet restarts the container, so one
pod may crash again and later be deleted). A later delete of a deleted pod (a rolling restart
reaching a pod that chaos already deleted) does not start a second shutdown, so it is not a second
stop, nor is a crash after the delete call. Pod names are assumed not to be reused within one
order's run, which holds for the generated names of a Deployment's pods. The name ``Deletion``
stays for every stop: summary.json lists them all in ``per_deletion``.

Every moment is an event of the timeline or None; nothing is estimated here. A stop's moments are
taken before the pod's next stop, so that one stop never borrows another's. Each stop keeps
``basis``: for each moment, the kind of event it was taken from, so that every phase can say
whether it rests on the app's own lines or on what the platform showed. What a missing moment does
to the phases is decided in ``phases.py``; what it does to the window is decided here.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.analysis.dataplane import ProxyMoment, data_plane_moment, proxy_moments
from harness.analysis.endpoint_history import CONTROLLER, PROXY, removal_in_effect
from harness.analysis.index import TimelineIndex
from harness.timeline import EventKind, TimelineEvent

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
# What stopped a pod (``Deletion.stopped_by``): the delete_requested detail's ``stopped_by``, or a
# crash. A delete_requested without it (a timeline from before it was written) reads as "delete".
DELETE = "delete"
CRASH = "crash"
STOP_ACTIONS: tuple[str, ...] = (DELETE, "evict", "drain", "scale_down", "rollout", CRASH)


@dataclass(frozen=True, slots=True)
class Deletion:
    """One stop of a pod: a deletion, or a crash (``stopped_by`` "crash"; module docstring)."""

    pod: str
    requested: float  # D: the delete call, or the crash's SIGKILL
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
    stopped_by: str = DELETE  # one of STOP_ACTIONS (or a newer backend's word)

    @property
    def crashed(self) -> bool:
        return self.stopped_by == CRASH

    @property
    def propagation_ms(self) -> float | None:
        """Delete call → new connections stop reaching the pod, as far as it was observed. None
        for a crash: its endpoint leaves when readiness fails, which is no delete's propagation."""
        if self.crashed:
            return None
        moment = self.removal_applied if self.removal_applied is not None else self.endpoint_removed
        return ms_between(self.requested, moment)

    @property
    def propagation_to(self) -> str | None:
        if self.crashed:
            return None
        if self.removal_applied is not None:
            return EventKind.REMOVAL_APPLIED
        if self.endpoint_removed is not None:
            return EventKind.ENDPOINT_REMOVED
        return None


def deleted(stops: Sequence[Deletion]) -> list[Deletion]:
    """The stops that began with a delete call: the ones with a SIGTERM and a propagation."""
    return [d for d in stops if not d.crashed]


def ms_between(start: float, end: float | None) -> float | None:
    # Rounded to the microsecond: float unix seconds carry no more than that, and it keeps
    # 0.1 s from printing as 100.00000000000001 ms.
    return None if end is None else round((end - start) * 1000.0, 3)


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class _Start:
    at: float  # D
    stopped_by: str
    kind: str  # the event D was taken from


def _starts(index: TimelineIndex, pod: str) -> list[_Start]:
    """The pod's stops, by D: each crash before its first delete call, then that call."""
    requested = index.first(pod, EventKind.DELETE_REQUESTED)
    found = [
        _Start(t, CRASH, EventKind.POD_CRASHED)
        for t in index.times.get((pod, EventKind.POD_CRASHED), ())
        if requested is None or t < requested
    ]
    if requested is not None:
        by = index.first_detail[(pod, EventKind.DELETE_REQUESTED)].get("stopped_by")
        found.append(
            _Start(
                requested, by if isinstance(by, str) and by else DELETE, EventKind.DELETE_REQUESTED
            )
        )
    return found


def find_deletions(index: TimelineIndex, run_end: float | None) -> list[Deletion]:
    """Every pod's stops, by D. ``run_end`` closes windows whose pod was never seen leaving
    routing or exiting (the run ended first); without it such windows never close. Such a window
    of a pod that was stopped again later closes at that next stop's D instead.
    """
    open_end = math.inf if run_end is None else run_end
    found: list[Deletion] = []
    for pod in index.pods:
        starts = _starts(index, pod)
        for i, start in enumerate(starts):
            until = starts[i + 1].at if i + 1 < len(starts) else math.inf
            found.append(_stop(index, pod, start, until, min(open_end, until)))
    found.sort(key=lambda d: d.requested)
    return found


def _stop(index: TimelineIndex, pod: str, start: _Start, until: float, open_end: float) -> Deletion:
    """One stop of ``pod`` from its moments in [D, ``until``)."""
    requested = start.at
    own = index.by_pod[pod]
    own = own[: bisect_left(own, until, key=lambda e: e.ts)]

    def first(kind: str) -> float | None:
        t = index.first_at_or_after(pod, kind, requested)
        return t if t is not None and t < until else None

    crashed = start.stopped_by == CRASH
    sigterm, sigterm_from = (None, None) if crashed else _first_of(first, SIGTERM_SOURCES)
    moments = proxy_moments(own, requested)
    applied = data_plane_moment(moments)
    removal = _proxy_removal(index, pod, own, requested, first)
    removal_from = EventKind.REMOVAL_APPLIED
    if removal is not None and removal >= requested and applied is not None:
        removal = applied.ts  # routing stopped when the last node stopped routing
    if removal is None:
        removal = removal_in_effect(own, requested, CONTROLLER)
        removal_from = EventKind.ENDPOINT_REMOVED
    gone, gone_from = _gone(first, requested if crashed else None)
    if removal is not None and gone is not None:
        window_end, window_open = max(removal, gone) + WINDOW_TAIL_S, False
    else:
        window_end, window_open = open_end, True
    grace = None if crashed else index.first_detail[(pod, start.kind)].get("grace_period_s")
    return Deletion(
        pod=pod,
        requested=requested,
        grace_period_s=_seconds(grace),
        sigterm=sigterm,
        removal=removal,
        endpoint_removed=first(EventKind.ENDPOINT_REMOVED),
        removal_applied=None if applied is None else applied.ts,
        gone=gone,
        listener_closed=first(EventKind.APP_LISTENER_CLOSED),
        window_end=window_end,
        window_open=window_open,
        basis={
            "delete": start.kind,
            "sigterm": None if sigterm_from is None else str(sigterm_from),
            "removal": None if removal is None else removal_from.value,
            "exit": None if gone is None else gone_from.value,
        },
        proxy_moments=tuple(moments),
        data_plane=applied,
        stopped_by=start.stopped_by,
    )


def _gone(
    first: Callable[[str], float | None], crash: float | None
) -> tuple[float | None, EventKind]:
    """X and the kind it was taken from. A crash is SIGKILL, which no process can catch or
    delay: it is gone at the kill itself, whenever the kubelet then sees the container end."""
    if crash is not None:
        return crash, EventKind.POD_CRASHED
    exited, killed = first(EventKind.EXITED), first(EventKind.KILLED)
    gone = min((t for t in (exited, killed) if t is not None), default=None)
    return gone, EventKind.KILLED if gone is not None and gone == killed else EventKind.EXITED


def _proxy_removal(
    index: TimelineIndex,
    pod: str,
    own: Sequence[TimelineEvent],
    requested: float,
    first: Callable[[str], float | None],
) -> float | None:
    """R in the proxy's view. Kubernetes' observers see removals only (no ``addition_applied``),
    so there a removal before D (a readiness failure) may have been undone by an addition they
    cannot see: only the removals after it count, and a pod that had left before it is left to
    the controller's view, which sees both."""
    if index.first(pod, EventKind.ADDITION_APPLIED) is None:
        return first(EventKind.REMOVAL_APPLIED)
    return removal_in_effect(own, requested, PROXY)


def _first_of(
    first: Callable[[str], float | None], kinds: tuple[str, ...]
) -> tuple[float | None, str | None]:
    """The moment of the first kind in ``kinds`` that ``first`` finds one of, and that kind."""
    for kind in kinds:
        found = first(kind)
        if found is not None:
            return found, kind
    return None, None
