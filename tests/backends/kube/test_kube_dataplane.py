"""The data-plane agent's objects and the kube wiring around the correlator (no cluster)."""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest
from helpers.fakekube import FakeApi

from harness.backends.kube import agentobjects, dataplane
from harness.backends.kube.api import Api
from harness.backends.kube.cleanup import sweep_leftovers
from harness.backends.kube.kinds import CONFIG_MAP, DAEMON_SET, NAMESPACE, NODE, POD
from harness.backends.kube.objects import names_for, namespace_object, owned
from harness.dataplane.settings import DataPlane
from harness.errors import BackendError
from harness.timeline import EventKind, TimelineEvent

NS = "drainlab"
NAMES = names_for("graceful", NS, "run-1")


def pod_spec(settings: DataPlane) -> dict[str, Any]:
    body = agentobjects.daemon_set(NAMES, settings, "img:1")
    spec: dict[str, Any] = body["spec"]["template"]["spec"]
    return spec


def test_the_agent_asks_only_for_what_it_reads() -> None:
    spec = pod_spec(DataPlane())
    assert spec["hostNetwork"] is True and spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    security = container["securityContext"]
    assert security["privileged"] is False and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True
    assert "--read-nat" not in container["command"]
    assert container["command"][-2:] == ["--interval-ms", "50"]


def test_reading_nat_rules_adds_net_admin_and_net_raw_only() -> None:
    (container,) = pod_spec(DataPlane(read_nat=True, interval_ms=20))["containers"]
    security = container["securityContext"]
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]}
    assert security["privileged"] is False
    assert "--read-nat" in container["command"]


def test_the_agents_objects_are_the_runs_but_its_pods_are_not_the_apps() -> None:
    body = agentobjects.daemon_set(NAMES, DataPlane(), "img:1")
    assert owned({**body, "metadata": {**body["metadata"], "namespace": NS}}, NAMES)
    pod_labels = body["spec"]["template"]["metadata"]["labels"]
    # Neither the run's pod watch nor the app's Service may select an agent pod.
    assert not all(pod_labels.get(k) == v for k, v in NAMES.labels.items())
    assert pod_labels[agentobjects.LABEL_RUN] == "run-1"
    cm = agentobjects.config_map(NAMES)
    assert "def main(" in cm["data"]["agent.py"]
    volume = body["spec"]["template"]["spec"]["volumes"][0]
    assert volume["configMap"]["name"] == cm["metadata"]["name"] == "drainlab-agent-graceful"


def test_a_killed_runs_agent_objects_are_swept() -> None:
    fake = FakeApi()
    fake.put(NAMESPACE, namespace_object(NS))
    old = names_for("graceful", NS, "run-old")
    fake.put(CONFIG_MAP, agentobjects.config_map(old))
    fake.put(DAEMON_SET, agentobjects.daemon_set(old, DataPlane(), "img"))
    removed = sweep_leftovers(cast(Api, fake), NS, "run-new", 1.0)
    assert sorted(removed) == [
        "config map drainlab-agent-graceful (run run-old)",
        "daemon set drainlab-agent-graceful (run run-old)",
    ]
    assert fake.get(DAEMON_SET, "drainlab-agent-graceful", NS) is None


class FakeSession:
    def __init__(self) -> None:
        self.names = NAMES
        self.lock = threading.RLock()
        self.events: list[TimelineEvent] = []
        self.data_plane: dataplane.DataPlaneWatch | None = None

    def emit(self, event: TimelineEvent) -> None:
        self.events.append(event)
        if self.data_plane is not None:
            for derived in self.data_plane.derived(event):
                self.emit(derived)

    def kinds(self, kind: str) -> list[TimelineEvent]:
        return [e for e in self.events if e.kind == kind]


class RefusingApi(FakeApi):
    def create(self, kind: Any, body: dict[str, Any], namespace: str | None = None) -> Any:
        raise BackendError("kube: create daemon set: 403 Forbidden: hostNetwork not allowed")


def test_a_refused_agent_is_one_unavailable_state_and_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = FakeSession()
    dataplane.start(cast(Any, session), cast(Api, RefusingApi()), DataPlane(host_nat=False), None)
    (state,) = session.kinds(EventKind.DATA_PLANE)
    assert state.detail == {
        "node": None,
        "method": "kube_proxy_metrics",
        "state": "unavailable",
        "reason": "the agent DaemonSet was refused: kube: create daemon set: 403 Forbidden: "
        "hostNetwork not allowed",
    }
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1


def watching(session: FakeSession) -> dataplane.DataPlaneWatch:
    watch = dataplane.DataPlaneWatch(cast(Any, session), cast(Api, FakeApi()), DataPlane(), "i")
    session.data_plane = watch
    return watch


def line(ts: float, kind: str, **fields: Any) -> str:
    import json

    return json.dumps({"drainlab_agent": 1, "node": "n1", "ts": ts, "kind": kind, **fields})


