"""The disruption actions of issue 19 end to end on the real local cluster (v1.20: the Eviction
API's policy/v1beta1, a PodDisruptionBudget, the ReplicaSet controller, the kubelet's restarts,
kube-proxy): what each does to the sample app's variants, from real watches and traffic.

The cluster has one node, so a drained node's replacements cannot be scheduled until the run
uncordons it: without a budget nothing is left to serve; with one, the budget blocks the drain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.e2e import run_harness

from harness.backends.clusters.local import LocalCluster
from harness.timeline import EventKind, TimelineEvent, read_timeline

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

LOAD = ["--new-connections", "--users", "8"]  # every request meets the Service's routing


def _run(tmp_path: Path, orders: str, scenario: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    args = ["--backend", "local", "--orders", orders, "--scenario", str(path), *LOAD]
    return run_harness(args, folder, timeout_s=900)


def _events(run_dir: Path, order: str, kind: str) -> list[TimelineEvent]:
    return [e for e in read_timeline(run_dir / f"timeline-{order}.jsonl") if e.kind == kind]


def _actions(run_dir: Path, order: str) -> list[dict[str, Any]]:
    return [e.detail for e in _events(run_dir, order, EventKind.CHAOS_ACTION)]


def test_evict_with_a_budget_of_every_replica_is_blocked_with_429_and_retried(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    chaos = {"action": "evict", "at_s": [2], "evict_retry_s": 1, "evict_timeout_s": 3.5}
    scenario = {"duration_s": 8, "chaos": chaos, "app": {"pdb": {"min_available": 3}}}
    run_dir, summary = _run(tmp_path, "graceful", scenario)
    (action,) = _actions(run_dir, "graceful")
    assert action["blocked"] is True and action["evicted"] is False
    assert action["status"] == 429 and action["attempts"] >= 3
    blocked = _events(run_dir, "graceful", EventKind.EVICTION_BLOCKED)
    assert [e.detail["attempt"] for e in blocked] == list(range(1, action["attempts"] + 1))
    assert {e.detail["status"] for e in blocked} == {429}
    assert _events(run_dir, "graceful", EventKind.DELETE_REQUESTED) == []
    assert summary["orders"]["graceful"]["failed"] == 0


def test_drain_without_a_budget_leaves_no_ready_replica_and_with_one_keeps_serving(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    chaos = {"action": "drain_node", "at_s": [3], "evict_retry_s": 1, "evict_timeout_s": 4}
    scenario: dict[str, Any] = {"duration_s": 10, "chaos": chaos}
    run_dir, summary = _run(tmp_path, "graceful", scenario)
    (action,) = _actions(run_dir, "graceful")
    assert len(action["evicted"]) == 3 and action["blocked"] == []
    assert len(_events(run_dir, "graceful", EventKind.NODE_CORDONED)) == 1
    (uncordoned,) = _events(run_dir, "graceful", EventKind.NODE_UNCORDONED)
    assert uncordoned.ts >= _events(run_dir, "graceful", EventKind.LOAD_STOPPED)[0].ts
    graceful = summary["orders"]["graceful"]
    assert graceful["failures_by_phase"]["no_ready_replica"] > 0
    deleted = _events(run_dir, "graceful", EventKind.DELETE_REQUESTED)
    assert {e.detail["stopped_by"] for e in deleted} == {"drain"}

    scenario["app"] = {"pdb": {"max_unavailable": 1}}
    run_dir, summary = _run(tmp_path, "graceful", scenario)
    (action,) = _actions(run_dir, "graceful")
    assert len(action["evicted"]) == 1 and len(action["blocked"]) == 2
    assert {e.detail["status"] for e in _events(run_dir, "graceful", "eviction_blocked")} == {429}
    assert summary["orders"]["graceful"]["failed"] == 0


def test_scale_down_drops_for_naive_and_not_for_graceful(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    chaos = {"action": "scale_down", "at_s": [2, 7, 12, 17], "restore_after_s": 2.5}
    run_dir, summary = _run(tmp_path, "naive,graceful", {"duration_s": 20, "chaos": chaos})
    assert summary["orders"]["naive"]["failed"] > 0
    assert summary["orders"]["graceful"]["failed"] == 0
    for order in ("naive", "graceful"):
        deleted = _events(run_dir, order, EventKind.DELETE_REQUESTED)
        assert [e.detail["stopped_by"] for e in deleted] == ["scale_down"] * 4, order


def test_crash_drops_for_every_variant_until_readiness_fails(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    orders = ["naive", "close-first", "prestop", "graceful"]
    chaos = {"action": "crash", "at_s": [2, 7]}
    run_dir, summary = _run(tmp_path, ",".join(orders), {"duration_s": 10, "chaos": chaos})
    for order in orders:
        assert summary["orders"][order]["failed"] > 0, order
        assert len(_events(run_dir, order, EventKind.POD_CRASHED)) == 2, order
        assert _events(run_dir, order, EventKind.DELETE_REQUESTED) == [], order
        assert len(_events(run_dir, order, EventKind.CONTAINER_RESTARTED)) >= 2, order
