"""Run isolation on the real local cluster: two runs in one namespace, a namespace another party
made, system namespaces, the context guard by CA and kind nodes, and `--dry-run`."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.e2e import ROOT
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.appspec import App
from harness.backends.base import DeploySpec
from harness.backends.clusters.local import LocalCluster
from harness.backends.kube import KubeBackend
from harness.backends.kube.lease import LEASE_DURATION_S, LEASE_NAME
from harness.backends.kube.objects import LABEL_RUN, namespace_labels
from harness.errors import BackendError, UsageError
from harness.scenario import Kube, Scenario
from harness.timeline import TimelineEvent

pytestmark = pytest.mark.cluster

IMAGE = "drainlab/sample-app:0.1.0"


def _spec(order: str = "naive") -> DeploySpec:
    app = App(shutdown_delay_s=1.0, drain_timeout_s=5.0, prestop_sleep_s=1.0)
    return Scenario(replicas=2, app=app).deploy_spec(order)


def _backend(
    lc: LocalCluster, namespace: str, run_id: str, kubeconfig: Path | None = None
) -> KubeBackend:
    kube = Kube(context=lc.context, namespace=namespace, node_host=lc.node_host, image=IMAGE)
    return KubeBackend(kube, kubeconfig=kubeconfig or lc.kubeconfig, run_id=run_id)


def _sink(event: TimelineEvent) -> None:
    pass


def _harness(*args: str, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "run", *args],
        cwd=ROOT,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _uids(core: Any, namespace: str) -> dict[str, str]:
    apps = client.AppsV1Api(core.api_client)
    found = {
        f"pod/{p.metadata.name}": p.metadata.uid for p in core.list_namespaced_pod(namespace).items
    }
    for d in apps.list_namespaced_deployment(namespace).items:
        found[f"deployment/{d.metadata.name}"] = d.metadata.uid
    for s in core.list_namespaced_service(namespace).items:
        found[f"service/{s.metadata.name}"] = s.metadata.uid
    return found


def test_a_second_run_in_the_namespace_is_refused_and_touches_nothing(
    local_cluster: LocalCluster, core: Any, namespace: str
) -> None:
    """Two runs in one namespace: the second stops with one line naming the first, within a
    renewal period, and the first's Deployment, Service and pods are untouched."""

    async def scenario() -> tuple[dict[str, str], dict[str, str], str]:
        first = _backend(local_cluster, namespace, "run-first")
        second = _backend(local_cluster, namespace, "run-second")
        async with first:
            await first.deploy(_spec(), _sink)
            before = _uids(core, namespace)
            pods_before = len(await first.list_pods())
            with pytest.raises(BackendError) as err:
                async with second:
                    await second.deploy(_spec(), _sink)
            after = _uids(core, namespace)
            live = [p for p in await first.list_pods() if not p.terminating]
            assert len(live) == pods_before == 2
        return before, after, str(err.value)

    before, after, message = asyncio.run(scenario())
    assert "in use by run run-first" in message and "\n" not in message
    assert after == before
    # The first run made the namespace and deleted it at its teardown.
    assert _phase(core, namespace) in ("gone", "Terminating")


def _phase(core: Any, namespace: str) -> str:
    try:
        return str(core.read_namespace(namespace).status.phase)
    except ApiException as exc:
        assert exc.status == 404
        return "gone"


def test_runs_one_after_the_other_share_the_namespace(
    local_cluster: LocalCluster, core: Any, namespace: str
) -> None:
    """A namespace someone else made (drainlab's labels, another run's id) is used and left in
    place: only its maker deletes it. The Lease goes with each run."""
    labels = {**namespace_labels("run-elsewhere")}
    uid = core.create_namespace({"metadata": {"name": namespace, "labels": labels}}).metadata.uid

    async def one(run_id: str) -> list[str]:
        async with _backend(local_cluster, namespace, run_id) as backend:
            await backend.deploy(_spec(), _sink)
            pods = await backend.list_pods()
            lease = client.CoordinationV1Api(core.api_client).read_namespaced_lease(
                LEASE_NAME, namespace
            )
            assert lease.spec.holder_identity == run_id
            assert lease.spec.lease_duration_seconds == LEASE_DURATION_S
            return [p.name for p in pods]

    first = asyncio.run(one("run-one"))
    second = asyncio.run(one("run-two"))
    assert not set(first) & set(second)
    namespace_now = core.read_namespace(namespace)
    assert namespace_now.metadata.uid == uid and namespace_now.status.phase == "Active"
    assert namespace_now.metadata.labels[LABEL_RUN] == "run-elsewhere"
    leases = client.CoordinationV1Api(core.api_client).list_namespaced_lease(namespace).items
    assert not leases


@pytest.mark.parametrize("namespace_name", ["kube-system", "default", "kube-public"])
def test_system_namespaces_are_refused(
    local_cluster: LocalCluster, core: Any, namespace_name: str, tmp_path: Path
) -> None:
    before = _uids(core, namespace_name)
    with pytest.raises(UsageError):
        _backend(local_cluster, namespace_name, "run-x")
    done = _harness(
        "--backend", "kube", "--context", local_cluster.context, "--namespace", namespace_name,
        "--out", str(tmp_path / "out"), kubeconfig=local_cluster.kubeconfig,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "system namespace" in done.stderr
    assert not (tmp_path / "out").exists()
    assert _uids(core, namespace_name) == before


def test_a_dry_run_creates_nothing(
    local_cluster: LocalCluster, core: Any, namespace: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = _harness(
        "--dry-run", "--backend", "kube", "--context", local_cluster.context,
        "--namespace", namespace, "--out", str(out), kubeconfig=local_cluster.kubeconfig,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"create Deployment {namespace}/drainlab-sample-naive" in done.stdout
    assert f"create Namespace {namespace}" in done.stdout
    assert not out.exists()
    with pytest.raises(ApiException) as missing:
        core.read_namespace(namespace)
    assert missing.value.status == 404


def test_the_guard_knows_the_local_cluster_by_its_ca_and_kind_by_its_nodes(
    local_cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    config = yaml.safe_load(local_cluster.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    # The same server under a kind-like name: its nodes are not kind nodes.
    kind_like = yaml.safe_load(yaml.safe_dump(config))
    kind_like["contexts"][0]["name"] = kind_like["current-context"] = "kind-drainlab"
    # drainlab-local's name on a cluster whose CA is another certificate (a real one: the API
    # server's own, which the local cluster's CA signed).
    other_ca = yaml.safe_load(yaml.safe_dump(config))
    other_pem = (local_cluster.kubeconfig.parent / "pki" / "apiserver.crt").read_bytes()
    other_ca["clusters"][0]["cluster"] = {
        "server": cluster["server"],
        "certificate-authority-data": base64.b64encode(other_pem).decode(),
    }

    def connect(data: dict[str, Any], context: str) -> str:
        path = tmp_path / f"{context}.yaml"
        path.write_text(yaml.safe_dump(data))
        kube = Kube(context=context, namespace=namespace)
        return asyncio.run(KubeBackend(kube, kubeconfig=path).connect())

    assert connect(config, local_cluster.context).startswith("the harness's local cluster")
    with pytest.raises(BackendError) as kind_err:
        connect(kind_like, "kind-drainlab")
    # Its server on this machine: not kind nodes; on a drainlab veth: not on this machine.
    assert "refusing context 'kind-drainlab'" in str(kind_err.value)
    with pytest.raises(BackendError) as ca_err:
        connect(other_ca, local_cluster.context)
    assert "CA is not the local cluster's" in str(ca_err.value)
