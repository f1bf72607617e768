"""`--verify-fix` on the real local cluster: close-first's fix (a preStop sleep, given by hand
through run_experiment's fix source) runs as close-first+fix, its objects named
drainlab-sample-close-first-fix, and drops nothing where close-first dropped."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers.e2e import assert_lifecycle_order, pods

from harness.appspec import Variant
from harness.backends.clusters.local import LocalCluster
from harness.backends.select import Choice
from harness.console import Console
from harness.fixes.model import Fix
from harness.run import run_experiment
from harness.scenario import Kube, Scenario, Traffic

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# The sample prestop order's sleep: well past the endpoint's removal reaching kube-proxy.
FIX = Variant(prestop_sleep_s=5.0, grace_period_s=35.0)


def _fixes(summary: Any, run_dir: Path, scenario: Scenario) -> dict[str, Fix]:
    return {"close-first": Fix(variant="close-first", change=FIX)}


def test_close_firsts_fix_drops_nothing_on_a_real_cluster(
    local_cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_cluster.kubeconfig))
    namespace = f"drainlab-verify-{uuid.uuid4().hex[:6]}"  # a namespace of its own
    scenario = Scenario(
        orders=["close-first"],
        replicas=3,
        duration_s=14.0,
        seed=3,
        traffic=Traffic(users=6, keepalive=False),
        kube=Kube(context=local_cluster.context, namespace=namespace),
    )
    scenario.chaos.count = 2
    scenario.chaos.every_s = 4.0
    journal = asyncio.run(
        run_experiment(
            scenario, Choice("kube", "test"), tmp_path, Console(io.StringIO()), None, _fixes
        )
    )
    run_dir = journal.run_dir
    summary = json.loads((run_dir / "summary.json").read_text())
    before, after = summary["orders"]["close-first"], summary["orders"]["close-first+fix"]
    assert before["deletions"] == after["deletions"] == 2
    assert before["failed"] > 0
    assert after["requests"] > 100 and after["failed"] == 0
    rows = pods(run_dir, "close-first+fix")
    assert all(r["pod"].startswith("drainlab-sample-close-first-fix-") for r in rows)
    deleted, _ = assert_lifecycle_order(rows, slack_s=1.0)
    assert deleted == 2
    assert summary["verify"]["close-first"]["after"]["failed"] == 0
    assert '<section id="before-after"' in (run_dir / "report.html").read_text()
