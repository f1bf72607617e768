"""What the run's endpoint semantics (harness.kubeversion) did: the conditions its endpoint events
carried, and the failures a readiness flip cost where the serving-terminating fallback was on.

From Kubernetes 1.26 (KEP-1669) a Service with no ready endpoint sends new connections to its
serving-terminating ones. A terminating pod that fails its readiness probe (the sample app's
graceful order does at SIGTERM) is no longer serving and opts out of that fallback: a request
that then finds no ready endpoint fails although that pod, still running, could have served it.
``fallback_disabled`` counts those failures: a ``no_ready_replica`` failure at a moment some
deleted pod had stopped serving and had not yet exited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.analysis.deletions import Deletion
from harness.analysis.endpoint_history import CONTROLLER
from harness.analysis.index import TimelineIndex
from harness.timeline import EventKind, TimelineEvent

# Where a terminating pod's "no longer serving" moment comes from, best first: the endpoint
# controller publishing it (what the proxy's fallback reads), the kubelet's probe verdict (which
# ``serving`` follows), then the app's own line that it started failing its probe.
NOT_SERVING_SOURCES: tuple[str, ...] = (
    "endpoint_serving_false",
    EventKind.POD_NOT_READY,
    EventKind.APP_READINESS_FAILED,
)
_CONDITION_KEYS = ("serving", "terminating")


@dataclass(frozen=True, slots=True)
class OptedOut:
    """A deleted pod that stopped serving before it was gone: [since, until) it was out of the
    fallback while it could still have served."""

    pod: str
    since: float
    until: float | None  # its exit or kill; None: not seen before the run ended
    basis: str  # one of NOT_SERVING_SOURCES


def conditions_seen(events: Iterable[TimelineEvent]) -> bool | None:
    """Whether the endpoint events carried ``serving``/``terminating`` (KEP-1672): None when
    there was no endpoint event to tell."""
    seen: bool | None = None
    for event in events:
        if event.kind in CONTROLLER:
            if any(isinstance(event.detail.get(k), bool) for k in _CONDITION_KEYS):
                return True
            seen = False
    return seen


def either_seen(a: bool | None, b: bool | None) -> bool | None:
    """Two orders' ``conditions_seen`` pooled: seen in either, else not seen where one tells."""
    if a or b:
        return True
    return None if a is None and b is None else False


def semantics_block(stated: Mapping[str, Any], seen: bool | None) -> dict[str, Any]:
    """summary.json's ``semantics``: what the backend stated (``RunSemantics.block``) and
    ``conditions_seen`` from the run's endpoint events."""
    return {**stated, "conditions_seen": seen}


def opted_out(index: TimelineIndex, deletions: Sequence[Deletion]) -> list[OptedOut]:
    """The deleted pods that stopped serving at or after their delete and before their exit."""
    found = []
    for d in deletions:
        moment = _not_serving(index.by_pod.get(d.pod, []), d.requested)
        if moment is None:
            continue
        since, basis = moment
        if d.gone is None or since < d.gone:
            found.append(OptedOut(d.pod, since, d.gone, basis))
    return found


def _not_serving(events: Sequence[TimelineEvent], after: float) -> tuple[float, str] | None:
    firsts: dict[str, float] = {}
    for event in events:
        if event.ts < after:
            continue
        if event.kind in CONTROLLER and event.detail.get("serving") is False:
            source = NOT_SERVING_SOURCES[0]
        elif event.kind in NOT_SERVING_SOURCES:
            source = event.kind
        else:
            continue
        firsts.setdefault(source, event.ts)
    return next(((firsts[s], s) for s in NOT_SERVING_SOURCES if s in firsts), None)


def fallback_disabled(
    out: Sequence[OptedOut], no_ready_ends: Iterable[float], fallback: bool
) -> dict[str, Any] | None:
    """The order's ``fallback_disabled`` finding, None when there is none: the fallback was off
    (before 1.26, or not known), or no ``no_ready_replica`` failure met an opted-out pod."""
    if not fallback or not out:
        return None
    failed = 0
    pods: set[str] = set()
    for t in no_ready_ends:
        hit = [o.pod for o in out if o.since <= t and (o.until is None or t < o.until)]
        if hit:
            failed += 1
            pods.update(hit)
    if not failed:
        return None
    names = sorted(pods)
    return {
        "failed": failed,
        "pods": names,
        "why": (
            f"{failed} request{'s' if failed != 1 else ''} failed with no ready endpoint while "
            f"{', '.join(names)} {'was' if len(names) == 1 else 'were'} terminating and had "
            "failed readiness, yet not exited: with the serving-terminating fallback "
            "(KEP-1669) the Service would have sent them there had readiness kept passing"
        ),
    }
