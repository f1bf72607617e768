"""`--verify-fix` on the real local cluster: close-first's fix, derived from the run's
measurements (harness.verify.measured_fixes: a preStop sleep, spelled for v1.20 as exec of
sleep), runs as close-first+fix, its objects named drainlab-sample-close-first-fix, and drops
nothing where close-first dropped."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from pathlib import Path

import pytest
from helpers.e2e import assert_lifecycle_order, pods

from harness.backends.clusters.local import LocalCluster
from harness.backends.select import Choice
from harness.console import Console
from harness.run import run_experiment
from harness.scenario import Kube, Scenario, Traffic
from harness.verify import measured_fixes

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_close_firsts_fix_drops_nothing_on_a_real_cluster(
    local_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_cluster.kubeconfig))
    namespace = f"drainlab-verify-{uuid.uuid4().hex[:6]}"  # a namespace of its own
    scenario = Scenario(
        orders=["close-first"],
        replicas=3,
        duration_s=20.0,
        seed=3,
        traffic=Traffic(users=6, keepalive=False),
        kube=Kube(context=local_cluster.context, namespace=namespace),
    )
    # Five deletions: the recommendation needs three with an observed endpoint removal.
    scenario.chaos.count = 5
    scenario.chaos.every_s = 3.0
    journal = asyncio.run(
        run_experiment(
            scenario, Choice("kube", "test"), tmp_path, Console(io.StringIO()), None, measured_fixes
        )
    )
    run_dir = journal.run_dir
    summary = json.loads((run_dir / "summary.json").read_text())
    before, after = summary["orders"]["close-first"], summary["orders"]["close-first+fix"]
    assert before["deletions"] == after["deletions"] == 5
    assert before["failed"] > 0
    assert after["requests"] > 100 and after["failed"] == 0
    rows = pods(run_dir, "close-first+fix")
    assert all(r["pod"].startswith("drainlab-sample-close-first-fix-") for r in rows)
    deleted, _ = assert_lifecycle_order(rows, slack_s=1.0)
    assert deleted == 5
    assert summary["fixes"]["close-first"]["fields"][0]["field"] == "preStop"
    assert (run_dir / "fix-close-first.yaml").exists()
    assert summary["verify"]["close-first"]["after"]["failed"] == 0
    assert '<section id="before-after"' in (run_dir / "report.html").read_text()
