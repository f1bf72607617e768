"""Per-pod lifecycle rows (pods-<order>.jsonl) and the durations and findings users act on.

A row holds, for one pod, the moment of each step of its life as observed (unix seconds), or
None when that step was not observed: nothing is filled in by assumption. Each moment is the
pod's first event of that kind, except ``endpoint_removed`` and ``removal_applied``: the first
at or after the delete call, else (not deleted, or no removal after it) the last one seen; a
deleted pod's ``removal_applied`` is its deletion's data plane moment (the last node's).
``last_served`` is the end of the last successful response the pod sent (from the records).
After the moments come the counts: the failures attributed to the pod's deletion, and what cut
each of them (``causes.py``); the findings state those counts, so that none of them is left out.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from harness.analysis.causes import CAUSE_KEYS, UNEXPLAINED_KEY
from harness.analysis.deletions import DELETE, Deletion, ms_between
from harness.analysis.index import TimelineIndex
from harness.analysis.phases import PHASE_MEANINGS
from harness.analysis.pipeline import analyse_rows
from harness.analysis.scan import RecordScan, rows_of
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
    "stopped_by",
    "failed",
    "failed_after_listener_closed",
    *CAUSE_KEYS,
    UNEXPLAINED_KEY,
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
    return lifecycle_rows(index, order, deletions, scan)


def lifecycle_rows(
    index: TimelineIndex, order: str, deletions: Sequence[Deletion], scan: RecordScan
) -> list[dict[str, Any]]:
    """One row per pod of the timeline, in the order pods first appear in it.

    From ``scan``, per stop (same order as ``deletions``): the failures attributed to it, those
    of them that ended at/after its app_listener_closed, and what cut them (causes.py); a pod
    stopped more than once (a crash, then a delete) adds its stops up.
    """
    failed, failed_after_closed = scan.per_deletion, scan.after_listener_closed
    stops_of: dict[str, list[int]] = {}
    for i, d in enumerate(deletions):
        stops_of.setdefault(d.pod, []).append(i)
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
        stops = [deletions[i] for i in stops_of.get(pod, ())]
        if stops and not stops[-1].crashed and stops[-1].removal_applied is not None:
            row["removal_applied"] = stops[-1].removal_applied  # the last node's (dataplane.py)
        row["last_served"] = scan.last_served.get(pod)
        row["exit_code"] = _detail(index, pod, EventKind.EXITED, "code", int)
        row["replaces"] = _detail(index, pod, EventKind.POD_READY, "replaces", str)
        row["grace_period_s"] = _detail(
            index, pod, EventKind.DELETE_REQUESTED, "grace_period_s", float
        )
        row["stopped_by"] = [d.stopped_by for d in stops] or None
        owners = stops_of.get(pod, [])
        row["failed"] = sum(sum(failed[i].values()) for i in owners)
        row["failed_after_listener_closed"] = sum(failed_after_closed[i] for i in owners)
        row.update(scan.causes.row_counts(owners))
        rows.append(row)
    return rows


def stops_of(row: Mapping[str, Any]) -> list[str]:
    """What stopped the row's pod, each stop in time order (its ``stopped_by``); a row written
    before that key was: "delete" when the pod was deleted."""
    value = row.get("stopped_by")
    if isinstance(value, list):
        return [str(v) for v in value]
    return [DELETE] if row.get("delete_requested") is not None else []


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
    findings += cause_findings(rows)
    return {"durations_ms": durations, "findings": findings}


# Finding kind -> (the row's count, what those failures were). Each is said with its count and
# the pods behind it, so a finding never says less than the failure counts beside it.
CAUSE_FINDINGS: dict[str, tuple[str, str]] = {
    "cut_in_flight": (
        "cut_in_flight",
        "{were} cut in flight: accepted before the pod got SIGTERM or exited, then closed with "
        "no answer (connection reset or remote disconnected)",
    ),
    "sent_while_not_listening": (
        "sent_not_listening",
        "{were} sent to a pod after it had stopped listening (closed its listener, or exited) "
        "while the Service still routed new connections to it (refused, reset or disconnected)",
    ),
    "cut_keepalive": (
        "cut_keepalive",
        "failed on kept-alive connections after the Service had stopped routing to the pod: "
        "connections opened before, which the pod closed (or lost as it exited) while its "
        "clients still reused them (connection reset or remote disconnected)",
    ),
}


def cause_findings(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One finding per cause of failure (causes.py) that the deleted pods' rows count, and one
    per phase for the failures no cause explains. Rows without these counts (a pods file from
    before they were added) give none: the report accounts for their failures instead."""
    deleted = [r for r in rows if stops_of(r)]
    found = []
    for kind, (key, what) in CAUSE_FINDINGS.items():
        per_pod = [(str(r["pod"]), n) for r in deleted if (n := _count(r.get(key)))]
        if per_pod:
            total = sum(n for _, n in per_pod)
            were = "was" if total == 1 else "were"
            text = f"{_requests(total)} {what.format(were=were)}. Per pod: {_per_pod(per_pod)}"
            found.append({"pod": None, "kind": kind, "text": text})
    for phase, meaning in PHASE_MEANINGS.items():
        per_pod = [(str(r["pod"]), n) for r in deleted if (n := _unexplained(r, phase))]
        if per_pod:
            total = sum(n for _, n in per_pod)
            text = (
                f"{_requests(total, 'failure')} in phase {phase} ({meaning}) not explained by a "
                f"finding (neither cut in flight, sent to a pod no longer listening, nor cut on a "
                f"kept connection). Per pod: "
                f"{_per_pod(per_pod)}"
            )
            found.append({"pod": None, "kind": "unexplained", "text": text})
    return found


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _unexplained(row: Mapping[str, Any], phase: str) -> int:
    by_phase = row.get(UNEXPLAINED_KEY)
    return _count(by_phase.get(phase)) if isinstance(by_phase, dict) else 0


def _requests(n: int, noun: str = "request") -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _per_pod(counts: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{pod} {n}" for pod, n in counts)


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
    # Rows with the causes' counts say this better (refused, cut on a kept connection, ...):
    # a request failing after the listener closed was not always routed there.
    if late and row.get("sent_not_listening") is None:
        add(
            "failed_after_listener_closed",
            f"{late} request(s) failed at {pod} after it stopped listening: they were still "
            "routed to it",
        )
    return found
