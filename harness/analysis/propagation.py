"""How long after a delete call traffic stopped reaching the pod, stage by stage.

Stages, each measured from the delete call D and counted only when observed at or after D:

- ``endpoint_removed``: the controller took the pod out of the Service's endpoints;
- ``removal_applied``: the data plane stopped sending it new connections: per node the most
  direct method that saw it, then the last node (dataplane.py); ``by_method`` and ``by_node``
  split it (proxygap.py). The embedded proxy model sees it; on Kubernetes drainlab's agent and,
  on the local cluster, the node's NAT rules read from the host;
- ``last_served``: the end of the last successful response the pod sent (from the records), so
  it is a sample only when the pod served something after its delete call;
- ``last_routed``: the start of the last request the pod served after its delete call, only
  when every request opens a new connection (a lower bound of the data plane's moment).

``propagation_ms`` for a deletion is its ``removal_applied`` stage where observed, else its
``endpoint_removed`` stage. Beside the stages: ``controller_to_proxy``, ``agreement``,
``data_plane`` and ``last_routed_check`` (proxygap.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.analysis import proxygap
from harness.analysis.dataplane import NO_OBSERVERS, DataPlaneState
from harness.analysis.deletions import Deletion, ms_between
from harness.analysis.stats import p50_p99_block
from harness.timeline import EventKind

LAST_SERVED = "last_served"
LAST_ROUTED = "last_routed"
STAGES: tuple[str, ...] = (EventKind.ENDPOINT_REMOVED, EventKind.REMOVAL_APPLIED, LAST_SERVED)
# Why a stage has no samples, for the ``reason`` beside its nulls.
NO_SAMPLES: dict[str, str] = {
    EventKind.ENDPOINT_REMOVED: (
        "no deleted pod was seen leaving the endpoints after its delete call"
    ),
    EventKind.REMOVAL_APPLIED: "no Service proxy removal was observed",
    LAST_SERVED: "no deleted pod served a request after its delete call",
}


def stage_samples(
    deletions: Sequence[Deletion], last_served: Mapping[str, float]
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for d in deletions:
        served = last_served.get(d.pod)
        moments = {
            EventKind.ENDPOINT_REMOVED: d.endpoint_removed,
            EventKind.REMOVAL_APPLIED: d.removal_applied,
            LAST_SERVED: served if served is not None and served >= d.requested else None,
        }
        for stage, moment in moments.items():
            value = ms_between(d.requested, moment)
            if value is not None:
                samples[stage].append(value)
    return samples


def propagation_block(
    deletions: Sequence[Deletion],
    last_served: Mapping[str, float],
    last_started: Mapping[str, float] | None = None,
    observers: DataPlaneState = NO_OBSERVERS,
    new_connections: bool | None = None,
) -> dict[str, Any]:
    """``new_connections``: whether every request opened a new connection (traffic keep-alive
    off; None: not known), which makes ``last_routed`` a bound."""
    overall = [ms for ms in (d.propagation_ms for d in deletions) if ms is not None]
    why = "no deletion" if not deletions else "no deleted pod was seen leaving the endpoints"
    block = p50_p99_block(overall, why)
    stages = {
        stage: p50_p99_block(values, "no deletion" if not deletions else NO_SAMPLES[stage])
        for stage, values in stage_samples(deletions, last_served).items()
    }
    plane = proxygap.data_plane(deletions, observers)
    applied = stages[EventKind.REMOVAL_APPLIED]
    if applied["samples"] == 0 and deletions:
        applied["reason"] = f"{NO_SAMPLES[EventKind.REMOVAL_APPLIED]}: {plane['reason']}"
    applied["by_method"] = proxygap.by_method(deletions)
    applied["by_node"] = proxygap.by_node(deletions)
    routed, check = proxygap.last_routed(deletions, last_started or {}, new_connections)
    stages[LAST_ROUTED] = routed
    block["stages"] = stages
    block["controller_to_proxy"] = proxygap.controller_to_proxy(deletions)
    block["agreement"] = proxygap.agreement(deletions)
    block["data_plane"] = plane
    block["last_routed_check"] = check
    return block
