"""The events worth a vertical line on the traffic chart, picked out of timeline-<order>.jsonl."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.analysis.deletions import SIGTERM_SOURCES
from harness.timeline import EventKind, TimelineEvent

# Drawing order and legend order: the sequence a deletion goes through.
MARKER_KINDS: tuple[str, ...] = (
    "delete",
    "SIGTERM",
    "endpoint removed",
    "exit",
    "kill",
    "replacement ready",
)

_DIRECT: dict[str, str] = {
    EventKind.DELETE_REQUESTED: "delete",
    EventKind.ENDPOINT_REMOVED: "endpoint removed",
    EventKind.EXITED: "exit",
    EventKind.KILLED: "kill",
}


@dataclass(frozen=True, slots=True)
class Marker:
    kind: str  # one of MARKER_KINDS
    t: float  # seconds from t0
    pod: str | None


def markers(events: Sequence[TimelineEvent], t0: float) -> list[Marker]:
    """Markers in time order. A pod's SIGTERM comes from the best source the analysis would
    take it from (deletions.SIGTERM_SOURCES): the backend's own event where there is one, else
    the app's log line (some backends only see the app's side), else the preStop hook's end,
    else the moment the kubelet's rules put it at."""
    sigterm_kind = _sigterm_kinds(events)
    first_delete = min((e.ts for e in events if e.kind == EventKind.DELETE_REQUESTED), default=None)
    out: list[Marker] = []
    for event in events:
        kind = _DIRECT.get(event.kind)
        if event.pod is not None and sigterm_kind.get(event.pod) == event.kind:
            kind = "SIGTERM"
        elif event.kind == EventKind.POD_READY and _is_replacement(event, first_delete):
            kind = "replacement ready"
        if kind is not None:
            out.append(Marker(kind, event.ts - t0, event.pod))
    return sorted(out, key=lambda m: m.t)


def _sigterm_kinds(events: Sequence[TimelineEvent]) -> dict[str, str]:
    """Pod → the kind of event its SIGTERM is marked from."""
    present: dict[str, set[str]] = {}
    for event in events:
        if event.pod is not None and event.kind in SIGTERM_SOURCES:
            present.setdefault(event.pod, set()).add(event.kind)
    return {
        pod: next(kind for kind in SIGTERM_SOURCES if kind in kinds)
        for pod, kinds in present.items()
    }


def _is_replacement(event: TimelineEvent, first_delete: float | None) -> bool:
    # The backend names the pod a replacement stands in for where it knows; otherwise any pod
    # that became ready after the first delete was brought up to replace one.
    if event.detail.get("replaces"):
        return True
    return first_delete is not None and event.ts > first_delete


# A terminating endpoint's state, where the endpoint events carry its conditions (KEP-1672).
ENDPOINT_STATE_LABELS: dict[bool, str] = {
    True: "terminating, serving",
    False: "terminating, not serving",
}


@dataclass(frozen=True, slots=True)
class EndpointState:
    pod: str
    t: float  # seconds from t0
    serving: bool


def endpoint_states(events: Sequence[TimelineEvent], t0: float) -> list[EndpointState]:
    """Each ``endpoint_removed`` of a terminating endpoint that says whether it still served:
    from 1.26 the proxy falls back to a serving one when no endpoint is ready (KEP-1669). None
    where the conditions are not published (before 1.22, core/v1 Endpoints)."""
    return [
        EndpointState(event.pod, event.ts - t0, serving)
        for event in events
        if event.kind == EventKind.ENDPOINT_REMOVED
        and event.pod is not None
        and event.detail.get("terminating") is True
        and isinstance(serving := event.detail.get("serving"), bool)
    ]
