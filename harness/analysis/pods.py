"""Per-pod lifecycle rows (pods-<order>.jsonl) and the durations and findings users act on.

A row holds, for one pod, the moment of each step of its life as observed (unix seconds), or
None when that step was not observed: nothing is filled in by assumption. Each moment is the
pod's first event of that kind, except ``endpoint_removed`` and ``removal_applied``: the first
at or after the delete call, else (not deleted, or no removal after it) the last one seen.
``last_served`` is the end of the last successful response the pod sent (from the records).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from harness.analysis.deletions import Deletion, ms_between
from harness.analysis.index import TimelineIndex
from harness.analysis.pipeline import analyse_rows
from harness.analysis.scan import rows_of
from harness.records import RequestRecord
from harness.timeline import EventKind, TimelineEvent

# Row key -> the event kind whose first occurrence it is.
FIRST_OF: dict[str, str] = {
    "created": EventKind.POD_CREATED,
    "scheduled": EventKind.POD_SCHEDULED,
    "network_ready": EventKind.POD_NETWORK_READY,
    "container_started": EventKind.POD_CONTAINER_STARTED,
    "ready": EventKind.POD_READY,
    "endpoint_added": EventKind.ENDPOINT_ADDED,
    "delete_requested": EventKind.DELETE_REQUESTED,
    "prestop_started": EventKind.PRESTOP_STARTED,
    "prestop_ended": EventKind.PRESTOP_ENDED,
    "sigterm": EventKind.SIGTERM_SENT,
    "readiness_failed": EventKind.APP_READINESS_FAILED,
    "listener_closed": EventKind.APP_LISTENER_CLOSED,
    "drained": EventKind.APP_DRAINED,
    "exit": EventKind.APP_EXIT,
    "exited": EventKind.EXITED,
    "killed": EventKind.KILLED,
}
# The keys of a row that hold a moment (unix seconds), as opposed to the pod, counts and details.
MOMENT_KEYS: tuple[str, ...] = (*FIRST_OF, "endpoint_removed", "removal_applied", "last_served")
# Key order of a row, as written to pods-<order>.jsonl.
ROW_KEYS: tuple[str, ...] = (
    "pod",
    "order",
    "created",
    "scheduled",
    "network_ready",
    "container_started",
    "ready",
    "endpoint_added",
    "delete_requested",
    "endpoint_removed",
    "removal_applied",
    "prestop_started",
    "prestop_ended",
    "sigterm",
    "readiness_failed",
    "listener_closed",
    "drained",
    "exit",
    "exited",
    "killed",
    "last_served",
    "exit_code",
    "replaces",
    "grace_period_s",
    "failed",
    "failed_after_listener_closed",
)


def pod_lifecycles(
    timeline: Iterable[TimelineEvent],
    records: Iterable[RequestRecord],
    order: str,
    window: tuple[float, float] | None = None,
) -> list[dict[str, Any]]:
    """The rows of pods-<order>.jsonl, one pass over ``records``. Give the run's ``window`` so
    that the deletions whose pod was never seen leaving close at its end (see deletions.py), as
    they do in the summary; without it they stay open, which only changes the ``failed`` counts.
    ``summary.analyse_order`` gives the same rows along with the summary in the same pass."""
    index, deletions, scan = analyse_rows(
        rows_of(records), timeline, None if window is None else window[1]
    )
    return lifecycle_rows(
        index, order, scan.last_served, deletions, scan.per_deletion, scan.after_listener_closed
    )


def lifecycle_rows(
    index: TimelineIndex,
    order: str,
    last_served: Mapping[str, float],
    deletions: Sequence[Deletion],
    failed: Sequence[Mapping[str, int]],
    failed_after_closed: Sequence[int],
) -> list[dict[str, Any]]:
    """One row per pod of the timeline, in the order pods first appear in it.

    ``failed`` and ``failed_after_closed`` are per deletion (same order as ``deletions``): the
    failures attributed to it, and those of them that ended at/after its app_listener_closed.
    """
    deletion_of = {d.pod: i for i, d in enumerate(deletions)}
    rows: list[dict[str, Any]] = []
    for pod in index.pods:
        row: dict[str, Any] = dict.fromkeys(ROW_KEYS)
        row["pod"] = pod
        row["order"] = order
        for key, kind in FIRST_OF.items():
            row[key] = index.first(pod, kind)
        deleted = row["delete_requested"]
        for key, kind in (
            ("endpoint_removed", EventKind.ENDPOINT_REMOVED),
            ("removal_applied", EventKind.REMOVAL_APPLIED),
        ):
            after = None if deleted is None else index.first_at_or_after(pod, kind, deleted)
            row[key] = after if after is not None else index.last(pod, kind)
        row["last_served"] = last_served.get(pod)
        row["exit_code"] = _detail(index, pod, EventKind.EXITED, "code", int)
        row["replaces"] = _detail(index, pod, EventKind.POD_READY, "replaces", str)
        row["grace_period_s"] = _detail(
            index, pod, EventKind.DELETE_REQUESTED, "grace_period_s", float
        )
        i = deletion_of.get(pod)
        row["failed"] = 0 if i is None else sum(failed[i].values())
        row["failed_after_listener_closed"] = 0 if i is None else failed_after_closed[i]
        rows.append(row)
    return rows


def routing_stopped(removal_applied: float | None, endpoint_removed: float | None) -> float | None:
    """When new connections stopped reaching a pod (docs/summary-v1.md: propagation): the proxy's
    removal where it is seen (the embedded backend), else the controller's."""
    return removal_applied if removal_applied is not None else endpoint_removed


