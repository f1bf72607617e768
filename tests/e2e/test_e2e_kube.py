"""`harness run --backend kube` end to end on the real local cluster (kube-apiserver, kubelet,
containerd, kube-proxy in iptables mode): drops and phases measured from real watches and logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.e2e import ROOT, assert_lifecycle_order, pods, run_harness
from kubernetes import client
from kubernetes import config as _config

from harness.backends.clusters.local import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
config: Any = _config  # untyped loader


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


def test_a_run_killed_mid_order_does_not_get_in_the_way_of_the_next(
    local_cluster: LocalCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """SIGKILL leaves the order's Deployment and pods on the cluster (nothing can run after
    SIGKILL); the next run removes them, says so, and measures only its own pods."""
    monkeypatch.setenv("KUBECONFIG", str(local_cluster.kubeconfig))
    namespace = "drainlab-killed"
    common = ["--backend", "kube", "--context", local_cluster.context, "--namespace", namespace]
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "harness", "run", "--out", str(out), "--quiet", *common,
            "--orders", "graceful", "--duration", "60", "--deletions", "2",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("*/records-graceful.jsonl")) or _lines(out) < 50:
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait(30)
    api = config.new_client_from_config(
        config_file=str(local_cluster.kubeconfig), context=local_cluster.context
    )
    apps = client.AppsV1Api(api)
    request.addfinalizer(lambda: client.CoreV1Api(api).delete_namespace(namespace))
    assert apps.list_namespaced_deployment(namespace).items, "SIGKILL should leave the Deployment"

    again = subprocess.run(
        [
            sys.executable, "-m", "harness", "run", "--out", str(tmp_path / "next"), "--quiet",
            *common, "--orders", "graceful", "--duration", "10", "--deletions", "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "removing what an earlier run left in namespace drainlab-killed" in again.stderr
    (run_dir,) = list((tmp_path / "next").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    graceful = summary["orders"]["graceful"]
    assert graceful["deletions"] == 1 and graceful["failed"] == 0
    # Only the new run's pods are in its lifecycle table: its replicas and one replacement.
    assert len(pods(run_dir, "graceful")) == summary["scenario"]["replicas"] + 1
    assert not apps.list_namespaced_deployment(namespace).items


def _lines(out: Path) -> int:
    (path,) = out.glob("*/records-graceful.jsonl")
    return path.read_bytes().count(b"\n")
