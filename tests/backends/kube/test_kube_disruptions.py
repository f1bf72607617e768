"""The kube backend's disruptions without a cluster: the PodDisruptionBudget object, the eviction
retry (which answers are retried, on what schedule, what is recorded), cordon marks, scale,
crash's refusal, stopped_by on the pod watch, and the endpoint conditions."""

from __future__ import annotations

import copy
import json
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from helpers.fakekube import FakeApi as FakeKube
from kubernetes.client.exceptions import ApiException

from harness.backends.base import DeploySpec
from harness.backends.clusters.containerkill import ContainerKiller, runtime_id, task_pid
from harness.backends.clusters.local import LocalProvisioner
from harness.backends.kube import api as api_module
from harness.backends.kube import cleanup, nodes
from harness.backends.kube.disruptions import CANNOT_CRASH, Disruptions, next_attempt_in
from harness.backends.kube.endpointstate import (
    ENDPOINTS_V1,
    SLICE_V1,
    SLICE_V1BETA1,
    EndpointTracker,
)
from harness.backends.kube.kinds import NAMESPACE, NODE, POD, Kind
from harness.backends.kube.objects import names_for, namespace_object
from harness.backends.kube.pdb import (
    POLICY_V1,
    POLICY_V1BETA1,
    budget,
    choose_policy,
    pdb_kind,
    pdb_object,
)
from harness.backends.kube.podstate import PodTracker
from harness.backends.kube.session import Session
from harness.backends.kube.stopcause import StopCauses
from harness.errors import BackendError
from harness.pdb import Pdb
from harness.timeline import EventKind, TimelineEvent

NAMES = names_for("graceful", "ns", "run-1")


# ----- the PodDisruptionBudget -----------------------------------------------------------------


def test_the_budget_takes_one_of_min_available_and_max_unavailable() -> None:
    assert budget(None) is None
    assert budget(Pdb(min_available="3")) == {"minAvailable": 3}
    assert budget(Pdb(max_unavailable="50%")) == {"maxUnavailable": "50%"}
    assert budget(Pdb(min_available=" 2 ")) == {"minAvailable": 2}  # a number, never "2"


def test_the_budget_object_selects_the_orders_pods_and_is_owned_by_its_deployment() -> None:
    deployment = {"metadata": {"name": NAMES.deployment, "uid": "dep-uid"}}
    body = pdb_object(NAMES, {"minAvailable": 3}, POLICY_V1BETA1, deployment)
    assert body["apiVersion"] == "policy/v1beta1" and body["kind"] == "PodDisruptionBudget"
    meta = body["metadata"]
    assert meta["name"] == NAMES.deployment and meta["namespace"] == "ns"
    assert meta["labels"] == NAMES.labels  # teardown and the sweep find it as the harness's
    owner = meta["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Deployment",
        NAMES.deployment,
        "dep-uid",
    )
    assert body["spec"] == {"minAvailable": 3, "selector": {"matchLabels": NAMES.labels}}
    # teardown deletes it by name, like the order's other objects
    assert NAMES.name_of(pdb_kind(POLICY_V1)) == NAMES.deployment


def test_the_policy_api_is_v1_where_served_else_v1beta1() -> None:
    assert choose_policy({"v1", "policy/v1beta1"}) == POLICY_V1BETA1  # v1.20
    assert choose_policy({"v1", "policy/v1", "policy/v1beta1"}) == POLICY_V1
    kind = pdb_kind(POLICY_V1)
    assert kind.group_version == "policy/v1" and kind.plural == "poddisruptionbudgets"


# ----- a fake API for the disruptions ----------------------------------------------------------


class Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps(body).encode()

    def release_conn(self) -> None:
        pass


