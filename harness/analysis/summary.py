"""summary.json v1 (docs/summary-v1.md): the per-order block and the recommendation.

The orchestrator adds what the analysis cannot know (partial, backend, scenario, versions,
times). Entry points, all pure and all one pass over the records:

- ``build_summary({order: (records, timeline, window)})``: the whole analysis part of the file;
- ``analyse_order`` / ``analyse_order_file``: one order's block and its pods-<order>.jsonl rows
  (the file variant streams the JSONL and keeps no record in memory), then
  ``summary_of_orders`` pools the orders' blocks into the same result as ``build_summary``.

Each block has ``outage`` (harness.analysis.outage: seconds without a successful request, per
deletion and per user, under the run's load model, ``load``), and the pooled result ranks the
orders by it (``ranking``, ``ranking_reason``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import runfolder
from harness.analysis.basis import phase_basis_block
from harness.analysis.clientnodes import client_nodes
from harness.analysis.dataplane import data_plane_states
from harness.analysis.deletions import Deletion, deleted
from harness.analysis.evidence import comparisons_block, confidence_block
from harness.analysis.loadworkers import worker_deaths
from harness.analysis.outage import OutageScan, outage_block, rank, ranking_reasons
from harness.analysis.pipeline import analyse_rows
from harness.analysis.pods import lifecycle_rows
from harness.analysis.propagation import propagation_block
from harness.analysis.proxygap import per_deletion_keys
from harness.analysis.recommend import PropagationSample, recommend
from harness.analysis.scan import RecordScan, rows_of
from harness.analysis.semantics import fallback_disabled, opted_out
from harness.analysis.stats import latency_block
from harness.load.pacing import Load
from harness.records import RequestRecord, Row, read_rows
from harness.samples import Sample, read_samples
from harness.timeline import TimelineEvent

# The run's observation window for one order (load started, load stopped), unix seconds.
Window = tuple[float, float]
OrderInput = tuple[Iterable[RequestRecord], Iterable[TimelineEvent], Window]


@dataclass(frozen=True, slots=True)
class OrderAnalysis:
    summary: dict[str, Any]  # orders.<order> of summary.json
    pods: list[dict[str, Any]]  # the rows of pods-<order>.jsonl


def build_summary(per_order: Mapping[str, OrderInput]) -> dict[str, Any]:
    """schema_version, orders and the recommendation, from each order's (records, timeline,
    window)."""
    return summary_of_orders(
        {order: build_order_summary(order, *inputs) for order, inputs in per_order.items()}
    )


def summary_of_orders(order_summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """schema_version, orders and the recommendation, which pools every order's deletions (their
    ``per_deletion[].propagation_ms``), then the comparisons between every pair of orders."""
    samples = [
        PropagationSample(
            d["propagation_ms"],
            d["propagation_to"],
            d.get("propagation_method"),
            d.get("propagation_node"),
            d.get("propagation_by_node"),
        )
        for summary in order_summaries.values()
        for d in summary["per_deletion"]
        if d["propagation_ms"] is not None
    ]
    return {
        "schema_version": runfolder.SCHEMA_VERSION,
        "orders": {order: dict(summary) for order, summary in order_summaries.items()},
        "recommendation": recommend(samples, _not_measured(order_summaries)),
        "comparisons": comparisons_block(order_summaries),
        **_ranking(order_summaries),
    }


def _not_measured(order_summaries: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why the proxy's moment was not measured, each order's reason once."""
    reasons: list[str] = []
    for summary in order_summaries.values():
        plane = (summary.get("propagation_ms") or {}).get("data_plane") or {}
        reason = plane.get("reason")
        if isinstance(reason, str) and reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons) or None


# A run whose load model is not known (an older run folder, a test): today's default.
DEFAULT_LOAD = Load("paced", None)


def build_order_summary(
    order: str,
    records: Iterable[RequestRecord],
    timeline: Iterable[TimelineEvent],
    window: Window,
    load: Load = DEFAULT_LOAD,
    new_connections: bool | None = None,
    *,
    fallback: bool = False,
) -> dict[str, Any]:
    return analyse_order(
        order, records, timeline, window, load, new_connections, fallback=fallback
    ).summary


def analyse_order(
    order: str,
    records: Iterable[RequestRecord],
    timeline: Iterable[TimelineEvent],
    window: Window,
    load: Load = DEFAULT_LOAD,
    new_connections: bool | None = None,
    *,
    fallback: bool = False,
) -> OrderAnalysis:
    """One order's summary block and pod rows, in one pass over ``records`` (any iterable: a
    generator is never turned into a list). ``new_connections``: whether every request opened
    a new connection (``proxygap.new_connection_per_request``; None: not known). ``fallback``:
    whether the run's endpoint semantics had the serving-terminating fallback (summary.json's
    ``semantics.fallback``)."""
    outage = OutageScan()
    rows = rows_of(_feeding(records, outage))
    return _analyse(
        order, rows, timeline, window, _Outage(outage, (), load), new_connections, fallback
    )


def analyse_order_file(
    order: str,
    records_path: Path,
    timeline: Iterable[TimelineEvent],
    window: Window,
    load: Load = DEFAULT_LOAD,
    new_connections: bool | None = None,
    *,
    fallback: bool = False,
) -> OrderAnalysis:
    """As ``analyse_order``, streaming records-<order>.jsonl: memory does not grow with the
    number of records beyond 8 bytes per successful request (its latency) and 8 per request
    for the outage measures, which read the JSONL a second time (the rows file has no user)."""
    outage = _Outage(OutageScan(), read_samples(records_path), load)
    rows = read_rows(records_path)
    analysis = _analyse(order, rows, timeline, window, outage, new_connections, fallback)
    clocks = records_path.parent / runfolder.clocks_name(order)
    if nodes := client_nodes(records_path, analysis.summary["per_deletion"], clocks):
        analysis.summary["by_client_node"] = nodes  # analysis/clientnodes.py
    return analysis


