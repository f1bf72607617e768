"""The preStop sleep / graceful shutdown delay the measured propagation calls for.

Rule: take p99 (nearest rank) of ``propagation_ms`` over every deletion of every order, add a
margin of max(1000 ms, 50 % of that p99), and round up to whole seconds. The same number serves
as a preStop sleep and as an app's own shutdown delay, because both must outlast the time new
connections keep arriving after the delete call. Propagation is a property of the cluster, not of
the app's shutdown order, so pooling the orders' deletions gives more samples of one quantity.
With fewer than MIN_SAMPLES samples the numbers are null and ``reason`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from harness.analysis.stats import finite_sorted, percentile
from harness.timeline import EventKind

MIN_SAMPLES = 3
MARGIN_MIN_MS = 1000.0
MARGIN_SHARE = 0.5


class PropagationSample(NamedTuple):
    ms: float
    to: str  # EventKind.REMOVAL_APPLIED or EventKind.ENDPOINT_REMOVED: which moment ended it


def recommend(samples: Sequence[PropagationSample]) -> dict[str, Any]:
    values = finite_sorted([s.ms for s in samples])
    if len(values) < MIN_SAMPLES:
        return {
            "prestop_sleep_s": None,
            "shutdown_delay_s": None,
            "basis": None,
            "propagation_p99_ms": None,
            "margin_ms": None,
            "reason": (
                f"{len(values)} propagation sample(s) across all orders; at least {MIN_SAMPLES} "
                "deletions with an observed endpoint removal are needed"
            ),
        }
    p99 = percentile(values, 99)
    assert p99 is not None  # values is not empty
    margin = max(MARGIN_MIN_MS, MARGIN_SHARE * p99)
    seconds = float(math.ceil(round(p99 + margin, 3) / 1000.0))
    applied = sum(1 for s in samples if s.to == EventKind.REMOVAL_APPLIED)
    removed = sum(1 for s in samples if s.to == EventKind.ENDPOINT_REMOVED)
    sources = []
    if applied:
        sources.append(f"{applied} until removal applied by the Service proxy")
    if removed:
        sources.append(
            f"{removed} until endpoint removed by the controller (the proxy's own moment is "
            "later and not visible)"
        )
    return {
        "prestop_sleep_s": seconds,
        "shutdown_delay_s": seconds,
        "basis": (
            f"p99 propagation {p99:g} ms over {len(values)} deletions of all orders together "
            f"(propagation depends on the cluster, not on the app's order; {'; '.join(sources)})"
            f" + margin {margin:g} ms (the larger of 1 s and 50 % of p99), rounded up to whole "
            "seconds"
        ),
        # The numbers behind it, for the fix (harness.fixes) to show without parsing ``basis``.
        "propagation_p99_ms": p99,
        "margin_ms": margin,
        "reason": None,
    }
