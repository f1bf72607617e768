"""The data-plane agent on the real local cluster (v1.20, kube-proxy in iptables mode): every
deleted pod's removal is seen applied by the node's kube-proxy, after the controller's moment."""

from __future__ import annotations

import asyncio
import statistics
import threading
import urllib.request
from pathlib import Path

import pytest

from harness.appspec import App
from harness.backends.clusters.local import LocalCluster
from harness.backends.kube import KubeBackend
from harness.dataplane.settings import DataPlane
from harness.scenario import Kube, Scenario
from harness.timeline import EventKind, TimelineEvent

pytestmark = pytest.mark.cluster

DELETIONS = 3


class Load(threading.Thread):
    """A few requests a second on new connections: the Service in use while pods go."""

    def __init__(self, url: str) -> None:
        super().__init__(name="test-load", daemon=True)
        self.url, self.stop, self.answered = url, threading.Event(), 0

    def run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                with urllib.request.urlopen(self.url, timeout=2) as answer:
                    self.answered += answer.status == 200
            except OSError:
                pass


def test_every_deleted_pod_gets_the_proxys_moment_from_the_agent(
    local_cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    events: list[TimelineEvent] = []
    lock = threading.Lock()

    def sink(event: TimelineEvent) -> None:
        with lock:
            events.append(event)

    def of(kind: str) -> list[TimelineEvent]:
        with lock:
            return [e for e in events if e.kind == kind]

    async def scenario() -> list[str]:
        kube = Kube(
            context=local_cluster.context,
            namespace=namespace,
            node_host=local_cluster.node_host,
            image="drainlab/sample-app:0.1.0",
        )
        backend = KubeBackend(
            kube,
            kubeconfig=local_cluster.kubeconfig,
            data_plane=DataPlane(host_nat=False),
            log_dir=tmp_path / "logs",
        )
        app = App(shutdown_delay_s=1.0, drain_timeout_s=5.0, prestop_sleep_s=1.0)
        spec = Scenario(replicas=2, app=app).deploy_spec("graceful")
        deleted = []
        async with backend:
            target = await backend.deploy(spec, sink)
            load = Load(target.url + "/")
            load.start()
            try:
                for _ in range(DELETIONS):
                    await asyncio.sleep(2)
                    pods = await backend.list_pods()
                    victim = next(p.name for p in pods if p.ready and not p.terminating)
                    await backend.delete_pod(victim, grace_period_s=10)
                    deleted.append(victim)
                    while victim in {p.name for p in await backend.list_pods()}:
                        await asyncio.sleep(0.2)
                    await backend.wait_settled(90)
            finally:
                load.stop.set()
                load.join()
            assert load.answered > 0
        return deleted

    deleted = asyncio.run(scenario())
    threads = [
        t.name for t in threading.enumerate() if t.name.startswith(("watch-", "log-", "agent-"))
    ]
    assert not threads, "teardown stops every thread of the agent's"
    states = {(e.detail["method"], e.detail["state"]) for e in of(EventKind.DATA_PLANE)}
    assert ("kube_proxy_metrics", "watching") in states, states
    assert ("nat_rules", "unavailable") in states, states  # read_nat is off by default
    removed = {e.pod: e for e in of(EventKind.ENDPOINT_REMOVED)}
    applied = {
        e.pod: e
        for e in of(EventKind.REMOVAL_APPLIED)
        if e.detail["method"] == "kube_proxy_metrics"
    }
    assert len(set(deleted)) == DELETIONS
    assert set(deleted) <= set(applied), (deleted, sorted(applied))
    gaps_ms = []
    for pod in deleted:
        event = applied[pod]
        assert event.detail["node"] == "drainlab-local"
        assert event.detail["endpoint_removed_ts"] == pytest.approx(removed[pod].ts, abs=1e-5)
        gap_ms = (event.ts - removed[pod].ts) * 1000
        assert 0 < gap_ms < 10_000, (pod, gap_ms)
        gaps_ms.append(gap_ms)
    print(
        f"\nkube-proxy metrics after endpoint_removed (ms, {len(gaps_ms)} deletions): "
        f"{[round(g, 1) for g in gaps_ms]}, median {statistics.median(gaps_ms):.1f}, "
        f"max {max(gaps_ms):.1f}; poll_ms {[applied[p].detail['poll_ms'] for p in deleted]}; "
        f"pods {deleted}, sync_ts {[applied[p].detail['sync_ts'] for p in deleted]}"
    )
    (agent_log,) = (tmp_path / "logs").glob("drainlab-agent-graceful-*.log")
    assert '"drainlab_agent": 1' in agent_log.read_text()  # its lines are kept as the app's
    stopped = [e for e in of(EventKind.DATA_PLANE) if e.detail["state"] == "stopped"]
    assert stopped, "teardown reports the agent stopped"