def test_agent_lines_and_endpoint_events_make_removal_applied() -> None:
    session = FakeSession()
    watch = watching(session)
    watch.agent_line(line(1.0, "state", method="kube_proxy_metrics", state="watching"))
    watch.agent_line(line(9.0, "metrics", sync_ts=8.0, changes_total=3, changes_pending=0))
    removed = {"address": "10.0.0.5:8080", "reason": "gone"}
    session.emit(TimelineEvent(10.0, EventKind.ENDPOINT_REMOVED, "web-1", removed))
    watch.agent_line(line(10.2, "metrics", sync_ts=10.15, changes_total=4, changes_pending=0))
    watch.agent_line("not json, an agent's stray line")
    (applied,) = session.kinds(EventKind.REMOVAL_APPLIED)
    assert (applied.pod, applied.ts, applied.detail["node"]) == ("web-1", 10.15, "n1")
    (state,) = session.kinds(EventKind.DATA_PLANE)
    assert state.detail == {"node": "n1", "method": "kube_proxy_metrics", "state": "watching"}
    watch.stop()
    assert session.kinds(EventKind.DATA_PLANE)[-1].detail["state"] == "stopped"


def test_the_host_nat_reader_feeds_the_correlator(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    class FakePoller:
        def __init__(
            self,
            read: Any,
            namespace: str,
            service: str,
            node: str,
            on: Any,
            interval_s: float,
            on_error: Any,
        ) -> None:
            self.read, self.on, self.args = read, on, (namespace, service, node, interval_s)
            self.running = False
            made.append(self)

        def start(self) -> None:
            self.running = True

        def stop(self) -> None:
            self.running = False

    monkeypatch.setattr(dataplane, "NatPoller", FakePoller)
    session = FakeSession()
    api = FakeApi()
    api.put(NODE, {"metadata": {"name": "drainlab-local"}})
    watch = dataplane.DataPlaneWatch(cast(Any, session), cast(Api, api), DataPlane(), "i")
    session.data_plane = watch
    watch.start_host_nat(lambda node: f"rules of {node}")
    (poller,) = made
    assert poller.args == (NS, NAMES.service, "drainlab-local", 0.05) and poller.running
    assert poller.read() == "rules of drainlab-local"
    session.emit(TimelineEvent(1.0, EventKind.ENDPOINT_ADDED, "web-1", {"address": "a:1"}))
    poller.on("drainlab-local", "nat_rules_host", 9.0, frozenset({"a:1"}))
    session.emit(TimelineEvent(10.0, EventKind.ENDPOINT_REMOVED, "web-1", {"address": "a:1"}))
    poller.on("drainlab-local", "nat_rules_host", 10.05, frozenset())
    (applied,) = session.kinds(EventKind.REMOVAL_APPLIED)
    assert applied.detail["method"] == "nat_rules_host" and applied.ts == 10.05
    watch.stop()
    assert not poller.running


def test_an_object_in_the_way_is_refused_not_replaced() -> None:
    fake = FakeApi()
    fake.put(NAMESPACE, namespace_object(NS))
    mine = {"metadata": {"name": "drainlab-agent-graceful", "namespace": NS}, "data": {}}
    fake.put(CONFIG_MAP, mine)
    session = FakeSession()
    dataplane.start(cast(Any, session), cast(Api, fake), DataPlane(host_nat=False), None)
    (state,) = session.kinds(EventKind.DATA_PLANE)
    assert state.detail["reason"] == (
        "the agent DaemonSet was refused: config map drainlab-agent-graceful is in the way "
        "and is not this run's"
    )
    assert fake.get(CONFIG_MAP, "drainlab-agent-graceful", NS)["data"] == {}  # type: ignore[index]
    assert ("delete", "config map", "drainlab-agent-graceful") not in fake.writes()


def agent_pod(node: str, state: dict[str, Any]) -> dict[str, Any]:
    status = {"name": agentobjects.CONTAINER, "state": state, "containerID": "containerd://1"}
    return {
        "metadata": {"name": f"agent-{node}"},
        "spec": {"nodeName": node},
        "status": {"phase": "Pending", "containerStatuses": [status]},
    }


def test_an_agent_pod_not_running_in_time_is_its_nodes_unavailable_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dataplane, "AGENT_START_S", 0.0)
    session = FakeSession()
    watch = watching(session)
    watch.agent_pods = {
        "a": agent_pod("n1", {"waiting": {"reason": "ImagePullBackOff"}}),
        "b": agent_pod("n2", {"running": {"startedAt": "now"}}),
    }
    watch._check_started()
    (state,) = session.kinds(EventKind.DATA_PLANE)
    assert state.detail == {
        "node": "n1",
        "method": "kube_proxy_metrics",
        "state": "unavailable",
        "reason": "the agent pod did not start in 0 s: ImagePullBackOff",
    }


def test_teardown_waits_until_the_agents_pods_are_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DaemonSet's deletion leaves its pods to the garbage collector: a namespace that stays
    (the user's, or one allowed) would keep them, terminating, after the run had ended."""
    session = FakeSession()
    api = FakeApi()
    api.put(NAMESPACE, namespace_object(NS, "run-1"))
    watch = dataplane.DataPlaneWatch(cast(Any, session), cast(Api, api), DataPlane(), "i")
    watch.made = [CONFIG_MAP, DAEMON_SET]
    agent_pod = {
        "metadata": {"name": "agent-x", "namespace": NS, "labels": agentobjects.pod_labels(NAMES)}
    }
    api.put(POD, agent_pod)
    waited: list[str] = []

    def wait_until(what: str, timeout_s: float, check: Any) -> None:
        waited.append(what)
        assert check() == (False, "1 left: agent-x")
        api.delete(POD, "agent-x", NS, {})
        assert check() == (True, "none left")

    monkeypatch.setattr(dataplane, "wait_until", wait_until)
    watch.stop()
    assert waited == ["the agent's pods to go"]
