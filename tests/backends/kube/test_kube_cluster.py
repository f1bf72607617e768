"""The kube backend against the real local cluster (v1.20 built from Debian's packages).

Each test uses a namespace of its own, so tests and other users of the cluster never meet.
What is shown: a deletion's timeline from real watches and logs, in the right order; that
nothing without the harness's labels is ever touched; that contexts are guarded; a rolling
restart; and that teardown leaves no thread and no object.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.namespaces import wait_for_service_account
from kubernetes import client
from kubernetes import config as _config

from harness.appspec import App
from harness.backends.base import DeploySpec
from harness.backends.clusters.local import LocalCluster
from harness.backends.kube import KubeBackend
from harness.backends.kube.objects import names_for
from harness.errors import BackendError
from harness.scenario import Kube, Scenario
from harness.timeline import TimelineEvent

pytestmark = pytest.mark.cluster
config: Any = _config  # untyped loader

IMAGE = "drainlab/sample-app:0.1.0"


def _spec(order: str, replicas: int = 2, delay_s: float = 2.0) -> DeploySpec:
    app = App(shutdown_delay_s=delay_s, drain_timeout_s=5.0, prestop_sleep_s=2.0)
    return Scenario(replicas=replicas, app=app).deploy_spec(order)


class Timeline:
    """A thread-safe sink that tests can wait on."""

    def __init__(self) -> None:
        self.events: list[TimelineEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: TimelineEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, pod: str) -> list[TimelineEvent]:
        with self._lock:
            return sorted((e for e in self.events if e.pod == pod), key=lambda e: e.ts)

    def first(self, pod: str, kind: str) -> TimelineEvent:
        found = [e for e in self.of(pod) if e.kind == kind]
        assert found, f"no {kind} for {pod}: {[e.kind for e in self.of(pod)]}"
        return found[0]

    def has(self, pod: str, kind: str) -> bool:
        return any(e.kind == kind for e in self.of(pod))


async def _until(what: str, check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _backend(
    lc: LocalCluster, namespace: str, allow_namespace: str | None = None, **kwargs: Any
) -> KubeBackend:
    kube = Kube(
        context=lc.context,
        namespace=namespace,
        node_host=lc.node_host,
        image=IMAGE,
        allow_namespace=allow_namespace,
    )
    return KubeBackend(kube, kubeconfig=lc.kubeconfig, **kwargs)


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status)


def _kube_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("watch-", "log-"))]


def test_deleting_a_graceful_pod_gives_a_measured_timeline_in_order(
    local_cluster: LocalCluster, core: Any, namespace: str, tmp_path: Path
) -> None:
    timeline = Timeline()

    async def scenario() -> dict[str, float]:
        backend = _backend(local_cluster, namespace, log_dir=tmp_path / "logs")
        async with backend:
            target = await backend.deploy(_spec("graceful"), timeline)
            assert target.host == local_cluster.node_host and target.port == 30084
            assert _get(target.url + "/") == 200
            pods = await backend.list_pods()
            assert len(pods) == 2 and all(p.ready and not p.terminating for p in pods)
            victim = pods[0].name
            for pod in pods:  # deploy returned only when every step up to ready was seen
                for kind in ("pod_created", "pod_scheduled", "pod_network_ready"):
                    assert timeline.has(pod.name, kind)
                for kind in ("pod_container_started", "pod_ready", "endpoint_added"):
                    assert timeline.has(pod.name, kind)
            await backend.delete_pod(victim)
            await _until("the victim's exit", lambda: timeline.has(victim, "exited"))
            await backend.wait_settled(90)
            assert _get(target.url + "/") == 200
        assert not _kube_threads()
        ts = {
            kind: timeline.first(victim, kind).ts
            for kind in (
                "delete_requested",
                "endpoint_removed",
                "sigterm_sent",
                "app_sigterm",
                "app_readiness_failed",
                "app_listener_closed",
                "app_exit",
                "exited",
            )
        }
        assert ts["delete_requested"] <= ts["endpoint_removed"]
        assert ts["delete_requested"] <= ts["sigterm_sent"] <= ts["app_sigterm"] + 0.001
        assert ts["app_sigterm"] <= ts["app_readiness_failed"] <= ts["app_listener_closed"]
        # The graceful order: the endpoint is gone before the listener closes.
        assert ts["endpoint_removed"] < ts["app_listener_closed"]
        assert ts["app_listener_closed"] <= ts["app_exit"] <= ts["exited"]
        assert timeline.first(victim, "app_exit").detail["code"] == 0
        assert not timeline.has(victim, "killed")
        exited = timeline.first(victim, "exited")
        # v1.20 reports either the real end (0, Completed) or, when the kubelet had already
        # removed the container, a made-up 137 "ContainerStatusUnknown": no code then.
        assert (exited.detail["code"], exited.detail["reason"]) in (
            (0, "Completed"),
            (None, "ContainerStatusUnknown"),
        )
        delete = timeline.first(victim, "delete_requested")
        assert delete.detail["source"] == "harness_call" and delete.detail["grace_period_s"] == 30
        removed = timeline.first(victim, "endpoint_removed")
        assert removed.detail["api"].startswith("endpointslice/discovery.k8s.io/")
        replacement = [
            e for e in timeline.events if e.kind == "pod_ready" and e.detail.get("replaces")
        ]
        assert [e.detail["replaces"] for e in replacement] == [victim]
        assert (tmp_path / "logs" / f"{victim}.log").read_text().count('"event"') >= 5
        return {k: round(v - ts["delete_requested"], 3) for k, v in ts.items()}

    offsets = asyncio.run(scenario())
    print(f"\ngraceful deletion on the local cluster, seconds after the delete call: {offsets}")
    assert offsets["endpoint_removed"] < 2.0  # measured ~0.05 s here; never seconds
    with pytest.raises(client.exceptions.ApiException) as gone:
        core.read_namespace(namespace)
    assert gone.value.status == 404  # the backend made the namespace, and removed it


def test_an_app_still_busy_when_the_grace_period_ends_is_killed(
    local_cluster: LocalCluster, namespace: str
) -> None:
    """A 2 s grace period and an app that waits 20 s after SIGTERM: exit 137, seen as killed."""
    timeline = Timeline()
    spec = _spec("graceful", replicas=1, delay_s=20.0)

    async def scenario() -> str:
        async with _backend(local_cluster, namespace) as backend:
            await backend.deploy(spec, timeline)
            victim = (await backend.list_pods())[0].name
            await backend.delete_pod(victim, grace_period_s=2)
            await _until("the kill", lambda: timeline.has(victim, "killed"), 60)
            return victim

    victim = asyncio.run(scenario())
    killed = timeline.first(victim, "killed")
    delete = timeline.first(victim, "delete_requested")
    assert killed.detail["code"] == 137
    assert delete.detail["grace_period_s"] == 2
    assert 1.5 <= killed.ts - delete.ts <= 5.0
    assert not timeline.has(victim, "app_exit")  # it never got to finish


def test_the_prestop_exec_sleep_delays_sigterm_on_v1_20(
    local_cluster: LocalCluster, namespace: str
) -> None:
    """The preStop hook (an exec sleep of 2 s) runs: the kubelet's Killing event marks its
    start, and the app gets SIGTERM about 2 s later, after the endpoint is gone."""
    timeline = Timeline()

    async def scenario() -> str:
        async with _backend(local_cluster, namespace) as backend:
            await backend.deploy(_spec("prestop"), timeline)
            victim = (await backend.list_pods())[0].name
            await backend.delete_pod(victim)
            await _until("the victim's exit", lambda: timeline.has(victim, "app_exit"), 60)
            return victim

    victim = asyncio.run(scenario())
    delete = timeline.first(victim, "delete_requested").ts
    prestop = timeline.first(victim, "prestop_started")
    sigterm = timeline.first(victim, "app_sigterm").ts
    removed = timeline.first(victim, "endpoint_removed").ts
    assert prestop.detail["source_event"] == "Killing"
    assert delete <= prestop.ts < sigterm
    # The Killing Event's time is whole seconds, so the hook began in [api_time, api_time + 1)
    # (stamps.py); the stamp is an upper bound of it, up to 1 s late (CI saw SIGTERM 1.44 s
    # after a stamp at the end of its second). The sleep's 2 s hold from the earliest start.
    started = prestop.detail["api_time"]
    assert started <= prestop.ts <= started + 1.0
    assert 2.0 <= sigterm - started <= 5.0
    assert removed < sigterm
    # Without a hook, Killing means SIGTERM itself; with one it must not be reported as such.
    kube_sigterms = [
        e for e in timeline.of(victim) if e.kind == "sigterm_sent" and e.detail.get("source_event")
    ]
    assert not kube_sigterms


def test_nothing_without_the_harness_labels_is_touched(
    local_cluster: LocalCluster, core: Any, namespace: str
) -> None:
    core.create_namespace({"metadata": {"name": namespace}})
    wait_for_service_account(core, namespace)
    names = names_for("naive", namespace)
    # A bystander with no harness label, and a decoy with all but the order label right.
    bystander = _plain_pod("bystander", {"app": "someone-else"})
    decoy = _plain_pod("decoy", {**names.labels, "drainlab.dev/order": "not-naive"})
    for manifest in (bystander, decoy):
        core.create_namespaced_pod(namespace, manifest)
    uids = {p: core.read_namespaced_pod(p, namespace).metadata.uid for p in ("bystander", "decoy")}
    timeline = Timeline()

    async def scenario() -> None:
        # The namespace is the user's (no drainlab label): allowed by name.
        backend = _backend(local_cluster, namespace, allow_namespace=namespace)
        await backend.deploy(_spec("naive"), timeline)
        try:
            listed = {p.name for p in await backend.list_pods()}
            assert "bystander" not in listed and "decoy" not in listed and len(listed) == 2
            for name in ("bystander", "decoy"):
                with pytest.raises(BackendError, match="lacks the harness's labels"):
                    await backend.delete_pod(name)
        finally:
            await backend.teardown()

    asyncio.run(scenario())
    for pod, uid in uids.items():
        alive = core.read_namespaced_pod(pod, namespace)
        assert alive.metadata.uid == uid and alive.metadata.deletion_timestamp is None
    assert not {e.pod for e in timeline.events} & {"bystander", "decoy"}
    # The namespace was not the backend's to delete.
    assert core.read_namespace(namespace).status.phase == "Active"
    remaining = core.list_namespaced_pod(namespace).items
    assert {p.metadata.name for p in remaining} == {"bystander", "decoy"}


def test_an_unlabelled_object_in_the_way_is_not_replaced(
    local_cluster: LocalCluster, core: Any, namespace: str
) -> None:
    core.create_namespace({"metadata": {"name": namespace}})
    wait_for_service_account(core, namespace)
    theirs = {
        "metadata": {"name": "drainlab-sample-naive", "labels": {"app": "theirs"}},
        "spec": {"selector": {"app": "theirs"}, "ports": [{"port": 80}]},
    }
    uid = core.create_namespaced_service(namespace, theirs).metadata.uid

    async def scenario() -> None:
        async with _backend(local_cluster, namespace, allow_namespace=namespace) as backend:
            await backend.deploy(_spec("naive"), Timeline())

    with pytest.raises(BackendError, match="exists without the harness's labels"):
        asyncio.run(scenario())
    assert core.read_namespaced_service("drainlab-sample-naive", namespace).metadata.uid == uid
    # Refused before anything was made: no Deployment, no pods, no watch threads.
    assert not client.AppsV1Api(core.api_client).list_namespaced_deployment(namespace).items
    assert not core.list_namespaced_pod(namespace).items
    assert not _kube_threads()


def test_contexts_are_guarded(local_cluster: LocalCluster, namespace: str, tmp_path: Path) -> None:
    """A second context to the same local server, not named as the harness's: refused after
    the node check (its node is not a kind node), unless allow_context names it."""
    kubeconfig = yaml.safe_load(local_cluster.kubeconfig.read_text())
    original = next(c for c in kubeconfig["contexts"] if c["name"] == local_cluster.context)
    kubeconfig["contexts"].append({"name": "staging", "context": dict(original["context"])})
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))

    def attempt(context: str, allow: str | None) -> str:
        kube = Kube(context=context, namespace=namespace, allow_context=allow)
        return asyncio.run(KubeBackend(kube, kubeconfig=path).connect())

    with pytest.raises(BackendError) as refused:
        attempt("staging", None)
    assert "refusing context 'staging'" in str(refused.value)
    assert "--allow-context staging" in str(refused.value)
    assert "named by kube.allow_context" in attempt("staging", "staging")
    assert attempt(local_cluster.context, None).startswith("the harness's local cluster")
    with pytest.raises(BackendError) as missing:
        attempt("prod", None)
    assert f"available: {local_cluster.context}, staging" in str(missing.value)


def test_rolling_restart_replaces_every_pod(local_cluster: LocalCluster, namespace: str) -> None:
    timeline = Timeline()

    async def scenario() -> tuple[set[str], set[str], set[str]]:
        async with _backend(local_cluster, namespace) as backend:
            await backend.deploy(_spec("naive"), timeline)
            before = {p.name for p in await backend.list_pods()}
            await backend.rolling_restart("1", "0")
            await backend.wait_settled(90)
            after = await backend.list_pods()
            live = {p.name for p in after if not p.terminating}
            # Settled: an old pod may still be listed, its shutdown over, until the kubelet
            # removes it (on 1.20 that may take its minute-long GC).
            lingering = {p.name for p in after if p.terminating}
            return before, live, lingering

    before, live, lingering = asyncio.run(scenario())
    assert before.isdisjoint(live) and len(live) == 2
    assert lingering <= before
    for pod in before:
        delete = timeline.first(pod, "delete_requested")
        assert delete.detail["cause"] == "not_the_harness"  # the ReplicaSet controller's
        assert timeline.has(pod, "endpoint_removed") and timeline.has(pod, "app_sigterm")


def _plain_pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "env": [{"name": "SHUTDOWN_ORDER", "value": "naive"}],
                }
            ],
        },
    }
