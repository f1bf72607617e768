"""The data plane's blocks of ``propagation_ms`` (docs/summary-v1.md), from each deletion's proxy
moments (dataplane.py):

- ``by_method`` / ``by_node``: the ``removal_applied`` stage as each method, and each node (by
  its most direct method), saw it;
- ``controller_to_proxy``: per deletion, the gap from the controller's endpoint removal to the
  data plane's moment (the last node's), and its p50/p99;
- ``agreement``: each method beside the ground truth (``nat_rules_host``) where both saw the
  same node drop the same pod: how far apart they were;
- ``data_plane``: whether the proxy's moment was measured, by which methods, and why not;
- ``last_routed``: the served-by bound. With a new connection per request, the start of the last
  request a deleted pod served after its delete call is a moment at which a proxy still routed a
  new connection to it, so the data plane's moment cannot be earlier; the check counts the
  deletions where it is (it should count none). On kept connections a request says nothing
  about where new connections went, so there is no bound.

Moments from an agent carry the node's clock; on a cluster whose nodes are not this machine a
gap or a difference includes the clocks' offset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.analysis.dataplane import (
    NAT_RULES_HOST,
    NO_AGENT_EVENTS,
    DataPlaneState,
    ProxyMoment,
    data_plane_moment,
    per_node,
    rank_of,
)
from harness.analysis.deletions import Deletion, ms_between
from harness.analysis.stats import finite_sorted, p50_p99_block, percentile

CLIENT_GROUP = "host"  # where the harness's clients run: today every request comes from there
KEEPALIVE_NO_BOUND = (
    "the clients keep connections alive (traffic.keepalive): a request on a kept connection "
    "says nothing about where new connections went, so it bounds nothing"
)
KEEPALIVE_UNKNOWN = "the traffic's keep-alive setting is not known, so no request bounds it"


def _ms(d: Deletion, m: ProxyMoment) -> float | None:
    return ms_between(d.requested, m.ts)


def by_method(deletions: Sequence[Deletion]) -> dict[str, dict[str, Any]]:
    """Per method, best first: delete call → that method's last node, over the deletions it
    saw."""
    samples: dict[str, list[float]] = {}
    for d in deletions:
        for method in {m.method for m in d.proxy_moments}:
            last = data_plane_moment(m for m in d.proxy_moments if m.method == method)
            value = None if last is None else _ms(d, last)
            if value is not None:
                samples.setdefault(method, []).append(value)
    return {
        method: p50_p99_block(samples[method], "")
        for method in sorted(samples, key=lambda m: (rank_of(m), m))
    }


def by_node(deletions: Sequence[Deletion]) -> dict[str, dict[str, Any]]:
    """Per node (by its most direct method): delete call → that node stopped routing. The
    embedded proxy has no nodes."""
    samples: dict[str, list[float]] = {}
    for d in deletions:
        for node, moment in per_node(d.proxy_moments).items():
            value = _ms(d, moment)
            if node is not None and value is not None:
                samples.setdefault(node, []).append(value)
    return {node: p50_p99_block(samples[node], "") for node in sorted(samples)}


def controller_to_proxy(deletions: Sequence[Deletion]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for d in deletions:
        moment = d.data_plane
        controller = d.endpoint_removed
        if moment is None or controller is None:
            continue
        rows.append(
            {
                "pod": d.pod,
                "node": moment.node,
                "method": moment.method,
                "endpoint_removed_ms": ms_between(d.requested, controller),
                "removal_applied_ms": _ms(d, moment),
                "gap_ms": ms_between(controller, moment.ts),
            }
        )
    why = (
        "no deletion"
        if not deletions
        else "no deletion had both the controller's and the data plane's moment"
    )
    block = p50_p99_block([r["gap_ms"] for r in rows], why)
    block["per_deletion"] = rows
    return block


def agreement(deletions: Sequence[Deletion]) -> dict[str, Any]:
    """Each method beside the ground truth, over the (deletion, node) pairs both saw."""
    diffs: dict[str, list[float]] = {}
    truth_seen = False
    for d in deletions:
        truth = {m.node: m for m in d.proxy_moments if m.method == NAT_RULES_HOST}
        truth_seen = truth_seen or bool(truth)
        for m in d.proxy_moments:
            reference = truth.get(m.node)
            if m.method == NAT_RULES_HOST or reference is None:
                continue
            gap = ms_between(reference.ts, m.ts)
            if gap is not None:
                diffs.setdefault(m.method, []).append(abs(gap))
    methods: dict[str, dict[str, Any]] = {}
    for method in sorted(diffs, key=lambda m: (rank_of(m), m)):
        ordered = finite_sorted(diffs[method])
        methods[method] = {
            "n": len(ordered),
            "p50_ms": percentile(ordered, 50),
            "max_ms": float(ordered[-1]) if len(ordered) else None,
        }
    reason = None
    if not deletions:
        reason = "no deletion"
    elif not truth_seen:
        reason = (
            f"no ground truth: {NAT_RULES_HOST} (the node's NAT rules read from the host, "
            "the local cluster only) saw no deletion"
        )
    elif not methods:
        reason = f"no other method saw a deletion that {NAT_RULES_HOST} saw"
    return {"reference": NAT_RULES_HOST, "methods": methods, "reason": reason}


def data_plane(deletions: Sequence[Deletion], observers: DataPlaneState) -> dict[str, Any]:
    seen = {m.method for d in deletions for m in d.proxy_moments}
    methods = sorted(seen, key=lambda m: (rank_of(m), m))
    measured = any(d.data_plane is not None for d in deletions)
    reason: str | None = None
    if not deletions:
        reason = "no deletion"
    elif not measured:
        reason = not_measured_reason(observers)
    else:
        missing = sum(1 for d in deletions if d.data_plane is None)
        if missing:
            reason = (
                f"{missing} of {len(deletions)} deletions had no removal_applied "
                f"({not_measured_reason(observers)})"
            )
    return {"measured": measured, "methods": methods, "reason": reason}


def not_measured_reason(observers: DataPlaneState) -> str:
    """Why no proxy moment was seen, from the observers' own DATA_PLANE events."""
    if observers.unavailable:
        return "; ".join(observers.unavailable)
    if observers.watching:
        watched = ", ".join(f"{method} on {node}" for node, method in observers.watching)
        return f"the observers watched ({watched}) but saw no deleted pod leave the data plane"
    return NO_AGENT_EVENTS


