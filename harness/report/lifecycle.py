"""Pod lifecycle durations and findings for the report, from the rows of pods-<order>.jsonl.

The durations and the per-pod findings are ``harness.analysis.pods``' (one definition of each,
shared with the analysis); this module only shapes them for the page, names the slowest pod
behind each maximum, and adds two findings the analysis does not make:

- a pod that *exited* (no listener-closed line, e.g. the naive order) while the Service still
  routed new connections to it, with the refused requests that fell in those gaps;
- a pod that exited on its own but used most of its grace period.

The findings account for every failed request of the order: the analysis states what cut the
failures of each deletion (``harness.analysis.causes``, with counts), and this module the rest
(those outside every deletion window, those of a pods file written before the causes were
counted, any the summary counts beyond the pods' rows). "Clean shutdowns" is said only when the
order failed nothing; when nothing at all is found for an order whose pods were deleted and
nothing failed, that is said too: an empty list would read as "not checked".
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.analysis.pods import DURATIONS, ROW_KEYS, lifecycle_report, routing_stopped, stops_of

PodRow = Mapping[str, Any]  # one row of pods-<order>.jsonl

LABELS: dict[str, str] = {
    "create_to_ready": "create → ready",
    "ready_to_endpoint_added": "ready → endpoint added",
    "delete_to_endpoint_removed": "delete → endpoint removed",
    "delete_to_sigterm": "delete → SIGTERM",
    "sigterm_to_exit": "SIGTERM → exit or kill",
    "delete_to_last_served": "delete → last served",
}
# Finding kinds, worst first; the analysis may add kinds, which then follow in its order.
KIND_TITLES: dict[str, str] = {
    "cut_in_flight": "Requests cut in flight at SIGTERM or exit",
    "sent_while_not_listening": "Sent to a pod that had stopped listening",
    "cut_keepalive": "Keep-alive connections cut after the endpoint was removed",
    "unexplained": "Failures no finding explains",
    "killed": "Killed at the grace period",
    "killed_at_grace": "Ignored SIGTERM: each stop took the full grace period",
    "failed_after_listener_closed": "Requests failed after the pod stopped listening",
    "exited_before_removal": "Exited while the Service still routed to it",
    "closed_before_removal": "Stopped listening while the Service still routed to it",
    "no_exit": "Not seen to exit",
    "exit_code": "Non-zero exit code",
    "near_grace": "Close to the grace period",
    "unattributed": "Failures outside every deletion window",
    "all_clear": "Clean shutdowns",
    "no_deletion": "Nothing deleted",
}
# What stopped a pod (``stopped_by``: harness.analysis.deletions.STOP_ACTIONS), in words.
STOPPED_WORDS: dict[str, str] = {
    "delete": "deleted",
    "evict": "evicted",
    "drain": "drained",
    "scale_down": "scaled down",
    "rollout": "rolled out",
    "crash": "crashed",
}
# A pod that used this much of its grace period came close to being killed.
NEAR_GRACE = 0.8


@dataclass(frozen=True, slots=True)
class DurationStat:
    label: str
    samples: int
    median_ms: float | None
    max_ms: float | None
    max_pod: str | None  # the pod behind the max, so a reader can find it in the waterfall


@dataclass(frozen=True, slots=True)
class FindingGroup:
    kind: str
    title: str
    items: list[str]


def ts(row: PodRow, step: str) -> float | None:
    """A step's timestamp; "stopped" is when the process ended, by exit or by SIGKILL."""
    if step == "stopped":
        exited = ts(row, "exited")
        return exited if exited is not None else ts(row, "killed")
    value = row.get(step)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def stopped_words(actions: Sequence[str]) -> str:
    """Why a pod stopped, in words: "crashed ×2, then evicted"; "" when nothing stopped it."""
    runs: list[tuple[str, int]] = []
    for action in actions:
        if runs and runs[-1][0] == action:
            runs[-1] = (action, runs[-1][1] + 1)
        else:
            runs.append((action, 1))
    return ", then ".join(
        STOPPED_WORDS.get(a, a.replace("_", " ")) + (f" ×{n}" if n > 1 else "") for a, n in runs
    )


