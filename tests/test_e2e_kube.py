"""`harness run --backend kube` end to end on the real local cluster (kube-apiserver, kubelet,
containerd, kube-proxy in iptables mode): drops and phases measured from real watches and logs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_helpers import assert_lifecycle_order, pods, run_harness

from harness.backends.localcluster import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_naive_drops_and_graceful_does_not_on_a_real_cluster(
    local_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_cluster.kubeconfig))
    assert os.environ["KUBECONFIG"] == str(local_cluster.kubeconfig)
    run_dir, summary = run_harness(
        [
            "--backend", "kube", "--context", local_cluster.context, "--orders", "naive,graceful",
            "--duration", "20", "--deletions", "5", "--new-connections", "--users", "8",
            "--gate", "graceful",
        ],
        tmp_path,
        timeout_s=900,
    )  # fmt: skip
    assert summary["backend"] == "kube"
    naive, graceful = summary["orders"]["naive"], summary["orders"]["graceful"]
    assert naive["deletions"] == 5 and graceful["deletions"] == 5
    assert naive["failed"] > 0
    assert graceful["requests"] > 100
    assert graceful["failed"] == 0
    # Phases come from real watches and the app's own log lines.
    assert naive["failures_by_phase"]["unattributed"] < naive["failed"]
    assert naive["propagation_ms"]["samples"] >= 4
    assert summary["recommendation"]["prestop_sleep_s"] is not None
    for order in ("naive", "graceful"):
        deleted, _ = assert_lifecycle_order(pods(run_dir, order), slack_s=1.0)
        assert deleted >= 4, order
    graceful_rows = [r for r in pods(run_dir, "graceful") if r["delete_requested"] is not None]
    assert any(r["listener_closed"] is not None for r in graceful_rows)