@dataclass
class FakeApi:
    """What Disruptions uses of api.Api: read, list, patch, request/call, and the eviction."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    answers: list[int] = field(default_factory=list)  # the eviction's answers, in turn
    evictions: list[dict[str, Any]] = field(default_factory=list)
    patches: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    request_timeout_s: float = 5.0

    def read(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any]:
        return copy.deepcopy(self.objects.get((kind.name, name), {}))

    def list(self, kind: Kind, namespace: str | None = None, **sel: str) -> dict[str, Any]:
        key, _, value = sel.get("label_selector", "").partition("=")
        items = [
            copy.deepcopy(o)
            for (k, _), o in self.objects.items()
            if k == kind.name
            and key in (o["metadata"].get("labels") or {})
            and value in ("", o["metadata"]["labels"][key])
        ]
        return {"items": items}

    def patch(
        self, kind: Kind, name: str, ns: str, body: dict[str, Any], ct: str
    ) -> dict[str, Any]:
        self.patches.append((kind.name, name, body))
        return {"metadata": {"name": name}}

    def request(self, kind: Kind, verb: str, name: str, body: dict[str, Any], **kw: Any) -> Any:
        assert (kind, verb) == (NODE, "patch")
        return lambda: self._merge(self.objects[(kind.name, name)], body)

    def call(self, what: str, fn: Callable[[], Any], tolerate: Any = ()) -> Any:
        return fn()

    def method(self, kind: Kind, verb: str, sub: str | None = None) -> Callable[..., Any]:
        assert (kind, verb, sub) == (POD, "create", "eviction")

        def create(name: str, namespace: str, body: dict[str, Any], **kw: Any) -> Response:
            self.evictions.append(body)
            status = self.answers.pop(0) if self.answers else 201
            if status >= 300:
                exc = ApiException(status=status, reason="Too Many Requests")
                exc.body = json.dumps({"message": f"refused {status}"})
                raise exc
            return Response({"kind": "Status", "status": "Success"})

        return create

    def _merge(self, obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        for key, value in patch.items():
            if value is None:
                obj.pop(key, None)
            elif isinstance(value, dict):
                self._merge(obj.setdefault(key, {}), value)
            else:
                obj[key] = value
        return obj


def _pod(name: str, node: str = "node1", labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": labels or NAMES.labels}
    meta["creationTimestamp"] = "2026-11-24T19:40:00Z"
    status = {
        "containerStatuses": [
            {"name": "app", "containerID": "containerd://abc", "state": {"running": {}}}
        ]
    }
    return {"metadata": meta, "spec": {"nodeName": node}, "status": status}


def _disruptions(
    api: FakeApi, killer: ContainerKiller | None = None
) -> tuple[Disruptions, list[TimelineEvent]]:
    events: list[TimelineEvent] = []
    session = Session(
        DeploySpec("graceful"), NAMES, events.append, SLICE_V1, lambda p, c: None, None
    )

    def refusal(pod: dict[str, Any]) -> str | None:
        return None if pod["metadata"]["labels"] == NAMES.labels else "kube: refusing to delete pod"

    d = Disruptions(api, session, POLICY_V1BETA1, "run-1", killer, "app", refusal)  # type: ignore[arg-type]
    return d, events


# ----- eviction: which answers are retried, on what schedule -----------------------------------


def test_eviction_attempts_go_every_retry_s_while_they_start_within_the_timeout() -> None:
    assert next_attempt_in(1, 0.0, 5.0, 30.0) == 5.0
    assert next_attempt_in(1, 0.3, 5.0, 30.0) == pytest.approx(4.7)  # the call took 0.3 s
    assert next_attempt_in(6, 25.1, 5.0, 30.0) == pytest.approx(4.9)  # the 7th at 30 s
    assert next_attempt_in(7, 30.0, 5.0, 30.0) is None
    assert next_attempt_in(1, 9.0, 5.0, 30.0) == 0.0  # late already: at once
    assert next_attempt_in(1, 0.0, 5.0, 0.0) is None  # no timeout: one attempt


def test_a_429_is_retried_each_refusal_recorded_then_the_eviction_goes_through() -> None:
    api = FakeApi(answers=[429, 429])
    api.objects[("pod", "p1")] = _pod("p1")
    d, events = _disruptions(api)
    result = d.evict("p1", retry_s=0.02, timeout_s=5.0)
    assert (result.evicted, result.attempts, result.last_status) == (True, 3, 201)
    assert result.blocked_s > 0 and result.reason is None
    blocked = [e for e in events if e.kind == EventKind.EVICTION_BLOCKED]
    assert [e.detail["attempt"] for e in blocked] == [1, 2]
    assert {e.detail["status"] for e in blocked} == {429}
    assert blocked[0].detail["message"] == "refused 429" and blocked[0].pod == "p1"
    assert 0 <= blocked[0].detail["retry_in_s"] <= 0.02
    body = api.evictions[0]
    assert body["apiVersion"] == "policy/v1beta1" and body["kind"] == "Eviction"
    assert body["deleteOptions"] == {"preconditions": {"uid": "uid-p1"}}


def test_an_eviction_still_blocked_at_the_timeout_gives_up_and_says_so() -> None:
    api = FakeApi(answers=[429] * 10)
    api.objects[("pod", "p1")] = _pod("p1")
    d, events = _disruptions(api)
    result = d.evict("p1", retry_s=0.02, timeout_s=0.05)
    # attempts at 0, 0.02, 0.04; the next (0.06) would start after the timeout
    assert (result.evicted, result.attempts, result.last_status) == (False, 3, 429)
    assert result.reason == "refused 429"
    blocked = [e for e in events if e.kind == EventKind.EVICTION_BLOCKED]
    assert [e.detail["retry_in_s"] is None for e in blocked] == [False, False, True]
    assert d.session.pods.causes.evicting == set()  # not evicted: no stopped_by evict later


def test_only_429_is_retried_404_is_gone_and_other_refusals_are_one_line() -> None:
    api = FakeApi(answers=[404])
    api.objects[("pod", "p1")] = _pod("p1")
    d, _ = _disruptions(api)
    gone = d.evict("p1", retry_s=0.01, timeout_s=1.0)
    assert (gone.evicted, gone.attempts, gone.last_status) == (True, 1, 404)
    for status in (500, 403, 409):
        api.answers = [status, 201]
        with pytest.raises(
            BackendError, match=rf"kube: cannot evict pod p1: HTTP {status}: refused"
        ):
            d.evict("p1", retry_s=0.01, timeout_s=1.0)
    with pytest.raises(BackendError, match="retry_s > 0"):
        d.evict("p1", retry_s=0, timeout_s=1.0)


def test_evicting_another_runs_pod_is_refused_before_any_request() -> None:
    api = FakeApi()
    api.objects[("pod", "p1")] = _pod("p1", labels={"app": "theirs"})
    d, _ = _disruptions(api)
    with pytest.raises(BackendError, match="refusing to evict pod"):
        d.evict("p1", retry_s=1, timeout_s=1)
    assert api.evictions == []


# ----- cordon, scale, crash --------------------------------------------------------------------


def _node(
    name: str, unschedulable: bool = False, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    meta = {"name": name, "labels": dict(labels or {}), "annotations": {}, "resourceVersion": "7"}
    return {"metadata": meta, "spec": {"unschedulable": True} if unschedulable else {}}


def test_cordon_marks_the_node_as_the_runs_and_uncordon_gives_exactly_that_back() -> None:
    api = FakeApi()
    api.objects[("node", "n1")] = _node("n1")
    d, events = _disruptions(api)
    d.cordon("n1")
    node = api.objects[("node", "n1")]
    assert node["spec"]["unschedulable"] is True
    assert node["metadata"]["labels"][nodes.LABEL_CORDONED_BY] == "run-1"
    assert node["metadata"]["annotations"][nodes.ANNOTATION_CORDONED_NAMESPACE] == "ns"
    d.uncordon_all()  # teardown
    assert "unschedulable" not in node["spec"] and node["metadata"]["labels"] == {}
    assert [(e.kind, e.detail["node"]) for e in events] == [
        (EventKind.NODE_CORDONED, "n1"),
        (EventKind.NODE_UNCORDONED, "n1"),
    ]


def test_a_node_cordoned_by_someone_else_is_never_touched() -> None:
    api = FakeApi()
    api.objects[("node", "admin")] = _node("admin", unschedulable=True)
    api.objects[("node", "other")] = _node("other", True, {nodes.LABEL_CORDONED_BY: "run-2"})
    d, events = _disruptions(api)
    d.cordon("admin")
    d.uncordon("admin")
    d.uncordon("other")
    d.uncordon_all()
    assert api.objects[("node", "admin")] == _node("admin", unschedulable=True)
    assert api.objects[("node", "other")]["spec"]["unschedulable"] is True
    assert [e.detail for e in events] == [{"node": "admin", "already_unschedulable": True}]


def test_the_sweep_uncordons_what_a_gone_run_of_this_namespace_cordoned() -> None:
    api = FakeApi()
    gone = _node("a", True, {nodes.LABEL_CORDONED_BY: "gone-run"})
    gone["metadata"]["annotations"][nodes.ANNOTATION_CORDONED_NAMESPACE] = "ns"
    elsewhere = copy.deepcopy(gone)
    elsewhere["metadata"]["name"] = "b"
    elsewhere["metadata"]["annotations"][nodes.ANNOTATION_CORDONED_NAMESPACE] = "other-ns"
    api.objects[("node", "a")], api.objects[("node", "b")] = gone, elsewhere
    assert nodes.sweep_cordons(api, "ns", "run-1") == ["a"]  # type: ignore[arg-type]
    assert "unschedulable" not in api.objects[("node", "a")]["spec"]
    assert api.objects[("node", "b")]["spec"]["unschedulable"] is True  # a run there may live


def test_scale_patches_the_harness_deployment_and_counts_the_scale_down() -> None:
    api = FakeApi()
    dep = {"metadata": {"name": NAMES.deployment, "namespace": "ns", "labels": NAMES.labels}}
    api.objects[("deployment", NAMES.deployment)] = {**dep, "spec": {"replicas": 3}}
    d, events = _disruptions(api)
    d.scale(2)
    assert api.patches == [("deployment", NAMES.deployment, {"spec": {"replicas": 2}})]
    assert [(e.kind, e.detail) for e in events] == [(EventKind.SCALED, {"from": 3, "to": 2})]
    assert d.session.pods.causes.scale_down_left == 1
    api.objects[("deployment", NAMES.deployment)]["metadata"]["labels"] = {"app": "theirs"}
    with pytest.raises(BackendError, match="not the harness's; not scaling it"):
        d.scale(3)


def test_crash_is_refused_with_the_reason_where_the_runtime_is_out_of_reach() -> None:
    api = FakeApi()
    api.objects[("pod", "p1")] = _pod("p1")
    d, _ = _disruptions(api, killer=None)
    with pytest.raises(BackendError) as caught:
        d.crash("p1")
    assert str(caught.value) == CANNOT_CRASH and "PID namespace" in CANNOT_CRASH
    assert "\n" not in CANNOT_CRASH


def test_crash_kills_the_app_container_through_the_clusters_runtime() -> None:
    killed: list[str] = []

    class Killer:
        def kill_container(self, container_id: str) -> int | None:
            killed.append(container_id)
            return 4242

    api = FakeApi()
    api.objects[("pod", "p1")] = _pod("p1")
    d, events = _disruptions(api, killer=Killer())
    d.crash("p1")
    assert killed == ["containerd://abc"]
    assert [(e.kind, e.pod, e.detail["method"], e.detail["pid"]) for e in events] == [
        (EventKind.POD_CRASHED, "p1", "containerd task kill", 4242)
    ]
    assert isinstance(LocalProvisioner(), ContainerKiller)


def test_containerd_ids_and_pids_are_read_from_what_ctr_prints() -> None:
    assert runtime_id("containerd://0123abc", "x") == "0123abc"
    for other in ("docker://0123", "", "containerd://"):
        with pytest.raises(BackendError, match="not a containerd container"):
            runtime_id(other, "x")
    listing = "TASK      PID     STATUS\nabc       1234    RUNNING\ndef       99      STOPPED\n"
    assert task_pid(listing, "abc") == 1234 and task_pid(listing, "zzz") is None


# ----- stopped_by on the pod watch -------------------------------------------------------------


def _watched(name: str, hash_: str, created_s: int, node: str = "n1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"pod-template-hash": hash_},
            "creationTimestamp": f"2026-11-24T19:40:{created_s:02d}Z",
        },
        "spec": {"nodeName": node},
        "status": {},
    }


def _deleted(pod: dict[str, Any]) -> dict[str, Any]:
    gone = copy.deepcopy(pod)
    gone["metadata"].update(deletionTimestamp="2026-11-24T19:41:00Z", deletionGracePeriodSeconds=30)
    return gone


def _stopped_by(tracker: PodTracker, pod: dict[str, Any]) -> Any:
    events = tracker.observe(_deleted(pod), 1.0, live=True).events
    (deleted,) = [e for e in events if e.kind == EventKind.DELETE_REQUESTED]
    assert deleted.detail["cause"] == "not_the_harness"
    return deleted.detail["stopped_by"]


def test_stopped_by_names_eviction_drain_scale_down_rollout_or_delete() -> None:
    tracker = PodTracker()
    pods = {
        n: _watched(n, "h1", i, node="n2" if n == "d" else "n1") for i, n in enumerate("abcdef")
    }
    for pod in pods.values():
        tracker.observe(pod, 0.5, live=True)
    tracker.harness_evicting("a")
    assert _stopped_by(tracker, pods["a"]) == "evict"
    tracker.causes.node_cordoned("n2")
    tracker.harness_evicting("d")
    assert _stopped_by(tracker, pods["d"]) == "drain"
    tracker.causes.scaled(4, 3)
    assert _stopped_by(tracker, pods["b"]) == "scale_down"
    assert _stopped_by(tracker, pods["c"]) == "delete"  # the scale-down made its one deletion
    tracker.observe(_watched("new", "h2", 30), 0.6, live=True)  # a rollout's new ReplicaSet
    assert _stopped_by(tracker, pods["e"]) == "rollout"


def test_a_failed_eviction_leaves_no_stopped_by_evict_behind() -> None:
    causes = StopCauses()
    causes.evicting_pod("a")
    causes.eviction_failed("a")
    assert causes.stopped_by("a", "n1", None) == "delete"
    causes.scaled(3, 1)
    causes.scaled(1, 3)  # scaled back up before the controller acted
    assert causes.stopped_by("b", "n1", None) == "delete"


def test_the_harness_own_delete_is_stamped_at_the_call_with_stopped_by_delete() -> None:
    api = FakeApi()
    api.objects[("pod", "p1")] = _pod("p1")
    d, events = _disruptions(api)
    api.request = lambda *a, **k: lambda: {"metadata": {"deletionTimestamp": "x"}}  # type: ignore[method-assign]
    d.delete_pod("p1", None)
    assert [(e.kind, e.detail["stopped_by"], e.detail["cause"]) for e in events] == [
        (EventKind.DELETE_REQUESTED, "delete", "delete")
    ]


def test_a_restart_count_that_rises_is_a_container_restart_and_no_deletion() -> None:
    tracker = PodTracker()
    pod = _watched("p", "h1", 0)
    pod["status"] = {"containerStatuses": [{"name": "app", "restartCount": 2}]}
    assert tracker.observe(pod, 0.5, live=False).events[0].kind == EventKind.POD_CREATED
    pod["status"]["containerStatuses"][0]["restartCount"] = 3
    events = tracker.observe(pod, 1.0, live=True).events
    assert [(e.kind, e.detail["restart_count"]) for e in events] == [
        (EventKind.CONTAINER_RESTARTED, 3)
    ]


# ----- endpoint conditions ---------------------------------------------------------------------


def _slice(*endpoints: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "s1"},
        "endpoints": [
            {
                "addresses": [f"10.0.0.{i}"],
                "conditions": cond,
                "targetRef": {"kind": "Pod", "name": pod},
            }
            for i, (pod, cond) in enumerate(endpoints)
        ],
    }


def _conditions(event: TimelineEvent) -> tuple[Any, Any, Any]:
    return event.detail["ready"], event.detail["serving"], event.detail["terminating"]


def test_published_endpoint_conditions_are_recorded_on_both_events() -> None:
    tracker = EndpointTracker(SLICE_V1)
    ready = {"ready": True, "serving": True, "terminating": False}
    (added,) = tracker.observe("ADDED", _slice(("p", ready)), 1.0)
    assert added.kind == EventKind.ENDPOINT_ADDED and _conditions(added) == (True, True, False)
    draining = {"ready": False, "serving": True, "terminating": True}
    (removed,) = tracker.observe("MODIFIED", _slice(("p", draining)), 2.0)
    assert removed.kind == EventKind.ENDPOINT_REMOVED and removed.detail["reason"] == "terminating"
    assert _conditions(removed) == (False, True, True)


def test_conditions_the_server_does_not_publish_are_null() -> None:
    tracker = EndpointTracker(SLICE_V1BETA1)  # v1.20 without the gate: ready alone
    (added,) = tracker.observe("ADDED", _slice(("p", {"ready": True})), 1.0)
    assert _conditions(added) == (True, None, None)
    (removed,) = tracker.observe("MODIFIED", _slice(), 2.0)
    assert removed.detail["reason"] == "gone" and _conditions(removed) == (None, None, None)
    endpoints = EndpointTracker(ENDPOINTS_V1)
    obj = {
        "metadata": {"name": "svc"},
        "subsets": [{"addresses": [{"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "name": "p"}}]}],
    }
    (added,) = endpoints.observe("ADDED", obj, 1.0)
    assert _conditions(added) == (True, None, None)


# ----- custom-object kinds (how PodDisruptionBudgets are reached on any server version) --------


def test_custom_object_verbs_put_the_namespace_before_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, tuple[Any, ...]]] = []

    class FakeCustomObjects:
        def __init__(self, api_client: Any) -> None:
            pass

        def __getattr__(self, method: str) -> Callable[..., Any]:
            return lambda *args, **kwargs: calls.append((method, args))

    monkeypatch.setattr(api_module.client, "CustomObjectsApi", FakeCustomObjects)
    api = api_module.Api(types.SimpleNamespace(api=None))  # type: ignore[arg-type]
    kind = pdb_kind(POLICY_V1BETA1)
    api.method(kind, "read")("budget", "ns")
    api.method(kind, "delete")("budget", "ns", body={})
    api.method(kind, "replace")("budget", "ns", {"spec": {}})
    api.method(kind, "create")("ns", {"metadata": {}})
    api.method(kind, "list")("ns")
    head = ("policy", "v1beta1", "ns", "poddisruptionbudgets")
    assert calls == [
        ("get_namespaced_custom_object", (*head, "budget")),
        ("delete_namespaced_custom_object", (*head, "budget")),
        ("replace_namespaced_custom_object", (*head, "budget", {"spec": {}})),
        ("create_namespaced_custom_object", (*head, {"metadata": {}})),
        ("list_namespaced_custom_object", head),
    ]


def test_teardown_deletes_the_runs_budget_and_leaves_another_runs() -> None:
    fake = FakeKube()
    fake.put(NAMESPACE, namespace_object("ns", "run-1"))
    kind = pdb_kind(POLICY_V1BETA1)
    deployment = {"metadata": {"name": NAMES.deployment, "uid": "dep-uid"}}
    fake.put(kind, pdb_object(NAMES, {"minAvailable": 1}, POLICY_V1BETA1, deployment))
    theirs = names_for("graceful", "ns", "run-2")
    assert not cleanup.delete_owned(fake, kind, theirs)  # type: ignore[arg-type]
    assert fake.get(kind, NAMES.deployment, "ns") is not None
    assert cleanup.delete_owned(fake, kind, NAMES)  # type: ignore[arg-type]
    assert fake.get(kind, NAMES.deployment, "ns") is None