def _detail(index: TimelineIndex, pod: str, kind: str, key: str, cast: type[Any]) -> Any:
    detail = index.first_detail.get((pod, kind))
    value = None if detail is None else detail.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        return cast(value)
    except (TypeError, ValueError):
        return None


def _gone(row: Mapping[str, Any]) -> float | None:
    moments = [t for t in (row["exited"], row["killed"]) if t is not None]
    return min(moments) if moments else None


def _after_delete(row: Mapping[str, Any], key: str) -> float | None:
    # A moment before the delete call (an endpoint removed because readiness failed earlier, a
    # pod that served nothing after it) is not a delete → X duration.
    deleted, moment = row["delete_requested"], row[key]
    if deleted is None or moment is None or moment < deleted:
        return None
    return ms_between(deleted, moment)


# Duration name -> how to get it (ms or None) from a row.
DURATIONS: dict[str, Callable[[Mapping[str, Any]], float | None]] = {
    "create_to_ready": lambda r: _between(r["created"], r["ready"]),
    "ready_to_endpoint_added": lambda r: _between(r["ready"], r["endpoint_added"]),
    "delete_to_endpoint_removed": lambda r: _after_delete(r, "endpoint_removed"),
    "delete_to_sigterm": lambda r: _between(r["delete_requested"], r["sigterm"]),
    "sigterm_to_exit": lambda r: _between(r["sigterm"], _gone(r)),
    "delete_to_last_served": lambda r: _after_delete(r, "last_served"),
}


def _between(start: float | None, end: float | None) -> float | None:
    return None if start is None else ms_between(start, end)


def lifecycle_report(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Durations (median and max, in ms, None without samples) and findings, for one order."""
    durations: dict[str, dict[str, Any]] = {}
    for name, measure in DURATIONS.items():
        values = [v for v in (measure(r) for r in rows) if v is not None]
        durations[name] = {
            "median": statistics.median(values) if values else None,
            "max": max(values) if values else None,
            "samples": len(values),
        }
    findings = [f for row in rows for f in _findings(row)]
    findings += _killed_at_grace(rows)
    return {"durations_ms": durations, "findings": findings}


def _killed_at_grace(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One finding for the order when deleted pods were killed at the end of their grace
    period: the app did not exit on SIGTERM. Whether requests failed or not, every such stop
    held a replica (and a rollout) for the whole grace period, which is worth saying even when
    the verdict is "no drops"."""
    deleted = [r for r in rows if r["delete_requested"] is not None]
    killed = [r for r in deleted if r["killed"] is not None]
    if not killed:
        return []
    took = [r["killed"] - r["delete_requested"] for r in killed]
    graces = sorted({float(r["grace_period_s"]) for r in killed if r["grace_period_s"] is not None})
    if not graces:
        period = "the full grace period"
    elif len(graces) == 1:
        period = f"the full grace period of {graces[0]:g} s"
    else:
        period = f"the full grace period ({graces[0]:g} to {graces[-1]:g} s)"
    failed = sum(int(r["failed"] or 0) for r in killed)
    outcome = (
        "no request failed, but "
        if failed == 0
        else f"{failed} request(s) failed during those stops, and "
    )
    stops = "each stop" if len(killed) == len(deleted) else "each of those stops"
    text = (
        f"{len(killed)} of {len(deleted)} deleted pods did not exit on SIGTERM and were killed "
        f"(SIGKILL) at the end of their grace period: {outcome}{stops} took {period} "
        f"({min(took):.1f} to {max(took):.1f} s from the delete call to the kill)"
    )
    return [{"pod": None, "kind": "killed_at_grace", "text": text}]


def _findings(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    pod = row["pod"]
    deleted = row["delete_requested"]
    found: list[dict[str, Any]] = []

    def add(kind: str, text: str) -> None:
        found.append({"pod": pod, "kind": kind, "text": text})

    if row["killed"] is not None:
        after = "" if deleted is None else f" {row['killed'] - deleted:.1f} s after its delete call"
        grace = row["grace_period_s"]
        within = "its grace period" if grace is None else f"its grace period of {grace:g} s"
        add(
            "killed",
            f"{pod} was killed (SIGKILL){after}: it did not exit within {within}",
        )
    elif deleted is not None and row["exited"] is None:
        add("no_exit", f"{pod} was deleted but no exit was observed before the run ended")
    code = row["exit_code"]
    if code not in (None, 0):
        add("exit_code", f"{pod} exited with code {code}, not 0")
    closed = row["listener_closed"]
    routed_until = routing_stopped(row["removal_applied"], row["endpoint_removed"])
    if closed is not None and routed_until is not None and closed < routed_until:
        add(
            "closed_before_removal",
            f"{pod} stopped listening {(routed_until - closed) * 1000:.0f} ms before the Service "
            "stopped sending it new connections",
        )
    late = row["failed_after_listener_closed"]
    if late:
        add(
            "failed_after_listener_closed",
            f"{late} request(s) failed at {pod} after it stopped listening: they were still "
            "routed to it",
        )
    return found
