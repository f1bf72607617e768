"""The load nodes' clocks against the harness's (traffic.from: cluster): measured, kept in
``clocks-<order>.json``, applied when the records are joined.

A worker's records carry its node's clock; the timeline carries this machine's (the harness's
watches) and the API server's. Each node's offset is measured before the load starts
(harness.backends.kube.clockprobe: the node's time read between two readings of this machine's,
Cristian's method): ``offset_s`` is node minus here, ``uncertainty_s`` half the round trip of
the best of a few probes. A worker's records are moved by ``-offset_s`` when the offset is
larger than its uncertainty, and left as they were otherwise (a shift smaller than what it could
be wrong by would add noise, not remove it). On one machine (the local cluster, kind) the
offset is zero within the uncertainty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import runfolder
from harness.records import merge_worker_files


@dataclass(frozen=True, slots=True)
class ClockReading:
    offset_s: float  # the node's clock minus this machine's
    uncertainty_s: float  # half the round trip of the probe it comes from
    probes: int = 1

    @property
    def applied_s(self) -> float:
        """What the node's records are moved by: ``-offset_s`` if it is measurable, else 0."""
        return -self.offset_s if abs(self.offset_s) > self.uncertainty_s else 0.0


def cristian(before: float, remote: float, after: float) -> ClockReading:
    """One probe: this machine's time ``before`` and ``after`` reading the remote clock."""
    return ClockReading(remote - (before + after) / 2, (after - before) / 2)


def best(readings: list[ClockReading]) -> ClockReading:
    """The reading of the shortest round trip (the tightest bound), with the probes counted."""
    chosen = min(readings, key=lambda r: r.uncertainty_s)
    return ClockReading(chosen.offset_s, chosen.uncertainty_s, len(readings))


@dataclass(frozen=True)
class Clocks:
    nodes: dict[str, ClockReading] = field(default_factory=dict)  # node -> its reading
    workers: dict[int, dict[str, Any]] = field(default_factory=dict)  # worker -> pod, node

    def shifts(self) -> dict[int, float]:
        """Worker number -> seconds its records are moved by (only those that move)."""
        moved = {}
        for worker, where in self.workers.items():
            reading = self.nodes.get(str(where.get("node") or ""))
            if reading is not None and reading.applied_s:
                moved[worker] = reading.applied_s
        return moved

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": {
                node: {
                    "offset_s": round(r.offset_s, 6),
                    "uncertainty_s": round(r.uncertainty_s, 6),
                    "probes": r.probes,
                    "applied_s": round(r.applied_s, 6),
                }
                for node, r in sorted(self.nodes.items())
            },
            "workers": {str(k): v for k, v in sorted(self.workers.items())},
        }


def read_clocks(path: Path) -> Clocks:
    """The clocks file of an order; an absent or unreadable one is no clocks (nothing moves)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        nodes = {
            str(node): ClockReading(
                float(r["offset_s"]), float(r["uncertainty_s"]), int(r.get("probes", 1))
            )
            for node, r in (data.get("nodes") or {}).items()
        }
        workers = {int(k): dict(v) for k, v in (data.get("workers") or {}).items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return Clocks()
    return Clocks(nodes, workers)


def join_records(run_dir: Path, order: str) -> None:
    """Joins an order's per-worker records (if any), each moved by its node's clock offset."""
    clocks = read_clocks(run_dir / runfolder.clocks_name(order))
    merge_worker_files(run_dir / runfolder.records_name(order), clocks.shifts())