def last_routed(
    deletions: Sequence[Deletion],
    last_started: Mapping[str, float],
    new_connections: bool | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``last_routed`` stage and its check (``last_routed_check``)."""
    bounds: list[tuple[Deletion, float]] = []
    if new_connections:
        for d in deletions:
            started = last_started.get(d.pod)
            if started is not None and started >= d.requested:
                bounds.append((d, started))
    if new_connections:
        why = (
            "no deleted pod began serving a request after its delete call (or no response "
            "said which pod served it)"
        )
    else:
        why = KEEPALIVE_UNKNOWN if new_connections is None else KEEPALIVE_NO_BOUND
    why = why if deletions else "no deletion"
    values = [v for v in (ms_between(d.requested, t) for d, t in bounds) if v is not None]
    stage = p50_p99_block(values, why)
    stage["client_group"] = CLIENT_GROUP
    checked = [(d, t) for d, t in bounds if d.data_plane is not None]
    earlier = [d.pod for d, t in checked if d.data_plane is not None and d.data_plane.ts < t]
    if not bounds:
        check_why: str | None = why
    else:
        check_why = None if checked else "no deletion with a bound had the data plane's moment"
    check = {
        "bound": bool(new_connections),
        "checked": len(checked),
        "earlier_than_bound": len(earlier),
        "pods": earlier,
        "reason": check_why,
    }
    return stage, check


def per_deletion_keys(d: Deletion) -> dict[str, Any]:
    """``per_deletion[]``'s data-plane keys: the node and method of its data plane's moment and
    each node's moment (ms after the delete call), for the recommendation's per-node basis."""
    moment = d.data_plane
    nodes = {
        node: _ms(d, m) for node, m in sorted(per_node(d.proxy_moments).items(), key=_node_key)
    }
    return {
        "propagation_node": None if moment is None else moment.node,
        "propagation_method": None if moment is None else moment.method,
        "propagation_by_node": {n: ms for n, ms in nodes.items() if n is not None},
    }


def _node_key(item: tuple[str | None, ProxyMoment]) -> str:
    return item[0] or ""


def new_connection_per_request(traffic: Mapping[str, Any]) -> bool:
    """Whether every request of the scenario's traffic opened a new connection: its
    ``keepalive`` is false and no request of its mix turns it back on."""
    if traffic.get("keepalive") is not False:
        return False
    requests = traffic.get("requests") or []
    return not any(isinstance(r, Mapping) and r.get("keepalive") is True for r in requests)