@dataclass(frozen=True, slots=True)
class _Outage:
    scan: OutageScan
    samples: Iterable[Sample]  # fed to ``scan`` after the rows (none when the rows feed it)
    load: Load


def _feeding(records: Iterable[RequestRecord], outage: OutageScan) -> Iterable[RequestRecord]:
    """``records``, each also given to ``outage`` on its way: one pass serves both."""
    add = outage.add
    for record in records:
        add(record.start, record.end, record.error is not None, record.user)
        yield record


def _analyse(
    order: str,
    rows: Iterable[Row],
    timeline: Iterable[TimelineEvent],
    window: Window,
    outage: _Outage,
    new_connections: bool | None,
    fallback: bool,
) -> OrderAnalysis:
    start, end = window
    index, deletions, scan = analyse_rows(rows, timeline, end)
    outage.scan.add_all(outage.samples)
    summary = {
        "requests": scan.requests,
        "failed": scan.failed,
        "failure_rate": scan.failed / scan.requests if scan.requests else None,
        "failures_by_class": scan.by_class,
        "failures_by_phase": scan.by_phase,
        "deletions": len(deletions),
        "confidence": _confidence(len(deletions), scan),
        "per_deletion": _per_deletion(deletions, scan),
        "by_action": by_action(deletions, scan.per_deletion),
        # A crash has no SIGTERM and no delete call: what the phases rest on, and the
        # propagation, are the deletions' alone.
        "phase_basis": phase_basis_block(deleted(deletions)),
        "latency_ms": latency_block(scan.latencies, "no request succeeded"),
        "latency_ms_around_deletions": latency_block(
            scan.around,
            "no deletion" if not deletions else "no request succeeded around a deletion",
        ),
        "propagation_ms": propagation_block(
            deleted(deletions),
            scan.last_served,
            scan.last_started,
            data_plane_states(index.events),
            new_connections,
        ),
        "outage": _outage_block(outage, deletions, window),
        "window": {"start": start, "end": end},
        "files": {
            "records": f"records-{order}.jsonl",
            "timeline": f"timeline-{order}.jsonl",
            "pods": f"pods-{order}.jsonl",
        },
    }
    if deaths := worker_deaths(index.events, start):
        summary["load_worker_deaths"] = deaths  # analysis/loadworkers.py
    if finding := fallback_disabled(opted_out(index, deletions), scan.no_ready_ends, fallback):
        summary["fallback_disabled"] = finding  # analysis/semantics.py
    pods = lifecycle_rows(index, order, deletions, scan)
    return OrderAnalysis(summary=summary, pods=pods)


def _confidence(deletions: int, scan: RecordScan) -> dict[str, Any]:
    return confidence_block(
        scan.requests,
        scan.failed,
        deletions,
        scan.requests_in_windows,
        scan.failures_in_windows,
    )


def _per_deletion(deletions: Sequence[Deletion], scan: RecordScan) -> list[dict[str, Any]]:
    return [
        {
            "pod": d.pod,
            "ts": d.requested,
            "stopped_by": d.stopped_by,
            "failed": sum(by_phase.values()),
            "by_phase": by_phase,
            "sigterm": d.sigterm,
            "removal": d.removal,
            "exit": d.gone,
            "window_end": d.window_end if math.isfinite(d.window_end) else None,
            "window_open": d.window_open,
            "propagation_ms": d.propagation_ms,
            "propagation_to": d.propagation_to,
            "basis": dict(d.basis),
            **per_deletion_keys(d),
        }
        for d, by_phase in zip(deletions, scan.per_deletion, strict=True)
    ]


def by_action(
    deletions: Sequence[Deletion], per_deletion: Sequence[Mapping[str, int]]
) -> dict[str, dict[str, Any]]:
    """orders.<v>.by_action: per action that stopped pods (in the order each first did), its
    stops and their failures, by phase. Failures outside every stop's window are in none."""
    block: dict[str, dict[str, Any]] = {}
    for d, by_phase in zip(deletions, per_deletion, strict=True):
        entry = block.setdefault(
            d.stopped_by, {"stops": 0, "failed": 0, "by_phase": dict.fromkeys(by_phase, 0)}
        )
        entry["stops"] += 1
        entry["failed"] += sum(by_phase.values())
        for phase, n in by_phase.items():
            entry["by_phase"][phase] += n
    return block


def _outage_block(outage: _Outage, deletions: Sequence[Deletion], window: Window) -> dict[str, Any]:
    """orders.<v>.outage (harness.analysis.outage): seconds without a successful request, per
    deletion over the same windows as the phases, per user, and per second of offered load."""
    windows = [(d.pod, d.requested, d.window_end) for d in deletions]
    return outage_block(outage.scan, windows, window, outage.load)


def _ranking(order_summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The top-level ranking (best first) and one sentence per variant on why it ranks there."""
    outages = {order: dict(s.get("outage") or {}) for order, s in order_summaries.items()}
    ranking = rank(outages)
    return {"ranking": ranking, "ranking_reason": ranking_reasons(outages, ranking)}