def pod_label(row: PodRow) -> str:
    """The pod's name and why it stopped, as the waterfall names its row."""
    why = stopped_words(stops_of(row))
    return f"{row.get('pod')} ({why})" if why else str(row.get("pod"))


def routed_until(row: PodRow) -> float | None:
    """When new connections stopped reaching the pod (``analysis.pods.routing_stopped``)."""
    return routing_stopped(ts(row, "removal_applied"), ts(row, "endpoint_removed"))


def complete_rows(rows: Iterable[PodRow]) -> list[dict[str, Any]]:
    """Rows with every key the analysis reads: a file from an older or partial run may lack
    some, and a missing step is None (not observed) by the row contract."""
    return [{key: row.get(key) for key in (*ROW_KEYS, *row)} for row in rows]


def lifecycle(
    rows: Sequence[PodRow],
    t0: float,
    grace_period_s: float | None = None,
    refused: Sequence[float] = (),
    entry: Mapping[str, Any] | None = None,
) -> tuple[list[DurationStat], list[FindingGroup]]:
    """Durations (median/max per step) and findings grouped by kind, for one order.

    ``refused``: when each connection-refused failure ended, sorted (unix seconds). ``entry``:
    the order's block of summary.json, whose failures the findings must all account for: "clean
    shutdowns" is said only when the order failed no request at all."""
    full = complete_rows(rows)
    report = lifecycle_report(full)
    found = [(str(f["kind"]), str(f["text"])) for f in report["findings"]]
    deleted = [r for r in full if stops_of(r)]  # crashed pods too
    found += [
        ("exited_before_removal", text) for text in _exited_while_routed(deleted, t0, refused)
    ]
    found += [("near_grace", text) for text in _near_grace(deleted, grace_period_s)]
    found += unaccounted(deleted, entry or {})
    if not deleted:
        found.append(("no_deletion", "No pod was deleted in this variant: no shutdown to judge."))
    elif not found and not _failed(entry or {}):
        found.append(
            (
                "all_clear",
                f"All {len(deleted)} deleted pods kept their listener open until the Service "
                "stopped routing to them, and exited on their own within the grace period.",
            )
        )
    return _durations(report["durations_ms"], full), _grouped(found)


