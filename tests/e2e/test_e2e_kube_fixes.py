"""`harness run` on the local real cluster (v1.20): the fix of the variant that dropped is
spelled for the server it read (exec of sleep), says that the image has `sleep` (checked in a
running pod before teardown), and passes kubectl's client-side validation."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from helpers.e2e import run_harness

from harness.backends.clusters.local import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_the_fix_is_spelled_for_the_clusters_version_and_checked_there(
    local_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_cluster.kubeconfig))
    namespace = f"drainlab-t-fix-{uuid.uuid4().hex[:8]}"  # its own, made and deleted by the run
    run_dir, summary = run_harness(
        [
            "--backend", "kube", "--context", local_cluster.context, "--namespace", namespace,
            "--orders", "naive", "--duration", "20", "--deletions", "5", "--new-connections",
        ],
        tmp_path,
        timeout_s=600,
    )  # fmt: skip
    assert summary["orders"]["naive"]["failed"] > 0
    # Five deletions: the recommendation needs three with an observed endpoint removal.
    assert summary["recommendation"]["prestop_sleep_s"] is not None, summary["recommendation"]
    fix = summary["fixes"]["naive"]
    assert fix["file"] == "fix-naive.yaml", fix
    assert fix["server_version"] == "1.20"
    assert fix["sleep_binary"] == "present", fix
    assert fix["prestop_spelling"] == "exec sleep" and "server 1.20" in fix["prestop_spelling_why"]
    assert fix["validated"] == "client"  # the run's namespace is gone: said in a note
    assert any("no server dry run" in note for note in fix["notes"])
    patch = yaml.safe_load((run_dir / "fix-naive.yaml").read_text())
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    sleep = f"{summary['recommendation']['prestop_sleep_s']:g}"
    assert container["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", sleep]}}
