"""The kube backend's disruptions on the real local cluster (v1.20): eviction with and without a
PodDisruptionBudget, scale-down, a crash, and a cordon held for a few seconds.

Each test uses a namespace of its own. The cluster has one node that other tests use at the same
time: the cordon test holds it for seconds only, and uncordons it in a finally whatever happens.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from test_kube_cluster import IMAGE, Timeline, _backend, _spec, _until

from harness.backends.base import DeploySpec, Eviction
from harness.backends.clusters import ClusterTarget
from harness.backends.clusters.containerkill import KillsThroughNodeContainerd
from harness.backends.clusters.local import LocalCluster
from harness.backends.kube import KubeBackend, nodes
from harness.backends.kube.adapt import sample_app
from harness.backends.kube.objects import names_for
from harness.pdb import Pdb
from harness.timeline import EventKind, TimelineEvent

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
# The graceful order under a name of its own: the orders' fixed nodePorts are other tests' too.
VARIANT = "disrupt-graceful"


def _graceful(replicas: int) -> DeploySpec:
    return dataclasses.replace(_spec("graceful", replicas=replicas), variant=VARIANT)


class RunningLocal(KillsThroughNodeContainerd):
    """The local cluster as the fixture brought it up: a provisioner that only points at it (and
    kills containers through its node's containerd, as LocalProvisioner does)."""

    name = "local"

    def __init__(self, cluster: LocalCluster) -> None:
        self._cluster = cluster

    def ensure_up(self) -> ClusterTarget:
        return self._cluster.target

    def load_images(self, images: Any, archive: Path | None) -> list[str]:
        return []


def _deleted(timeline: Timeline, pod: str) -> list[TimelineEvent]:
    return [e for e in timeline.of(pod) if e.kind == EventKind.DELETE_REQUESTED]


def test_evict_is_blocked_by_a_pdb_with_429_until_it_is_relaxed(
    local_cluster: LocalCluster, namespace: str, api: client.ApiClient
) -> None:
    timeline = Timeline()
    app = dataclasses.replace(sample_app(IMAGE), pdb=Pdb(min_available="2"))
    custom = client.CustomObjectsApi(api)
    name = names_for(VARIANT, namespace).deployment

    async def scenario() -> tuple[Eviction, str]:
        async with _backend(local_cluster, namespace, app=app) as backend:
            await backend.deploy(_graceful(2), timeline)
            victim = (await backend.list_pods())[0].name
            eviction = asyncio.create_task(backend.evict_pod(victim, retry_s=1.0, timeout_s=60))

            def refused_twice() -> bool:
                return sum(e.kind == EventKind.EVICTION_BLOCKED for e in timeline.of(victim)) >= 2

            await _until("two refusals", refused_twice, 30)
            assert not _deleted(timeline, victim)  # the budget holds it
            patch = {"spec": {"minAvailable": 1}}
            await asyncio.to_thread(
                custom.patch_namespaced_custom_object,
                "policy",
                "v1beta1",
                namespace,
                "poddisruptionbudgets",
                name,
                patch,
            )
            result = await eviction
            await _until("the eviction's deletion", lambda: bool(_deleted(timeline, victim)), 30)
            return result, victim

    result, victim = asyncio.run(scenario())
    blocked = [e for e in timeline.of(victim) if e.kind == EventKind.EVICTION_BLOCKED]
    assert {e.detail["status"] for e in blocked} == {429}
    assert [e.detail["attempt"] for e in blocked] == list(range(1, len(blocked) + 1))
    assert all(e.detail["retry_in_s"] is not None and e.detail["message"] for e in blocked)
    assert result.evicted and result.attempts == len(blocked) + 1 and result.last_status == 201
    assert result.blocked_s >= 1.0
    (deleted,) = _deleted(timeline, victim)
    assert deleted.detail["stopped_by"] == "evict"


def test_evict_without_a_pdb_deletes_the_pod_seen_as_stopped_by_evict(
    local_cluster: LocalCluster, namespace: str
) -> None:
    timeline = Timeline()

    async def scenario() -> tuple[Eviction, str]:
        async with _backend(local_cluster, namespace) as backend:
            await backend.deploy(_graceful(2), timeline)
            pods = await backend.list_pods()
            assert all(p.node == local_cluster.node_name for p in pods)
            victim = pods[0].name
            result = await backend.evict_pod(victim, retry_s=1.0, timeout_s=10)
            await _until("the deletion", lambda: bool(_deleted(timeline, victim)), 30)
            await _until("the exit", lambda: timeline.has(victim, "exited"), 60)
            return result, victim

    result, victim = asyncio.run(scenario())
    assert (result.evicted, result.attempts, result.blocked_s) == (True, 1, 0.0)
    assert not timeline.has(victim, EventKind.EVICTION_BLOCKED)
    (deleted,) = _deleted(timeline, victim)
    assert deleted.detail["stopped_by"] == "evict" and deleted.detail["grace_period_s"] == 30
    replacement = [e for e in timeline.events if e.kind == "pod_ready" and e.detail.get("replaces")]
    assert [e.detail["replaces"] for e in replacement] == [victim]


def test_scale_down_by_one_is_the_replicasets_deletion_stopped_by_scale_down(
    local_cluster: LocalCluster, namespace: str
) -> None:
    timeline = Timeline()

    async def scenario() -> list[TimelineEvent]:
        async with _backend(local_cluster, namespace) as backend:
            await backend.deploy(_graceful(3), timeline)
            await backend.scale(2)

            def one_deleted() -> bool:
                return any(e.kind == EventKind.DELETE_REQUESTED for e in timeline.events)

            await _until("the ReplicaSet's victim", one_deleted, 30)
            await backend.scale(3)
            await backend.wait_settled(90)
            return [e for e in timeline.events if e.kind in ("delete_requested", "scaled")]

    events = asyncio.run(scenario())
    scaled = [e.detail for e in events if e.kind == EventKind.SCALED]
    assert scaled == [{"from": 3, "to": 2}, {"from": 2, "to": 3}]
    deleted = [e for e in events if e.kind == EventKind.DELETE_REQUESTED]
    assert [e.detail["stopped_by"] for e in deleted] == ["scale_down"]


def test_crash_restarts_the_container_without_a_deletion(
    local_cluster: LocalCluster, namespace: str
) -> None:
    timeline = Timeline()
    cluster = RunningLocal(local_cluster)

    async def scenario() -> str:
        backend = _backend(local_cluster, namespace, cluster=cluster)
        async with backend:
            await backend.deploy(_graceful(2), timeline)
            victim = (await backend.list_pods())[0].name
            await backend.crash_pod(victim)
            restarted = lambda: timeline.has(victim, EventKind.CONTAINER_RESTARTED)  # noqa: E731
            await _until("the kubelet's restart", restarted, 60)
            await backend.wait_settled(90)
            return victim

    victim = asyncio.run(scenario())
    crashed = timeline.first(victim, EventKind.POD_CRASHED)
    assert crashed.detail["method"] == "containerd task kill" and crashed.detail["pid"] > 0
    assert timeline.first(victim, EventKind.CONTAINER_RESTARTED).detail["restart_count"] == 1
    exited = timeline.first(victim, EventKind.EXITED)
    assert exited.detail["ended_by"] == "sigkill"
    assert not timeline.has(victim, EventKind.DELETE_REQUESTED)
    assert not timeline.has(victim, "app_sigterm")  # no preStop, no SIGTERM: a kill
    assert crashed.ts <= exited.ts


def test_cordon_marks_the_node_for_seconds_and_teardown_uncordons_it(
    local_cluster: LocalCluster, namespace: str, core: client.CoreV1Api
) -> None:
    timeline = Timeline()
    node = local_cluster.node_name
    backend: KubeBackend = _backend(local_cluster, namespace)

    def read_node() -> dict[str, Any]:
        return dict(client.ApiClient().sanitize_for_serialization(core.read_node(node)))

    before = read_node()
    assert not (before.get("spec") or {}).get("unschedulable"), "the node is cordoned already"

    async def scenario() -> dict[str, Any]:
        async with backend:
            await backend.deploy(_graceful(1), timeline)
            try:
                await backend.cordon(node)
                return read_node()
            finally:
                await backend.uncordon(node)

    try:
        during = asyncio.run(scenario())
    finally:  # whatever happened: the only node goes back to schedulable, if this run cordoned it
        left = read_node()
        if nodes.cordoned_by(left) == backend.run_id:
            core.patch_node(node, nodes.uncordon_patch(None))
    assert during["spec"]["unschedulable"] is True
    assert nodes.cordoned_by(during) == backend.run_id
    after = read_node()
    assert not (after.get("spec") or {}).get("unschedulable") and nodes.cordoned_by(after) is None
    kinds = [e.kind for e in timeline.events if e.pod is None]
    assert kinds.count(EventKind.NODE_CORDONED) == 1 and kinds.count(EventKind.NODE_UNCORDONED) == 1
