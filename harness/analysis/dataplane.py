"""The data plane's moment of a deletion: when every node's Service proxy stopped routing to it.

A ``removal_applied`` event says that one node's proxy stopped sending new connections to a pod,
as one method saw it (detail ``method``, ``node``; docs/summary-v1.md). Several methods may watch
one node; the most direct one speaks for that node (``METHODS``, best first: the node's NAT rules
read from outside, the same rules read by the agent inside the node, kube-proxy's sync metrics,
the embedded proxy model). Traffic can reach the pod until the last node stopped routing to it,
so the deletion's moment is the LAST node's. The other moments are kept for the per-method and
per-node blocks and for the agreement between methods.

``DATA_PLANE`` events (pod None) say which observers watched and why one could not: they give the
reason when the proxy's moment was not measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.timeline import EventKind, TimelineEvent

NAT_RULES_HOST = "nat_rules_host"  # the node's NAT rules read by drainlab itself: ground truth
NAT_RULES = "nat_rules"
KUBE_PROXY_METRICS = "kube_proxy_metrics"
EMBEDDED_PROXY = "embedded_proxy"  # also a removal_applied without ``method`` (older runs)
METHODS: tuple[str, ...] = (NAT_RULES_HOST, NAT_RULES, KUBE_PROXY_METRICS, EMBEDDED_PROXY)
# How the report and the basis name a method.
METHOD_NAMES: dict[str, str] = {
    NAT_RULES_HOST: "the node's NAT rules read from the host",
    NAT_RULES: "the node's NAT rules read by the agent",
    KUBE_PROXY_METRICS: "kube-proxy metrics",
    EMBEDDED_PROXY: "the embedded Service proxy",
}
NO_AGENT_EVENTS = "no agent events"


@dataclass(frozen=True, slots=True)
class ProxyMoment:
    """One node's proxy stopped routing to a deleted pod, as one method saw it."""

    ts: float
    node: str | None  # None: the embedded proxy (one proxy, no nodes)
    method: str
    endpoint_removed: float | None  # the controller's moment it followed, when the method says


def method_of(event: TimelineEvent) -> str:
    method = event.detail.get("method")
    return method if isinstance(method, str) and method else EMBEDDED_PROXY


def rank_of(method: str) -> int:
    """Lower is more direct; a method this version does not know ranks last."""
    return METHODS.index(method) if method in METHODS else len(METHODS)


def proxy_moments(pod_events: Sequence[TimelineEvent], requested: float) -> list[ProxyMoment]:
    """The pod's ``removal_applied`` events at or after its delete call: the first of each
    (node, method)."""
    seen: dict[tuple[str | None, str], ProxyMoment] = {}
    for event in pod_events:
        if event.kind != EventKind.REMOVAL_APPLIED or event.ts < requested:
            continue
        node = event.detail.get("node")
        key = (node if isinstance(node, str) else None, method_of(event))
        if key not in seen:
            followed = event.detail.get("endpoint_removed_ts")
            controller = (
                float(followed)
                if isinstance(followed, (int, float)) and not isinstance(followed, bool)
                else None
            )
            seen[key] = ProxyMoment(event.ts, key[0], key[1], controller)
    return list(seen.values())


def per_node(moments: Iterable[ProxyMoment]) -> dict[str | None, ProxyMoment]:
    """Each node's moment by its most direct method (equal methods: the earlier event)."""
    best: dict[str | None, ProxyMoment] = {}
    for m in moments:
        held = best.get(m.node)
        if held is None or (rank_of(m.method), m.ts) < (rank_of(held.method), held.ts):
            best[m.node] = m
    return best


def data_plane_moment(moments: Iterable[ProxyMoment]) -> ProxyMoment | None:
    """The last node's moment (each node by its most direct method); None when none was seen."""
    return max(per_node(moments).values(), key=lambda m: m.ts, default=None)


@dataclass(frozen=True, slots=True)
class DataPlaneState:
    """What the DATA_PLANE events said, for the summary's ``data_plane`` block."""

    watching: tuple[tuple[str, str], ...]  # (node, method) that watched
    unavailable: tuple[str, ...]  # the reasons given, each once, in order


NO_OBSERVERS = DataPlaneState((), ())


def data_plane_states(events: Iterable[TimelineEvent]) -> DataPlaneState:
    watching: list[tuple[str, str]] = []
    reasons: list[str] = []
    for event in events:
        if event.kind != EventKind.DATA_PLANE:
            continue
        node, method = str(event.detail.get("node") or "?"), method_of(event)
        state = event.detail.get("state")
        if state == "watching" and (node, method) not in watching:
            watching.append((node, method))
        elif state == "unavailable":
            where = f"{method} on {node}" if event.detail.get("node") else method  # None: all
            reason = f"{where}: {event.detail.get('reason') or 'no reason given'}"
            if reason not in reasons:
                reasons.append(reason)
    return DataPlaneState(tuple(watching), tuple(reasons))
