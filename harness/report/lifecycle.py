"""Pod lifecycle durations and findings for the report, from the rows of pods-<order>.jsonl.

The durations and the per-pod findings are ``harness.analysis.pods``' (one definition of each,
shared with the analysis); this module only shapes them for the page, names the slowest pod
behind each maximum, and adds two findings the analysis does not make:

- a pod that *exited* (no listener-closed line, e.g. the naive order) while the Service still
  routed new connections to it, with the refused requests that fell in those gaps;
- a pod that exited on its own but used most of its grace period.

When nothing at all is found for an order whose pods were deleted, that is said too: an empty
list would read as "not checked".
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.analysis.pods import DURATIONS, ROW_KEYS, lifecycle_report, routing_stopped

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
    "killed": "Killed at the grace period",
    "killed_at_grace": "Ignored SIGTERM: each stop took the full grace period",
    "failed_after_listener_closed": "Requests failed after the pod stopped listening",
    "exited_before_removal": "Exited while the Service still routed to it",
    "closed_before_removal": "Stopped listening while the Service still routed to it",
    "no_exit": "Not seen to exit",
    "exit_code": "Non-zero exit code",
    "near_grace": "Close to the grace period",
    "all_clear": "Clean shutdowns",
    "no_deletion": "Nothing deleted",
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
) -> tuple[list[DurationStat], list[FindingGroup]]:
    """Durations (median/max per step) and findings grouped by kind, for one order.

    ``refused``: when each connection-refused failure ended, sorted (unix seconds)."""
    full = complete_rows(rows)
    report = lifecycle_report(full)
    found = [(str(f["kind"]), str(f["text"])) for f in report["findings"]]
    deleted = [r for r in full if ts(r, "delete_requested") is not None]
    found += [
        ("exited_before_removal", text) for text in _exited_while_routed(deleted, t0, refused)
    ]
    found += [("near_grace", text) for text in _near_grace(deleted, grace_period_s)]
    if not deleted:
        found.append(("no_deletion", "No pod was deleted in this variant: no shutdown to judge."))
    elif not found:
        found.append(
            (
                "all_clear",
                f"All {len(deleted)} deleted pods kept their listener open until the Service "
                "stopped routing to them, and exited on their own within the grace period.",
            )
        )
    return _durations(report["durations_ms"], full), _grouped(found)


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
    gaps = []  # (gap, pod, exited, routing stopped)
    for row in deleted:
        if ts(row, "listener_closed") is not None:
            continue
        stopped, routed = ts(row, "stopped"), routed_until(row)
        if stopped is not None and routed is not None and stopped < routed:
            gaps.append((routed - stopped, str(row.get("pod")), stopped, routed))
    lines = []
    for gap, pod, stopped, routed in sorted(gaps, key=lambda g: g[2]):
        hits = _count_within(refused, [(stopped, routed)])
        lines.append(
            f"{pod} exited at {stopped - t0:.2f} s, {gap * 1000:.0f} ms before the Service "
            f"stopped routing to it: {hits} refused request{'s' if hits != 1 else ''} fell in "
            "that gap."
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
