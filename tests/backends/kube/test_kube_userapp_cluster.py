"""A user's app, given as a kustomize folder, through `harness run --backend kube` on the real
local cluster: Python's http.server (tests/helpers/userapp.py), which as PID 1 ignores SIGTERM.

Known behaviour, so known verdicts: it drops nothing (it keeps serving until the kubelet kills
it, long after its endpoint is gone) and is killed at the end of the grace period (exit code
137; slow: every deletion takes the whole grace period). The variants reach the pods: the
preStop sleep runs (the kubelet's Killing event starts the hook), and a strategic merge patch
that shortens the grace period is the grace period the pods get deleted with and killed after.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.e2e import run_harness
from helpers.userapp import deployment, service, write_folder

from harness.appspec import Variant
from harness.backends.base import DeploySpec
from harness.backends.clusters.local import LocalCluster
from harness.backends.kube import KubeBackend, manifests
from harness.backends.kube.adapt import DeployableApp
from harness.backends.kube.checks import Patience
from harness.errors import BackendError
from harness.jsonl import iter_jsonl
from harness.scenario import Kube

pytestmark = pytest.mark.cluster

GRACE_S = 6
SHORT_GRACE_S = 2
# The app's pods: the run's data-plane agent has pods of its own in the namespace.
ORDER_TUNED = "drainlab.dev/order=tuned"


def _timeline(run_dir: Path, variant: str) -> list[dict[str, Any]]:
    return list(iter_jsonl(run_dir / f"timeline-{variant}.jsonl"))


def _of(events: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """The first event of ``kind`` per pod."""
    first: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: e["ts"]):
        if event["kind"] == kind:
            first.setdefault(event["pod"], event)
    return first


@pytest.mark.slow
def test_a_users_app_that_ignores_sigterm_drops_nothing_and_is_killed_at_the_grace_period(
    local_cluster: LocalCluster, tmp_path: Path, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = write_folder(
        tmp_path / "app", deployment(grace_s=GRACE_S), service(), extra={"namePrefix": "shop-"}
    )
    (tmp_path / "fast-kill.yaml").write_text(
        yaml.safe_dump(
            {"spec": {"template": {"spec": {"terminationGracePeriodSeconds": SHORT_GRACE_S}}}}
        )
    )
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "app": {"manifests": str(app.relative_to(tmp_path))},
                "variants": {
                    "current": {},
                    "prestop": {"prestop_sleep_s": 2},
                    "tuned": {"patch": "fast-kill.yaml", "env": {"GREETING": "tuned"}},
                },
                # Three, so that one pod that was never deleted always serves: with two, the
                # second deletion may take the last ready pod while a slow node still starts
                # the first one's replacement (no_ready_replica: the scenario, not the app).
                "replicas": 3,
                "duration_s": 16,
                "traffic": {"users": 4, "slow_weight": 0, "keepalive": False},
                # Both kills land within the load: at 1 + 6 and 4 + 6 s.
                "chaos": {"count": 2, "start_after_s": 1, "every_s": 3},
                "gate": {"order": "current"},
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(local_cluster.kubeconfig))
    args = ["--backend", "kube", "--context", local_cluster.context, "--namespace", namespace]
    run_dir, summary = run_harness(
        [*args, "--scenario", str(scenario)], tmp_path / "out", timeout_s=600
    )
    results = summary["orders"]
    print("\nhttp.server on the local cluster:", json.dumps(
        {v: {k: r[k] for k in ("requests", "failed", "failures_by_class", "deletions")}
         for v, r in results.items()}
    ))  # fmt: skip
    assert list(results) == ["current", "prestop", "tuned"]
    for variant, result in results.items():
        assert result["deletions"] == 2, variant
        assert result["requests"] > 100, variant
        assert result["failed"] == 0, (variant, result["failures_by_class"])
        events = _timeline(run_dir, variant)
        deletes, kills = _of(events, "delete_requested"), _of(events, "killed")
        ends = {**_of(events, "exited"), **kills}
        assert len(deletes) == 2 and set(ends) >= set(deletes), variant
        assert kills, variant  # at least one kill seen as such (see below)
        grace = SHORT_GRACE_S if variant == "tuned" else GRACE_S
        for pod, delete in deletes.items():
            assert pod.startswith(f"shop-web-{variant}-")  # kustomize's prefix, drainlab's name
            # The pod's own grace period, read from the API at the delete: the patch's in tuned.
            assert delete["detail"]["grace_period_s"] == grace, variant
            end = ends[pod]
            # Killed at the end of the grace period, SIGTERM having done nothing. v1.20 may
            # report a killed container it already removed as ContainerStatusUnknown, without
            # its code (test_kube_cluster.py): then only the time says it.
            assert (end["detail"]["code"], end["kind"]) in ((137, "killed"), (None, "exited"))
            low = grace - 0.5
            high = grace + 3.0 if end["kind"] == "killed" else grace + 10.0
            assert low <= end["ts"] - delete["ts"] <= high, (variant, end)
        prestops = _of(events, "prestop_started")
        if variant == "prestop":
            assert set(prestops) >= set(deletes)  # the hook is in the pods' spec and ran
        else:
            assert not prestops, variant


def test_a_readiness_probe_that_never_passes_is_one_line_and_leaves_nothing(
    local_cluster: LocalCluster, tmp_path: Path, namespace: str, core: Any
) -> None:
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] = (
        "/readyz"
    )
    folder = write_folder(tmp_path / "app", dep, service())
    app = DeployableApp(manifests.load(folder), None, ("current",), sample=False)
    kube = Kube(
        context=local_cluster.context, namespace=namespace, node_host=local_cluster.node_host
    )
    backend = KubeBackend(
        kube, kubeconfig=local_cluster.kubeconfig, app=app, patience=Patience(readiness_s=5.0)
    )

    async def deploy() -> None:
        async with backend:
            await backend.deploy(DeploySpec("current", replicas=2), lambda event: None)

    with pytest.raises(BackendError) as caught:
        asyncio.run(deploy())
    assert str(caught.value) == "kube: readiness never passed: GET /readyz -> 404 on all 2 pods"
    assert not [ns for ns in core.list_namespace().items if ns.metadata.name == namespace]


def test_the_variant_reaches_the_pods_env_as_the_api_reads_it_back(
    local_cluster: LocalCluster, tmp_path: Path, namespace: str, core: Any
) -> None:
    patch = tmp_path / "patch.yaml"
    patch.write_text(
        "spec:\n  template:\n    spec:\n      containers:\n        - name: server\n"
        "          env: [{name: FROM_PATCH, value: 'yes'}]\n"
    )
    folder = write_folder(tmp_path / "app", deployment(), service())
    app = DeployableApp(manifests.load(folder), None, ("tuned",), sample=False)
    kube = Kube(
        context=local_cluster.context, namespace=namespace, node_host=local_cluster.node_host
    )
    change = Variant(patch=str(patch), env={"GREETING": "tuned"}, args=["--bind", "0.0.0.0"])

    async def deploy() -> list[Any]:
        async with KubeBackend(kube, kubeconfig=local_cluster.kubeconfig, app=app) as backend:
            await backend.deploy(DeploySpec("tuned", replicas=2, change=change), lambda e: None)
            return list(core.list_namespaced_pod(namespace, label_selector=ORDER_TUNED).items)

    pods = asyncio.run(deploy())
    assert len(pods) == 2
    for pod in pods:
        (container,) = pod.spec.containers
        env = {e.name: e.value for e in container.env}
        assert env == {"GREETING": "tuned", "FROM_PATCH": "yes"}
        assert container.args == ["--bind", "0.0.0.0"]
        assert pod.metadata.labels["app"] == "web"  # theirs, beside drainlab's
        assert pod.metadata.labels["drainlab.dev/order"] == "tuned"