def unaccounted(deleted: Sequence[PodRow], entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Findings for the failures that the analysis' findings (``pods.cause_findings``) cannot
    state: those of a pods file written before it counted what cut them, those outside every
    deletion window, and any the summary counts beyond the pods' rows."""
    found = []
    items = entry.get("per_deletion")
    phases_of = {
        str(d.get("pod")): d.get("by_phase")
        for d in (items if isinstance(items, list) else [])
        if isinstance(d, dict)
    }
    for row in deleted:
        if row.get("sent_not_listening") is not None:
            continue  # a row with the causes' counts: the analysis' findings state them
        # The older per-pod finding states those after the listener closed.
        left = _int(row.get("failed")) - _int(row.get("failed_after_listener_closed"))
        if left > 0:
            pod = row.get("pod")
            phases = phases_of.get(str(pod))
            split = (
                ", ".join(f"{k} {v}" for k, v in phases.items() if _int(v))
                if isinstance(phases, dict)
                else ""
            )
            found.append(
                (
                    "unexplained",
                    f"{_plural(left, 'failure')} attributed to the deletion of {pod}"
                    f"{f' (by phase: {split})' if split else ''} not explained by a finding: "
                    "this pods file does not count what cut them.",
                )
            )
    by_phase = entry.get("failures_by_phase")
    outside = _int(by_phase.get("unattributed")) if isinstance(by_phase, dict) else 0
    if outside:
        found.append(
            (
                "unattributed",
                f"{_plural(outside, 'request')} failed outside every deletion window: no "
                "deletion explains them (the chart's failed requests row shows when).",
            )
        )
    failed = _failed(entry)
    rest = failed - outside - sum(_int(r.get("failed")) for r in deleted)
    if rest > 0:
        found.append(
            (
                "unexplained",
                f"{_plural(rest, 'failed request')} of the {failed} in this variant belong to no "
                "deleted pod's row: no finding explains them.",
            )
        )
    return found


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _failed(entry: Mapping[str, Any]) -> int:
    return _int(entry.get("failed"))


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _durations(blocks: Mapping[str, Any], rows: Sequence[PodRow]) -> list[DurationStat]:
    stats = []
    for name, block in blocks.items():
        measure = DURATIONS.get(name)
        worst: str | None = None
        if measure is not None and block.get("max") is not None:
            measured = [(m, str(r.get("pod"))) for r in rows if (m := measure(r)) is not None]
            worst = max(measured)[1] if measured else None
        stats.append(
            DurationStat(
                LABELS.get(name, name.replace("_", " ")),
                int(block.get("samples") or 0),
                block.get("median"),
                block.get("max"),
                worst,
            )
        )
    return stats


def _grouped(found: Sequence[tuple[str, str]]) -> list[FindingGroup]:
    kinds = list(dict.fromkeys(kind for kind, _ in found))
    rank = {kind: i for i, kind in enumerate(KIND_TITLES)}
    kinds.sort(key=lambda k: rank.get(k, len(rank)))
    return [
        FindingGroup(
            kind,
            KIND_TITLES.get(kind, kind.replace("_", " ").capitalize()),
            [text for k, text in found if k == kind],
        )
        for kind in kinds
    ]


def _exited_while_routed(
    deleted: Sequence[PodRow], t0: float, refused: Sequence[float]
) -> list[str]:
    """Pods with no listener-closed line that exited before routing stopped. (With one, the
    analysis' closed_before_removal finding already tells the story.)"""
    gaps = []  # (gap, pod, exited, routing stopped, the row counts what was sent there)
    for row in deleted:
        if ts(row, "listener_closed") is not None:
            continue
        stopped, routed = ts(row, "stopped"), routed_until(row)
        if stopped is not None and routed is not None and stopped < routed:
            counted = row.get("sent_not_listening") is not None
            gaps.append((routed - stopped, str(row.get("pod")), stopped, routed, counted))
    lines = []
    for gap, pod, stopped, routed, counted in sorted(gaps, key=lambda g: g[2]):
        said = f"{pod} exited at {stopped - t0:.2f} s, {gap * 1000:.0f} ms before the Service "
        if counted:
            # The requests sent into that gap, whatever they failed with, are counted by the
            # analysis ("Sent to a pod that had stopped listening"): a refused count alone
            # would read "0" where a Service proxy reset them.
            lines.append(said + "stopped routing to it.")
            continue
        hits = _count_within(refused, [(stopped, routed)])
        lines.append(
            said + f"stopped routing to it: {hits} refused request{'s' if hits != 1 else ''} "
            "fell in that gap."
        )
    return lines


def _near_grace(deleted: Sequence[PodRow], grace_period_s: float | None) -> list[str]:
    lines = []
    for row in deleted:
        exited, delete = ts(row, "exited"), ts(row, "delete_requested")
        grace = ts(row, "grace_period_s") or grace_period_s
        if exited is None or delete is None or not grace or ts(row, "killed") is not None:
            continue
        used = exited - delete
        if used >= NEAR_GRACE * grace:
            lines.append(
                f"{row.get('pod')} took {used:.1f} s of its {grace:g} s grace period to exit: "
                "a little more load and it would have been killed."
            )
    return lines


def _count_within(sorted_ts: Sequence[float], spans: list[tuple[float, float]]) -> int:
    """How many times fall in the union of [start, end) spans: overlapping gaps count once."""
    total, reach = 0, float("-inf")
    for start, end in sorted(spans):
        start = max(start, reach)
        if end > start:
            total += bisect.bisect_left(sorted_ts, end) - bisect.bisect_left(sorted_ts, start)
            reach = end
    return total
