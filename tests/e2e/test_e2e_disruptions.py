"""`harness run` on the embedded backend with the disruption actions of issue 19 and the
endpoint-semantics profiles: short runs (6-12 s of load), asserting on counts and events.

Each scenario is made so that its outcome follows from the model, not from lucky timing: the
propagation delay is fixed, and where replacements must come late their readiness probe waits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.e2e import run_harness

from harness.records import read_records
from harness.timeline import EventKind, TimelineEvent, read_timeline

pytestmark = pytest.mark.slow

FIXED_PROPAGATION = {"propagation_min_s": 0.5, "propagation_max_s": 0.5}


def _run(
    tmp_path: Path, orders: str, scenario: dict[str, Any], *more: str
) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return run_harness(
        ["--backend", "embedded", "--orders", orders, "--scenario", str(path), *more],
        out,
        timeout_s=400,
    )


def _events(run_dir: Path, order: str, kind: str) -> list[TimelineEvent]:
    return [e for e in read_timeline(run_dir / f"timeline-{order}.jsonl") if e.kind == kind]


def _action(run_dir: Path, order: str) -> list[dict[str, Any]]:
    return [e.detail for e in _events(run_dir, order, EventKind.CHAOS_ACTION)]


def test_scale_down_drops_for_naive_and_not_for_graceful(tmp_path: Path) -> None:
    run_dir, summary = _run(
        tmp_path,
        "naive,graceful",
        {
            "duration_s": 12,
            "embedded": FIXED_PROPAGATION,
            "chaos": {"action": "scale_down", "at_s": [2, 7], "restore_after_s": 3},
        },
    )
    assert summary["orders"]["naive"]["failed"] > 0
    assert summary["orders"]["graceful"]["failed"] == 0
    for order in ("naive", "graceful"):
        assert [a["to"] for a in _action(run_dir, order)] == [2, 2]
        scaled = [(e.detail["from"], e.detail["to"]) for e in _events(run_dir, order, "scaled")]
        assert scaled == [(3, 2), (2, 3), (3, 2), (2, 3)]
        deleted = _events(run_dir, order, EventKind.DELETE_REQUESTED)
        assert [e.detail["stopped_by"] for e in deleted] == ["scale_down", "scale_down"]
    # Every drop of naive is its scale-downs': none outside their windows.
    naive = summary["orders"]["naive"]
    assert list(naive["by_action"]) == ["scale_down"]
    assert naive["by_action"]["scale_down"]["stops"] == 2
    assert naive["by_action"]["scale_down"]["failed"] == naive["failed"]
    assert naive["failures_by_phase"]["unattributed"] == 0


def test_crash_drops_for_every_order_only_before_readiness_fails(tmp_path: Path) -> None:
    orders = ["naive", "close-first", "prestop", "graceful"]
    run_dir, summary = _run(
        tmp_path,
        ",".join(orders),
        {
            "duration_s": 10,
            "embedded": FIXED_PROPAGATION,
            "chaos": {"action": "crash", "at_s": [2, 6]},
        },
    )
    for order in orders:
        assert summary["orders"][order]["failed"] > 0, order
        crashes = _events(run_dir, order, EventKind.POD_CRASHED)
        assert len(crashes) == 2
        assert _events(run_dir, order, EventKind.DELETE_REQUESTED) == []
        assert _events(run_dir, order, EventKind.PRESTOP_STARTED) == []
        # The window of each crash: from the SIGKILL until the proxy stopped routing to the pod.
        windows = []
        for crash in crashes:
            applied = [
                e.ts
                for e in _events(run_dir, order, EventKind.REMOVAL_APPLIED)
                if e.pod == crash.pod and e.ts >= crash.ts
            ]
            windows.append((crash.ts, applied[0]))
        failed = [r for r in read_records(run_dir / f"records-{order}.jsonl") if r.error]
        outside = [r for r in failed if not any(r.end >= a and r.start <= b for a, b in windows)]
        assert outside == [], (order, outside[:3])
        restarted = _events(run_dir, order, EventKind.CONTAINER_RESTARTED)
        assert len(restarted) == 2
        # The analysis attributes every drop to the crashes, none is unattributed.
        entry = summary["orders"][order]
        assert entry["by_action"] == {"crash": entry["by_action"]["crash"]}, order
        assert entry["by_action"]["crash"]["stops"] == 2
        assert entry["by_action"]["crash"]["failed"] == entry["failed"], order
        assert entry["failures_by_phase"]["unattributed"] == 0, order
        assert [d["stopped_by"] for d in entry["per_deletion"]] == ["crash", "crash"]


def test_evict_is_blocked_by_a_budget_of_every_replica_and_evicts_without_one(
    tmp_path: Path,
) -> None:
    chaos = {"action": "evict", "at_s": [2], "evict_retry_s": 1, "evict_timeout_s": 2.5}
    scenario: dict[str, Any] = {
        "duration_s": 6,
        "chaos": chaos,
        "app": {"pdb": {"min_available": 3}},
    }
    run_dir, summary = _run(tmp_path, "graceful", scenario)
    (action,) = _action(run_dir, "graceful")
    assert action["blocked"] is True and action["evicted"] is False
    assert action["attempts"] == 3 and action["status"] == 429
    blocked = _events(run_dir, "graceful", EventKind.EVICTION_BLOCKED)
    assert [e.detail["attempt"] for e in blocked] == [1, 2, 3]
    assert all(e.detail["status"] == 429 for e in blocked)
    assert _events(run_dir, "graceful", EventKind.DELETE_REQUESTED) == []
    assert summary["orders"]["graceful"]["failed"] == 0

    del scenario["app"]
    run_dir, _ = _run(tmp_path, "graceful", scenario)
    (action,) = _action(run_dir, "graceful")
    assert action["evicted"] is True and action["attempts"] == 1
    assert _events(run_dir, "graceful", EventKind.EVICTION_BLOCKED) == []
    (deleted,) = _events(run_dir, "graceful", EventKind.DELETE_REQUESTED)
    assert deleted.detail["stopped_by"] == "evict"


def test_drain_without_a_budget_leaves_no_ready_pod_and_with_one_keeps_serving(
    tmp_path: Path,
) -> None:
    # The node stays cordoned until the load has stopped: then the run uncordons it, and the
    # replacements get ready for the pods to settle.
    chaos = {"action": "drain_node", "at_s": [2], "evict_retry_s": 1, "evict_timeout_s": 3}
    scenario: dict[str, Any] = {"duration_s": 8, "embedded": FIXED_PROPAGATION, "chaos": chaos}
    run_dir, summary = _run(tmp_path, "graceful", scenario)
    (action,) = _action(run_dir, "graceful")
    assert action["node"] == "embedded" and len(action["evicted"]) == 3
    assert action["blocked"] == []
    assert len(_events(run_dir, "graceful", EventKind.NODE_CORDONED)) == 1
    # Replacements cannot be scheduled: once the endpoints are gone nothing serves, and the
    # Service proxy rejects every new connection (a reset: kube-proxy's REJECT, see proxy.py).
    load_stopped = _events(run_dir, "graceful", EventKind.LOAD_STOPPED)[0].ts
    assert [
        e for e in _events(run_dir, "graceful", EventKind.POD_READY)[3:] if e.ts < load_stopped
    ] == []
    (uncordoned,) = _events(run_dir, "graceful", EventKind.NODE_UNCORDONED)
    assert uncordoned.ts >= load_stopped
    graceful = summary["orders"]["graceful"]
    assert graceful["failures_by_class"]["connection_reset"] > 0
    deleted = _events(run_dir, "graceful", EventKind.DELETE_REQUESTED)
    assert {e.detail["stopped_by"] for e in deleted} == {"drain"}

    scenario["app"] = {"pdb": {"max_unavailable": 1}}
    run_dir, summary = _run(tmp_path, "graceful", scenario)
    (action,) = _action(run_dir, "graceful")
    assert len(action["evicted"]) == 1 and len(action["blocked"]) == 2
    assert _events(run_dir, "graceful", EventKind.EVICTION_BLOCKED)
    assert summary["orders"]["graceful"]["failed"] == 0


def _delete_all(tmp_path: Path, version: str) -> dict[str, Any]:
    # Replacements get ready 2.5 s after they start: longer than the graceful order keeps
    # passing its readiness, shorter than the prestop order's 5 s preStop sleep. A new
    # connection per request, so that every request meets the Service's endpoints (kept
    # connections stay on their terminating pod whatever the profile).
    _, summary = _run(
        tmp_path,
        "prestop,graceful",
        {
            "duration_s": 9,
            "embedded": {**FIXED_PROPAGATION, "kubernetes_version": version},
            "app": {"readiness": {"initial_delay_s": 2.5}},
            "chaos": {"action": "delete_all", "at_s": [3]},
        },
        "--new-connections",
    )
    return summary


def _failed(summary: dict[str, Any]) -> dict[str, int]:
    return {order: summary["orders"][order]["failed"] for order in ("prestop", "graceful")}


def test_profile_1_28_graceful_drops_what_prestop_serves_from_terminating_pods(
    tmp_path: Path,
) -> None:
    summary = _delete_all(tmp_path, "1.28")
    failed = _failed(summary)
    assert failed["prestop"] == 0  # its terminating pods still serve: the fallback of KEP-1669
    assert failed["graceful"] > 0  # its readiness failed at SIGTERM: it opted out of the fallback
    semantics = summary["semantics"]
    assert (semantics["source"], semantics["version"]) == ("embedded profile", "1.28")
    assert semantics["fallback"] is True and semantics["conditions_seen"] is True
    graceful, prestop = summary["orders"]["graceful"], summary["orders"]["prestop"]
    finding = graceful["fallback_disabled"]
    assert 0 < finding["failed"] <= graceful["failures_by_phase"]["no_ready_replica"]
    assert finding["pods"] and "KEP-1669" in finding["why"]
    assert "fallback_disabled" not in prestop


def test_profile_1_20_drops_for_both_when_every_replica_terminates(tmp_path: Path) -> None:
    summary = _delete_all(tmp_path, "1.20")
    failed = _failed(summary)
    assert failed["prestop"] > 0 and failed["graceful"] > 0  # no endpoint until replacements
    semantics = summary["semantics"]
    assert semantics["fallback"] is False and semantics["conditions_seen"] is False
    assert not any("fallback_disabled" in o for o in summary["orders"].values())
