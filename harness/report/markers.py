"""The events worth a vertical line on the traffic chart, picked out of timeline-<order>.jsonl."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    EventKind.SIGTERM_SENT: "SIGTERM",
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
    """Markers in time order. A pod's SIGTERM comes from the backend's own event where there is
    one, else from the app's log line (some backends only see the app's side), else from the
    moment the kubelet's rules put it at (``sigterm_due``): the analysis' order (deletions.py)."""
    sent_by_backend = {e.pod for e in events if e.kind == EventKind.SIGTERM_SENT}
    seen_otherwise = sent_by_backend | {e.pod for e in events if e.kind == EventKind.APP_SIGTERM}
    first_delete = min((e.ts for e in events if e.kind == EventKind.DELETE_REQUESTED), default=None)
    out: list[Marker] = []
    for event in events:
        kind = _DIRECT.get(event.kind)
        if (event.kind == EventKind.APP_SIGTERM and event.pod not in sent_by_backend) or (
            event.kind == EventKind.SIGTERM_DUE and event.pod not in seen_otherwise
        ):
            kind = "SIGTERM"
        elif event.kind == EventKind.POD_READY and _is_replacement(event, first_delete):
            kind = "replacement ready"
        if kind is not None:
            out.append(Marker(kind, event.ts - t0, event.pod))
    return sorted(out, key=lambda m: m.t)


def _is_replacement(event: TimelineEvent, first_delete: float | None) -> bool:
    # The backend names the pod a replacement stands in for where it knows; otherwise any pod
    # that became ready after the first delete was brought up to replace one.
    if event.detail.get("replaces"):
        return True
    return first_delete is not None and event.ts > first_delete
