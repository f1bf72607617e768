"""``--target deployment/NAME``: a Deployment that already runs, against a fake of the API client
layer (helpers.fakekube). Chaos deletes only pods that the Deployment owns (pod → ReplicaSet →
Deployment, by UID); the load goes through a NodePort twin of the user's Service; teardown
deletes the twin and the Lease, and nothing of the user's; bad targets stop before anything is
made."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, ClassVar, cast

import pytest
from helpers.fakekube import FakeApi

from harness.backends.base import DeploySpec
from harness.backends.kube import session as session_module
from harness.backends.kube.api import Api
from harness.backends.kube.kinds import DEPLOYMENT, LEASE, NAMESPACE, POD, SERVICE
from harness.backends.kube.lease import LEASE_NAME, LeaseHolder
from harness.backends.kube.objects import LABEL_RUN, app_labels
from harness.backends.kube.ownership import REPLICASET, owner_refusal
from harness.backends.kube.session import Session
from harness.backends.kube.target import Found, TargetBackend, find, target_name
from harness.backends.kube.twin import (
    LABEL_TWIN_OF,
    pick_service,
    sweep_twins,
    twin_name,
    twin_object,
)
from harness.errors import BackendError, UsageError
from harness.scenario import Chaos, Kube, Scenario
from harness.timeline import TimelineEvent

NS = "shop"
RUN = "run-1"


def _api(fake: FakeApi) -> Api:
    return cast(Api, fake)


def _ref(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"kind": kind, "name": meta["name"], "uid": meta["uid"], "controller": True}


def _deployment(fake: FakeApi, name: str, labels: dict[str, str]) -> dict[str, Any]:
    body = {
        "metadata": {"name": name, "namespace": NS, "labels": {"team": "a"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": {**labels, "tier": "web"}}},
        },
    }
    return fake.put(DEPLOYMENT, body)


def _replicaset(fake: FakeApi, name: str, owner: dict[str, Any]) -> dict[str, Any]:
    labels = owner["spec"]["selector"]["matchLabels"]
    meta = {"name": name, "namespace": NS, "labels": dict(labels)}
    meta["ownerReferences"] = [_ref("Deployment", owner)]
    return fake.put(REPLICASET, {"metadata": meta})


def _pod(fake: FakeApi, name: str, owner: dict[str, Any] | None, labels: dict[str, str]) -> None:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "labels": dict(labels)}
    if owner is not None:
        meta["ownerReferences"] = [_ref("ReplicaSet", owner)]
    fake.put(POD, {"metadata": meta, "spec": {"terminationGracePeriodSeconds": 30}})


def _service(fake: FakeApi, name: str, selector: dict[str, str]) -> dict[str, Any]:
    ports = [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    body = {
        "metadata": {"name": name, "namespace": NS, "labels": {"team": "a"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.0.0.9",
            "selector": selector,
            "ports": ports,
        },
    }
    return fake.put(SERVICE, body)


@pytest.fixture
def fake() -> FakeApi:
    """Namespace shop: deployment/web (its ReplicaSet, two pods, Service web) and deployment/
    other whose pods carry web's labels too (app=web, plus their own), with its own ReplicaSet,
    and a pod without any owner that carries them as well."""
    api = FakeApi()
    api.put(NAMESPACE, {"metadata": {"name": NS}})
    web = _deployment(api, "web", {"app": "web"})
    other = _deployment(api, "other", {"app": "web", "variant": "b"})
    web_rs = _replicaset(api, "web-1", web)
    other_rs = _replicaset(api, "other-1", other)
    _pod(api, "web-1-a", web_rs, {"app": "web", "tier": "web"})
    _pod(api, "web-1-b", web_rs, {"app": "web", "tier": "web"})
    _pod(api, "other-1-a", other_rs, {"app": "web", "variant": "b"})
    _pod(api, "stray", None, {"app": "web"})
    _service(api, "web", {"app": "web"})
    _deployment(api, "lonely", {"app": "lonely"})
    api.calls.clear()  # the user's objects were there before: the test counts from here
    return api


def _scenario(action: str = "delete_random", **kube: Any) -> Scenario:
    settings = Kube(namespace=NS, target="deployment/web", node_host="10.1.1.1", **kube)
    return Scenario(kube=settings, chaos=Chaos(action=action))


class Sink:
    def __init__(self) -> None:
        self.events: list[TimelineEvent] = []

    def __call__(self, event: TimelineEvent) -> None:
        self.events.append(event)


def _started(fake: FakeApi, action: str = "delete_random") -> tuple[TargetBackend, Sink]:
    """A TargetBackend as deploy leaves it (found, Lease held, twin made), without the watches
    and the waits: those need a real API server (the cluster test has them)."""
    backend = TargetBackend.from_scenario(_scenario(action))
    backend._api = _api(fake)
    backend.guard_reason = "a fake"
    found = find(_api(fake), NS, "deployment/web", None)
    backend._found = found
    sink = Sink()
    session = Session(DeploySpec("current"), found.names, sink, "v1", lambda p, c: None, None)
    backend._session = session
    lease = LeaseHolder(_api(fake), NS, backend.run_id)
    lease.acquire()
    session.lease = lease
    made = fake.create(SERVICE, twin_object(found.service, backend.run_id), NS)
    backend._twin = (made["metadata"]["name"], made["metadata"]["uid"])
    return backend, sink


# ----- the target's name and the user's objects ---------------------------------------------------


@pytest.mark.parametrize("text", ["web", "pod/web", "deployment/", "deployment/a/b", "svc/web"])
def test_a_target_that_is_no_deployment_name_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="expected deployment/NAME"):
        target_name(text)


def test_deployment_names_are_accepted_in_either_case() -> None:
    assert target_name("deployment/web") == target_name("Deployment/web") == "web"


def test_find_reads_the_deployment_its_selector_and_its_service(fake: FakeApi) -> None:
    found = find(_api(fake), NS, "deployment/web", None)
    assert (found.names.deployment, found.names.service) == ("web", "web")
    assert found.names.labels == {"app": "web"}  # the Deployment's selector: all its pods
    assert found.deployment_uid == fake.get(DEPLOYMENT, "web", NS)["metadata"]["uid"]  # type: ignore[index]
    assert fake.writes() == []


@pytest.mark.parametrize(
    ("namespace", "target", "message"),
    [
        ("nowhere", "deployment/web", "namespace 'nowhere' does not exist"),
        (NS, "deployment/gone", "deployment/gone does not exist in namespace shop"),
        (NS, "deployment/lonely", "deployment/lonely has no Service selecting its pods"),
    ],
)
def test_a_missing_target_is_one_line_and_nothing_is_written(
    fake: FakeApi, namespace: str, target: str, message: str
) -> None:
    with pytest.raises(BackendError, match=message):
        find(_api(fake), namespace, target, None)
    assert fake.writes() == []


def test_a_deploy_of_a_missing_target_leaves_nothing_behind(fake: FakeApi) -> None:
    backend = TargetBackend.from_scenario(_scenario())
    backend._api = _api(fake)
    backend.guard_reason = "a fake"
    backend._target = "deployment/gone"
    with pytest.raises(BackendError, match="deployment/gone does not exist"):
        asyncio.run(backend.deploy(DeploySpec("current"), Sink()))
    assert fake.writes() == []


def test_a_selector_with_match_expressions_is_refused(fake: FakeApi) -> None:
    dep = {
        "metadata": {"name": "expr", "namespace": NS},
        "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}},
    }
    fake.put(DEPLOYMENT, dep)
    with pytest.raises(BackendError, match="matchLabels selectors only"):
        find(_api(fake), NS, "deployment/expr", None)


def test_a_deployment_scaled_to_zero_is_refused(fake: FakeApi) -> None:
    web = fake.get(DEPLOYMENT, "web", NS)
    assert web is not None
    web["spec"]["replicas"] = 0
    with pytest.raises(BackendError, match="scaled to 0 replicas: no pod to test"):
        find(_api(fake), NS, "deployment/web", None)


def test_several_services_need_target_service(fake: FakeApi) -> None:
    _service(fake, "web-admin", {"tier": "web"})
    pods = {"app": "web", "tier": "web"}
    services = fake.list(SERVICE, NS)["items"]
    with pytest.raises(BackendError, match=r"several Services .* \(web, web-admin\); name one"):
        pick_service(services, pods, "web", None)
    assert pick_service(services, pods, "web", "web-admin")["metadata"]["name"] == "web-admin"
    with pytest.raises(BackendError, match="'nope' does not select the pods"):
        pick_service(services, pods, "web", "nope")


def test_a_service_without_a_selector_and_a_twin_are_not_the_users_service(
    fake: FakeApi,
) -> None:
    _service(fake, "manual", {})
    twin = twin_object(fake.read(SERVICE, "web", NS), "gone-run")
    services = [*fake.list(SERVICE, NS)["items"], twin]
    assert pick_service(services, {"app": "web"}, "web", None)["metadata"]["name"] == "web"


# ----- the twin -----------------------------------------------------------------------------------


def test_the_twin_is_a_labelled_nodeport_copy_of_the_users_service(fake: FakeApi) -> None:
    user = fake.read(SERVICE, "web", NS)
    twin = twin_object(user, RUN)
    assert twin["metadata"] == {
        "name": "drainlab-twin-web",
        "namespace": NS,
        "labels": {**app_labels(), LABEL_RUN: RUN, LABEL_TWIN_OF: "web"},
    }
    assert twin["spec"] == {
        "type": "NodePort",
        "selector": {"app": "web"},
        "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
    }
    assert twin_name("x" * 70) == ("drainlab-twin-" + "x" * 70)[:63]


def test_a_sweep_removes_only_the_twins_of_gone_runs(fake: FakeApi) -> None:
    user = fake.read(SERVICE, "web", NS)
    fake.put(SERVICE, twin_object(user, "gone-run"))
    sweep_twins(_api(fake), NS, RUN)
    assert fake.writes()[-1] == ("delete", "service", "drainlab-twin-web")
    assert fake.get(SERVICE, "web", NS) is not None
    fake.put(SERVICE, twin_object(user, RUN))
    sweep_twins(_api(fake), NS, RUN)
    assert fake.get(SERVICE, "drainlab-twin-web", NS) is not None  # this run's own


# ----- owner references before each delete ---------------------------------------------------


def test_the_owner_chain_accepts_the_deployments_pods_only(fake: FakeApi) -> None:
    web_uid = fake.get(DEPLOYMENT, "web", NS)["metadata"]["uid"]  # type: ignore[index]
    api = _api(fake)
    assert owner_refusal(api, fake.read(POD, "web-1-a", NS), "web", web_uid) is None
    other = owner_refusal(api, fake.read(POD, "other-1-a", NS), "web", web_uid)
    assert other is not None and "belongs to Deployment/other" in other
    stray = owner_refusal(api, fake.read(POD, "stray", NS), "web", web_uid)
    assert stray is not None and "(no controller)" in stray


def test_a_pod_whose_replicaset_was_replaced_is_refused(fake: FakeApi) -> None:
    web = fake.get(DEPLOYMENT, "web", NS)
    assert web is not None
    pod = fake.read(POD, "web-1-a", NS)
    rs = fake.read(REPLICASET, "web-1", NS)
    fake.delete(REPLICASET, "web-1", NS, {})
    _replicaset(fake, "web-1", web)  # the same name, another object
    assert fake.read(REPLICASET, "web-1", NS)["metadata"]["uid"] != rs["metadata"]["uid"]
    why = owner_refusal(_api(fake), pod, "web", web["metadata"]["uid"])
    assert why is not None and "gone or replaced" in why


def test_chaos_refuses_a_pod_of_another_deployment_in_the_log_and_timeline(
    fake: FakeApi,
) -> None:
    backend, sink = _started(fake)
    before = len(fake.writes())
    with pytest.raises(BackendError, match="not owned by deployment/web"):
        asyncio.run(backend.delete_pod("other-1-a"))
    assert fake.get(POD, "other-1-a", NS) is not None
    assert len(fake.writes()) == before  # no delete sent
    [refused] = [e for e in sink.events if e.kind == "chaos_action"]
    assert refused.detail["refused"] == "other-1-a"
    assert "belongs to Deployment/other" in refused.detail["error"]


def test_chaos_picks_only_the_deployments_pods(fake: FakeApi) -> None:
    backend, _ = _started(fake)
    pods = asyncio.run(backend.list_pods())
    assert sorted(p.name for p in pods) == ["web-1-a", "web-1-b"]


def test_a_rolling_restart_of_the_users_deployment_needs_the_explicit_action(
    fake: FakeApi,
) -> None:
    backend, _ = _started(fake, action="delete_random")
    with pytest.raises(BackendError, match=r"only with chaos\.action rolling_restart"):
        asyncio.run(backend.rolling_restart())
    assert ("patch", "deployment", "web") not in fake.calls


# ----- teardown -------------------------------------------------------------------------------


def test_teardown_deletes_the_twin_and_the_lease_and_nothing_of_the_users(fake: FakeApi) -> None:
    backend, _ = _started(fake)
    users = {k: v["metadata"].get("resourceVersion") for k, v in fake.objects.items()}
    written = len(fake.calls)
    asyncio.run(backend.teardown())
    deletes = [c for c in fake.calls[written:] if c[0] != "read"]
    assert sorted(deletes) == [
        ("delete", "lease", LEASE_NAME),
        ("delete", "service", twin_name("web")),
    ]
    assert fake.get(SERVICE, twin_name("web"), NS) is None
    assert fake.get(LEASE, LEASE_NAME, NS) is None
    left = {k: v["metadata"].get("resourceVersion") for k, v in fake.objects.items()}
    assert left == {
        k: v for k, v in users.items() if k[0] not in ("lease",) and k[2] != twin_name("web")
    }
    asyncio.run(backend.teardown())  # again: nothing more


def test_teardown_leaves_a_twin_that_is_no_longer_this_runs(fake: FakeApi) -> None:
    backend, _ = _started(fake)
    twin = fake.get(SERVICE, twin_name("web"), NS)
    assert twin is not None
    twin["metadata"]["labels"][LABEL_RUN] = "someone-else"
    asyncio.run(backend.teardown())
    assert fake.get(SERVICE, twin_name("web"), NS) is not None


def test_found_keeps_the_deployment_uid(fake: FakeApi) -> None:
    found = find(_api(fake), NS, "deployment/web", None)
    assert isinstance(found, Found) and found.deployment_uid.startswith("uid-")


def test_a_chosen_rolling_restart_patches_only_the_restart_annotation(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, _ = _started(fake, action="rolling_restart")
    web = fake.get(DEPLOYMENT, "web", NS)
    assert web is not None
    web["metadata"]["generation"] = 1
    web["status"] = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2}
    web["status"] |= {"readyReplicas": 2, "availableReplicas": 2}
    patches: list[tuple[str, dict[str, Any], str]] = []

    def patch(kind: Any, name: str, namespace: str, body: dict[str, Any], ctype: str) -> Any:
        patches.append((name, body, ctype))
        return {}

    monkeypatch.setattr(fake, "patch", patch, raising=False)
    asyncio.run(backend.rolling_restart("50%", "0"))
    [(name, body, ctype)] = patches
    assert name == "web" and ctype == "application/strategic-merge-patch+json"
    annotations = body["spec"]["template"]["metadata"]["annotations"]
    assert list(annotations) == ["kubectl.kubernetes.io/restartedAt"]
    assert list(body) == ["spec"] and list(body["spec"]) == ["template"]  # not its strategy


def test_a_rolling_restart_of_a_replaced_deployment_is_refused(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, _ = _started(fake, action="rolling_restart")
    fake.delete(DEPLOYMENT, "web", NS, {})
    _deployment(fake, "web", {"app": "web"})  # the same name, another object
    monkeypatch.setattr(fake, "patch", lambda *a: pytest.fail("patched"), raising=False)
    with pytest.raises(BackendError, match="gone or was replaced"):
        asyncio.run(backend.rolling_restart())


class _Watcher:
    """Stands in for watch.Watcher: keeps what it would list, and is synced at once."""

    made: ClassVar[list[_Watcher]] = []

    def __init__(self, name: str, list_fn: Any, *_: Any) -> None:
        self.name, self.list_fn, self.failed = name, list_fn, None
        self.synced = threading.Event()
        self.synced.set()
        _Watcher.made.append(self)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class _Methods:
    policy = None

    def method(self, kind: Any, verb: str) -> Any:
        return print  # a callable: the test reads the arguments bound to it


@pytest.mark.parametrize(
    ("endpoint_api", "expected"),
    [
        ("v1", {"label_selector": "", "field_selector": "metadata.name=web"}),
        ("discovery.k8s.io/v1", {"label_selector": "kubernetes.io/service-name=web"}),
    ],
)
def test_the_endpoints_watched_are_the_users_services_by_name(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch, endpoint_api: str, expected: dict[str, str]
) -> None:
    monkeypatch.setattr(session_module, "Watcher", _Watcher)
    _Watcher.made.clear()
    found = find(_api(fake), NS, "deployment/web", None)
    session = Session(
        DeploySpec("current"), found.names, Sink(), endpoint_api, lambda p, c: None, None
    )
    session.endpoint_labels = ""
    session.watch(cast(Api, _Methods()))
    lists = {w.name: w.list_fn for w in _Watcher.made}
    assert lists["pods"].keywords == {"label_selector": "app=web"}  # the Deployment's selector
    assert lists["endpoints"].keywords == expected
