"""The load by client node (traffic.from: cluster): each node's kube-proxy routes its own
clients' connections, and nodes catch up with an endpoint's removal at different moments
(kubernetes/kubernetes#28674), so failures and propagation are counted per node whose pods sent
the requests (the records' ``client_node``, harness.records).

For each node, the summary's ``by_client_node`` block: requests, failed, by class, how many of the
failures fell in a stop's window ([D, E], the deletions' own), and ``routed_after_removal_ms``:
the longest a deleted pod still answered this node's clients after its removal from routing
(R), over the order's deletions: a node whose proxy was late shows it here. The clock of each
node against the harness's (``clocks-<order>.json``, harness.load.clocks) is stated beside: the
records were moved by it when it was measurable.

Pure but for reading the files: one more streaming pass over the records, only when the records
say which node sent them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from harness.load.clocks import read_clocks


def client_nodes(
    records_path: Path, per_deletion: Sequence[Mapping[str, Any]], clocks_path: Path
) -> dict[str, dict[str, Any]] | None:
    """``by_client_node``, or None when no record names its client's node."""
    windows = [
        (float(d["ts"]), float(d["window_end"]) if d.get("window_end") is not None else math.inf)
        for d in per_deletion
        if isinstance(d.get("ts"), (int, float))
    ]
    removal = {
        str(d["pod"]): float(d["removal"])
        for d in per_deletion
        if isinstance(d.get("removal"), (int, float))
    }
    nodes: dict[str, dict[str, Any]] = {}
    last_served: dict[tuple[str, str], float] = {}  # (node, deleted pod) -> last end it answered
    with records_path.open("rb") as lines:
        for line in lines:
            try:
                data = orjson.loads(line)
                node, end, error = data["client_node"], float(data["end"]), data.get("error")
            except (ValueError, KeyError, TypeError):
                continue
            if not isinstance(node, str):
                continue
            entry = nodes.setdefault(node, _empty())
            entry["requests"] += 1
            client = data.get("client_pod")
            if isinstance(client, str):
                entry["clients"].add(client)
            if error is not None:
                entry["failed"] += 1
                by_class = entry["failures_by_class"]
                by_class[str(error)] = by_class.get(str(error), 0) + 1
                if any(start <= end <= stop for start, stop in windows):
                    entry["failed_during_stops"] += 1
            elif (pod := data.get("pod")) in removal:
                key = (node, str(pod))
                last_served[key] = max(last_served.get(key, end), end)
    if not nodes:
        return None
    clocks = read_clocks(clocks_path).nodes
    for node, entry in nodes.items():
        late = [end - removal[pod] for (n, pod), end in last_served.items() if n == node]
        entry["routed_after_removal_ms"] = (
            round(max(0.0, *late) * 1000, 1) if late else (0.0 if removal else None)
        )
        entry["failure_rate"] = entry["failed"] / entry["requests"]
        entry["clients"] = sorted(entry["clients"])
        reading = clocks.get(node)
        entry["clock"] = (
            None
            if reading is None
            else {
                "offset_ms": round(reading.offset_s * 1000, 3),
                "uncertainty_ms": round(reading.uncertainty_s * 1000, 3),
                "applied_ms": round(reading.applied_s * 1000, 3),
            }
        )
    return dict(sorted(nodes.items()))


def _empty() -> dict[str, Any]:
    return {
        "requests": 0,
        "failed": 0,
        "failures_by_class": {},
        "failed_during_stops": 0,
        "clients": set(),
    }
