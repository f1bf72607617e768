"""Each dropped request of a variant set against the moments of the deletion it belongs to.

summary.json counts failures by class and by phase, but not what a fix needs: which failures
were new connections sent to a pod that no longer took them (a preStop sleep covers those), which
were requests the app cut at SIGTERM, which came on kept connections after routing had moved on,
and which came when a pod was killed at the end of its grace period (no patch fixes those). This
is one more pass over the variant's records, with the analysis's own deletions and attribution
(harness.analysis), that keeps counts and ranges only, never the records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness import runfolder
from harness.analysis.deletions import Deletion, find_deletions
from harness.analysis.endpoint_history import NoReadyIntervals
from harness.analysis.index import index_timeline
from harness.analysis.phases import Attributor
from harness.classify import CONNECTION_REFUSED, CONNECTION_RESET, REMOTE_DISCONNECTED
from harness.records import Row, read_rows
from harness.timeline import EventKind, TimelineEvent, read_timeline

# What a connection that got no answer looks like to the client: refused at connect, reset, or
# closed before a response (the embedded proxy turns a refused connect into a reset or an empty
# reply, see backends/embedded/proxy.py).
TRANSPORT = frozenset({CONNECTION_REFUSED, CONNECTION_RESET, REMOTE_DISCONNECTED})


@dataclass(frozen=True, slots=True)
class Evidence:
    """A variant's failures sorted by the cause a fix would have to address."""

    failed: int = 0
    # New connections sent to the pod after SIGTERM and before routing to it stopped (the
    # endpoint removal had not reached the proxy; any connection refused after SIGTERM, since a
    # refused connect is a new connection): a preStop sleep that outlasts propagation keeps the
    # app serving them.
    routed_after_sigterm: int = 0
    routed_classes: dict[str, int] = field(default_factory=dict)
    # Seconds from the pod's SIGTERM to those failures, first and last.
    routed_span_s: tuple[float, float] | None = None
    routed_pods: frozenset[str] = frozenset()
    # Requests in flight when the pod got SIGTERM (started before, failed after, no answer): the
    # app exits with work in flight.
    cut_at_sigterm: int = 0
    # Transport failures after routing to the pod had stopped and not in flight at its SIGTERM:
    # only connections kept from before reach a pod then (conntrack pins them), and the pod
    # closed them under the client.
    kept_after_routing: int = 0
    # Failures at or after the kill of a pod killed (SIGKILL) at the end of its grace period.
    at_kill: int = 0
    # Everything else, "class in phase" -> count: no field of a patch addresses them.
    other: dict[str, int] = field(default_factory=dict)
    # The removal the routed failures preceded: "removal_applied" (the proxy's, embedded) or
    # "endpoint_removed" (the controller's), the more common over their deletions.
    removal_seen_as: str | None = None


def read_evidence(
    run_dir: Path, variant: str, run_end: float | None, keepalive: bool = True
) -> Evidence:
    """The evidence of one variant from its records and timeline in ``run_dir``; ``keepalive``:
    whether the run's clients kept connections (traffic.keepalive)."""
    timeline_path = run_dir / runfolder.timeline_name(variant)
    records_path = run_dir / runfolder.records_name(variant)
    timeline = read_timeline(timeline_path) if timeline_path.exists() else []
    rows = read_rows(records_path) if records_path.exists() else iter(())
    return evidence_of(rows, timeline, run_end, keepalive)


def evidence_of(
    rows: Iterable[Row],
    timeline: Iterable[TimelineEvent],
    run_end: float | None,
    keepalive: bool = True,
) -> Evidence:
    """Pure: one pass over ``rows`` (end, latency_ms, pod, error), failures only kept as counts."""
    index = index_timeline(timeline)
    deletions = find_deletions(index, run_end)
    attributor = Attributor(deletions, NoReadyIntervals(index.events))
    failed = routed = cut = kept = killed = 0
    routed_classes: Counter[str] = Counter()
    routed_pods: set[str] = set()
    removal_kinds: Counter[str] = Counter()
    other: Counter[str] = Counter()
    first: float | None = None
    last: float | None = None
    for end, latency_ms, pod, error in rows:
        if error is None:
            continue
        failed += 1
        start = end - latency_ms / 1000.0
        phase, owner = attributor.attribute(end, pod, start)
        d = None if owner is None else deletions[owner]
        cause = _cause(d, end, start, error, keepalive)
        if cause == "at_kill":
            killed += 1
        elif cause == "cut":
            cut += 1
        elif cause == "kept":
            kept += 1
        elif cause == "routed" and d is not None and d.sigterm is not None:
            routed += 1
            routed_classes[error] += 1
            routed_pods.add(d.pod)
            removal_kinds[d.propagation_to or ""] += 1
            since = end - d.sigterm
            first = since if first is None else min(first, since)
            last = since if last is None else max(last, since)
        else:
            other[f"{error} in {phase}"] += 1
    seen_as = removal_kinds.most_common(1)[0][0] if removal_kinds else None
    return Evidence(
        failed=failed,
        routed_after_sigterm=routed,
        routed_classes=dict(routed_classes),
        routed_span_s=None if first is None or last is None else (first, last),
        routed_pods=frozenset(routed_pods),
        cut_at_sigterm=cut,
        kept_after_routing=kept,
        at_kill=killed,
        other=dict(other),
        removal_seen_as=seen_as or None,
    )


def _cause(
    d: Deletion | None, end: float, start: float, error: str, keepalive: bool = True
) -> str | None:
    """Which cause a failure of class ``error`` over [start, end] shows, None for none of them.
    The checks go from the most to the least specific: a kill beats everything (the process was
    made to go), a request in flight at SIGTERM was cut whatever routing did. Clients that open
    a new connection per request have no kept connection to lose: what would be one is a
    request in flight at the exit, or a new connection still routed to the pod."""
    if d is None or error not in TRANSPORT:
        return None
    if d.basis.get("exit") == EventKind.KILLED and d.gone is not None and end >= d.gone:
        return "at_kill"
    if d.sigterm is None:
        return None
    if start < d.sigterm <= end and error != CONNECTION_REFUSED:
        return "cut"
    if d.removal is not None and d.sigterm <= end < d.removal:
        return "routed"
    if error == CONNECTION_REFUSED and end >= d.sigterm:
        # A refused connect is a new connection: a proxy still sent it to the pod, even after the
        # removal seen (the controller's, where no proxy's moment was measured, comes earlier).
        return "routed"
    if d.removal is not None and end >= d.removal and error != CONNECTION_REFUSED:
        if keepalive:
            return "kept"
        return "cut" if d.gone is not None and start < d.gone <= end else "routed"
    return None
