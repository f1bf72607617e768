"""``harness run --target deployment/NAME --namespace NS`` end to end on the local real cluster.

The test plays the user: it makes a namespace of its own with two Deployments of the sample app
(one naive, one graceful, each with a ClusterIP Service), then tests each as it runs. The load
goes through the NodePort twin of the user's Service, chaos deletes only that Deployment's pods,
the verdicts follow the shutdown orders, the user's objects are not changed, and nothing of
drainlab's is left in the namespace afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.e2e import ROOT, run_harness
from kubernetes import client
from kubernetes import config as _config

from harness.backends.clusters.local import LocalCluster
from harness.jsonl import iter_jsonl

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
config: Any = _config  # untyped loader

IMAGE = "drainlab/sample-app:0.1.0"
ORDERS = ("naive", "graceful")
# Three replicas, and at most two deletions for graceful: one of the pods that were ready at
# the start always serves, so a slow replacement (the endpoint controller can lag seconds on a
# busy machine) never leaves the Service without endpoints: the verdict is the shutdown's, not
# the capacity's. Naive drops on every deletion; five make its drops certain.
DELETIONS = {"naive": 5, "graceful": 2}


def _deployment(name: str, order: str) -> dict[str, Any]:
    labels = {"app": name}
    container = {
        "name": "web",
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "SHUTDOWN_ORDER", "value": order},
            {"name": "PORT", "value": "8080"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": 8080},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"team": "shop"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": {**labels, "tier": "web"}}, "spec": {
                "terminationGracePeriodSeconds": 30, "containers": [container]}},
        },
    }  # fmt: skip


def _service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"team": "shop"}},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]},
    }


@pytest.fixture
def shop(local_cluster: LocalCluster) -> Iterator[tuple[str, Any, Any]]:
    """The user's namespace with deployment/naive and deployment/graceful, each rolled out,
    and their Services; deleted after the test."""
    api = config.new_client_from_config(
        config_file=str(local_cluster.kubeconfig), context=local_cluster.context
    )
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = f"drainlab-t-shop-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    try:
        for order in ORDERS:
            apps.create_namespaced_deployment(ns, _deployment(order, order))
            core.create_namespaced_service(ns, _service(order))
        yield ns, core, apps
    finally:
        core.delete_namespace(ns)


def _snapshot(core: Any, apps: Any, ns: str) -> dict[str, Any]:
    """What the run must not change: each Deployment's generation, spec and metadata (its
    resourceVersion moves with its status, as pods go and come), each Service as it is."""
    seen: dict[str, Any] = {}
    for order in ORDERS:
        dep = api_dict(apps.read_namespaced_deployment(order, ns))
        meta = dep["metadata"]
        seen[f"deployment/{order}"] = (
            meta["generation"],
            meta.get("labels"),
            meta.get("annotations"),
            dep["spec"],
        )
        svc = api_dict(core.read_namespaced_service(order, ns))
        seen[f"service/{order}"] = (svc["metadata"]["resourceVersion"], svc["spec"])
    return seen


def api_dict(obj: Any) -> dict[str, Any]:
    as_dict: dict[str, Any] = client.ApiClient().sanitize_for_serialization(obj)
    return as_dict


def _harness(args: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "run", "--quiet", "--out", str(out), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _wait_rolled_out(apps: Any, ns: str) -> None:
    import time

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ready = [apps.read_namespaced_deployment(o, ns).status.ready_replicas for o in ORDERS]
        if ready == [3, 3]:
            return
        time.sleep(0.5)
    raise AssertionError(f"the user's Deployments did not roll out: {ready}")


def test_a_running_deployment_is_tested_through_its_service_and_left_as_it_was(
    local_cluster: LocalCluster,
    shop: tuple[str, Any, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ns, core, apps = shop
    monkeypatch.setenv("KUBECONFIG", str(local_cluster.kubeconfig))
    _wait_rolled_out(apps, ns)
    before = _snapshot(core, apps, ns)
    common = ["--backend", "kube", "--context", local_cluster.context, "--namespace", ns]
    plan = _harness([*common, "--target", "deployment/graceful", "--dry-run"], tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert (
        f"create Service {ns}/drainlab-twin-graceful (NodePort, selector app=graceful"
        in plan.stdout
    )
    assert f"traffic through the Service path: Service {ns}/graceful" in plan.stdout
    for missing in ("deployment/nowhere", "deployment/graceful --namespace drainlab-t-none"):
        bad = _harness([*common, "--target", *missing.split()], tmp_path / "bad")
        assert bad.returncode == 3 and bad.stderr.count("\n") == 1, bad.stderr
        assert "does not exist" in bad.stderr and "Traceback" not in bad.stderr
        assert not (tmp_path / "bad").exists()  # refused before the run: no run folder
    assert sorted(s.metadata.name for s in core.list_namespaced_service(ns).items) == [
        "graceful",
        "naive",
    ]
    summaries = {}
    for order in ORDERS:
        # Pods still terminating from the previous run (a loaded node is slow to remove them)
        # go by themselves: only those that are not must still be there after this run.
        pods_before = {
            p.metadata.name
            for p in core.list_namespaced_pod(ns).items
            if p.metadata.deletion_timestamp is None
        }
        run_dir, summary = run_harness(
            [
                "--backend", "kube", "--context", local_cluster.context,
                "--target", f"deployment/{order}", "--namespace", ns,
                "--duration", "20", "--deletions", str(DELETIONS[order]), "--new-connections",
                "--users", "8", *(["--gate", "current"] if order == "graceful" else []),
            ],
            tmp_path / order,
            timeout_s=600,
        )  # fmt: skip
        summaries[order] = summary["orders"]["current"]
        if order == "graceful":  # the user's CI gates on the one variant there is
            assert summary["gate"]["order"] == "current" and summary["gate"]["ok"] is True
        assert list(summary["orders"]) == ["current"]
        timeline = list(iter_jsonl(run_dir / "timeline-current.jsonl"))
        deleted = {e["pod"] for e in timeline if e["kind"] == "delete_requested"}
        assert len(deleted) == DELETIONS[order]
        # Only this Deployment's pods, found by its selector; the other one's are untouched.
        assert all(p.startswith(f"{order}-") for p in deleted), deleted
        others = {p for p in pods_before if not p.startswith(f"{order}-")}
        assert others <= {p.metadata.name for p in core.list_namespaced_pod(ns).items}
        # The endpoints of the user's Service, as its clients see them: a deleted pod that was
        # one (a pod deleted before it got ready never was) stops being one.
        added = {e["pod"] for e in timeline if e["kind"] == "endpoint_added"}
        removed = {e["pod"] for e in timeline if e["kind"] == "endpoint_removed"}
        assert deleted & added and deleted & added <= removed
        target = next(e for e in timeline if e["kind"] == "load_started")["detail"]["target"]
        assert target.startswith(f"http://{local_cluster.node_host}:")
        # No node agent in the user's namespace; the summary says why the proxy's moment is
        # missing instead of guessing it.
        data_plane = summary["orders"]["current"]["propagation_ms"]["data_plane"]
        assert data_plane["reason"] and "--target run starts no node agent" in data_plane["reason"]
        assert summary["recommendation"]["stage"] in (None, "controller")
        # Nothing of drainlab's is left: neither the twin nor the Lease.
        left = [s.metadata.name for s in core.list_namespaced_service(ns).items]
        assert sorted(left) == sorted(ORDERS)
        leases = client.CoordinationV1Api(core.api_client).list_namespaced_lease(ns).items
        assert not leases
        _wait_rolled_out(apps, ns)
    naive, graceful = summaries["naive"], summaries["graceful"]
    print(f"\ntarget runs: naive {naive['requests']} requests {naive['failed']} failed; "
          f"graceful {graceful['requests']} requests {graceful['failed']} failed")  # fmt: skip
    assert (naive["deletions"], graceful["deletions"]) == (5, 2)
    assert naive["requests"] > 100 and graceful["requests"] > 100
    assert naive["failed"] > 0
    assert graceful["failed"] == 0, graceful["failures_by_phase"]
    assert _snapshot(core, apps, ns) == before
