"""The preStop sleep / graceful shutdown delay the measured propagation calls for.

Rule: take p99 (nearest rank) of ``propagation_ms`` over every deletion of every order, add a
margin of max(1000 ms, 50 % of that p99), and round up to whole seconds. The same number serves
as a preStop sleep and as an app's own shutdown delay, because both must outlast the time new
connections keep arriving after the delete call. Propagation is a property of the cluster, not of
the app's shutdown order, so pooling the orders' deletions gives more samples of one quantity.
With fewer than MIN_SAMPLES samples the numbers are null and ``reason`` says why.

``stage`` names what the samples end at: "data_plane" when every deletion's proxy moment was seen
(each at its last node: the p99 covers the slowest node, which the basis names when nodes
differ), else "controller": some deletion ended at the controller's endpoint removal, which is
earlier than the proxy's moment, so the margin stands for the unmeasured rest and the basis says
why the proxy's moment was not measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from harness.analysis.dataplane import METHOD_NAMES, rank_of
from harness.analysis.stats import finite_sorted, percentile
from harness.timeline import EventKind

MIN_SAMPLES = 3
MARGIN_MIN_MS = 1000.0
MARGIN_SHARE = 0.5


DATA_PLANE = "data_plane"
CONTROLLER = "controller"


class PropagationSample(NamedTuple):
    ms: float
    to: str  # EventKind.REMOVAL_APPLIED or EventKind.ENDPOINT_REMOVED: which moment ended it
    method: str | None = None  # the data plane's method (dataplane.METHODS) when ``to`` is it
    node: str | None = None  # the node whose moment it is (the last node; None: embedded)
    by_node: Mapping[str, float] | None = None  # each node's moment, ms after the delete call


def recommend(
    samples: Sequence[PropagationSample], not_measured: str | None = None
) -> dict[str, Any]:
    """``not_measured``: why the proxy's moment was not measured (the orders' ``data_plane``
    reasons), for a basis that falls back to the controller."""

    values = finite_sorted([s.ms for s in samples])
    if len(values) < MIN_SAMPLES:
        return {
            "prestop_sleep_s": None,
            "shutdown_delay_s": None,
            "basis": None,
            "propagation_p99_ms": None,
            "margin_ms": None,
            "stage": None,
            "nodes": {},
            "slowest_node": None,
            "reason": (
                f"{len(values)} propagation sample(s) across all orders; at least {MIN_SAMPLES} "
                "deletions with an observed endpoint removal are needed"
            ),
        }
    p99 = percentile(values, 99)
    assert p99 is not None  # values is not empty
    margin = max(MARGIN_MIN_MS, MARGIN_SHARE * p99)
    seconds = float(math.ceil(round(p99 + margin, 3) / 1000.0))
    applied = [s for s in samples if s.to == EventKind.REMOVAL_APPLIED]
    removed = sum(1 for s in samples if s.to == EventKind.ENDPOINT_REMOVED)
    nodes = node_p99s(applied)
    slowest = max(nodes, key=lambda n: (nodes[n], n)) if len(nodes) > 1 else None
    sources = []
    if applied:
        sources.append(
            f"{len(applied)} until removal applied by the Service proxy: the data plane "
            f"({_seen_by(applied)})"
        )
    if removed:
        sources.append(
            f"{removed} until endpoint removed by the controller (the proxy's moment was not "
            f"measured: {not_measured or 'no removal_applied for these deletions'})"
        )
    per_node = ""
    if slowest is not None:
        listed = ", ".join(f"{n} {ms:g} ms" for n, ms in nodes.items())
        per_node = f"; p99 per node: {listed}; it covers the slowest node, {slowest}"
    stage = CONTROLLER if removed else DATA_PLANE
    return {
        "prestop_sleep_s": seconds,
        "shutdown_delay_s": seconds,
        "basis": (
            f"p99 propagation {p99:g} ms over {len(values)} deletions of all orders together "
            f"(propagation depends on the cluster, not on the app's order; {'; '.join(sources)}"
            f"{per_node}) + margin {margin:g} ms (the larger of 1 s and 50 % of p99), rounded up "
            "to whole seconds"
        ),
        # The numbers behind it, for the fix (harness.fixes) to show without parsing ``basis``.
        "propagation_p99_ms": p99,
        "margin_ms": margin,
        "stage": stage,
        "nodes": nodes,
        "slowest_node": slowest,
        "reason": None,
    }


def node_p99s(samples: Sequence[PropagationSample]) -> dict[str, float]:
    """Per node (by name), p99 of its own moment over the deletions it saw."""
    per: dict[str, list[float]] = {}
    for s in samples:
        for node, ms in (s.by_node or {}).items():
            per.setdefault(node, []).append(ms)
    found = {node: percentile(finite_sorted(v), 99) for node, v in sorted(per.items())}
    return {node: p99 for node, p99 in found.items() if p99 is not None}


def _seen_by(applied: Sequence[PropagationSample]) -> str:
    """ "kube-proxy metrics on n1, n2", per method, most direct first; each deletion at its last
    node."""
    nodes: dict[str, set[str]] = {}
    for s in applied:
        names = nodes.setdefault(s.method or "embedded_proxy", set())
        if s.node is not None:
            names.add(s.node)
    parts = []
    for method in sorted(nodes, key=lambda m: (rank_of(m), m)):
        named = METHOD_NAMES.get(method, method)
        on = ", ".join(sorted(nodes[method]))
        parts.append(f"{named} on {on}" if on else named)
    tail = "; each deletion at the last node to stop routing" if any(nodes.values()) else ""
    return f"{', '.join(parts)}{tail}"
