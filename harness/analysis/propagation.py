"""How long after a delete call traffic stopped reaching the pod, stage by stage.

Stages, each measured from the delete call D and counted only when observed at or after D:

- ``endpoint_removed``: the controller took the pod out of the Service's endpoints;
- ``removal_applied``: the Service proxy stopped sending it new connections (embedded only;
  kube-proxy's own moment is not visible on real clusters);
- ``last_served``: the end of the last successful response the pod sent (from the records), so
  it is a sample only when the pod served something after its delete call.

``propagation_ms`` for a deletion is its ``removal_applied`` stage where observed, else its
``endpoint_removed`` stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.analysis.deletions import Deletion, ms_between
from harness.analysis.stats import p50_p99_block
from harness.timeline import EventKind

LAST_SERVED = "last_served"
STAGES: tuple[str, ...] = (EventKind.ENDPOINT_REMOVED, EventKind.REMOVAL_APPLIED, LAST_SERVED)
# Why a stage has no samples, for the ``reason`` beside its nulls.
NO_SAMPLES: dict[str, str] = {
    EventKind.ENDPOINT_REMOVED: (
        "no deleted pod was seen leaving the endpoints after its delete call"
    ),
    EventKind.REMOVAL_APPLIED: (
        "no Service proxy removal was observed (only the embedded backend sees it)"
    ),
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
    deletions: Sequence[Deletion], last_served: Mapping[str, float]
) -> dict[str, Any]:
    overall = [ms for ms in (d.propagation_ms for d in deletions) if ms is not None]
    why = "no deletion" if not deletions else "no deleted pod was seen leaving the endpoints"
    block = p50_p99_block(overall, why)
    block["stages"] = {
        stage: p50_p99_block(values, "no deletion" if not deletions else NO_SAMPLES[stage])
        for stage, values in stage_samples(deletions, last_served).items()
    }
    return block
