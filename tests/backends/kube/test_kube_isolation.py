"""Two runs never touch each other's objects: run ids on labels, the namespace's Lease, and the
namespace owned by UID. Against a fake of the API client layer (conftest.FakeApi)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from helpers.fakekube import FakeApi
from helpers.kubeobjects import deployment_object, service_object

from harness.backends.base import DeploySpec
from harness.backends.kube.api import Api
from harness.backends.kube.apply import apply, ensure_namespace, refuse_foreign
from harness.backends.kube.backend import KubeBackend
from harness.backends.kube.checks import owned_pods
from harness.backends.kube.claim import check_lease, claim_namespace, release_namespace
from harness.backends.kube.cleanup import delete_namespace, sweep_leftovers
from harness.backends.kube.kinds import DEPLOYMENT, LEASE, NAMESPACE, POD, SERVICE
from harness.backends.kube.lease import (
    LEASE_DURATION_S,
    LEASE_NAME,
    LeaseHolder,
    holding,
    micro_time,
)
from harness.backends.kube.objects import (
    LABEL_RUN,
    names_for,
    namespace_object,
    new_run_id,
    owned,
)
from harness.backends.kube.session import Session
from harness.errors import BackendError, UsageError
from harness.scenario import Kube

NS = "drainlab"
T0 = 1_800_000_000.0


@pytest.fixture
def fake_api() -> FakeApi:
    return FakeApi()


def _api(fake: FakeApi) -> Api:
    return cast(Api, fake)


def _deploy_objects(fake: FakeApi, run_id: str, order: str = "naive") -> None:
    names = names_for(order, NS, run_id)
    spec = DeploySpec(order, replicas=2)
    for kind, body in (
        (DEPLOYMENT, deployment_object(spec, names, "img")),
        (SERVICE, service_object(order, names)),
    ):
        apply(_api(fake), kind, body, names)
    for i in range(2):
        meta = {"name": f"{names.deployment}-{run_id}-{i}", "labels": dict(names.labels)}
        fake.put(POD, {"metadata": {**meta, "namespace": NS}})


def _namespace(fake: FakeApi, run_id: str | None = "run-a") -> dict[str, Any]:
    return fake.put(NAMESPACE, namespace_object(NS, run_id))


def test_run_ids_are_unique_label_values() -> None:
    ids = {new_run_id("20261130-151912") for _ in range(50)}
    assert len(ids) == 50
    for run_id in [*ids, new_run_id(None), new_run_id("x" * 100), new_run_id("a b/c")]:
        assert len(run_id) <= 63 and run_id[0].isalnum() and run_id[-1].isalnum()


def test_every_object_carries_the_run_id_and_another_runs_are_not_owned() -> None:
    """Finding: labels carried no run id, so a run took another's objects for its own."""
    a, b = names_for("naive", NS, "run-a"), names_for("naive", NS, "run-b")
    assert a.labels[LABEL_RUN] == "run-a" and f"{LABEL_RUN}=run-a" in a.selector
    dep = deployment_object(DeploySpec("naive"), a, "img")
    assert dep["spec"]["selector"]["matchLabels"][LABEL_RUN] == "run-a"
    assert dep["spec"]["template"]["metadata"]["labels"][LABEL_RUN] == "run-a"
    assert service_object("naive", a)["spec"]["selector"][LABEL_RUN] == "run-a"
    assert namespace_object(NS, "run-a")["metadata"]["labels"][LABEL_RUN] == "run-a"
    assert owned(dep, a) and not owned(dep, b)


def test_chaos_picks_only_this_runs_pods(fake_api: FakeApi) -> None:
    """Finding: chaos picked another run's pods (they matched the shared labels)."""
    _namespace(fake_api)
    _deploy_objects(fake_api, "run-a")
    # Run a's pods outlive its Deployment and Service (a run killed mid-order, say).
    gone = (DEPLOYMENT.name, SERVICE.name)
    fake_api.objects = {k: v for k, v in fake_api.objects.items() if k[0] not in gone}
    _deploy_objects(fake_api, "run-b")
    picked = owned_pods(_api(fake_api), names_for("naive", NS, "run-b"))
    assert picked and all("run-b" in p["metadata"]["name"] for p in picked)


def test_another_runs_deployment_is_not_replaced(fake_api: FakeApi) -> None:
    """Finding: a second run replaced the first one's Deployment."""
    _namespace(fake_api)
    _deploy_objects(fake_api, "run-a")
    before = fake_api.get(DEPLOYMENT, "drainlab-sample-naive", NS)
    names_b = names_for("naive", NS, "run-b")
    with pytest.raises(BackendError) as err:
        refuse_foreign(_api(fake_api), names_b)
    assert "refusing to replace" in str(err.value) and "\n" not in str(err.value)
    body = deployment_object(DeploySpec("naive"), names_b, "img")
    with pytest.raises(BackendError):
        apply(_api(fake_api), DEPLOYMENT, body, names_b)
    assert fake_api.get(DEPLOYMENT, "drainlab-sample-naive", NS) == before


def test_the_sweep_leaves_this_runs_objects_and_removes_gone_runs(fake_api: FakeApi) -> None:
    """Finding: a run swept another run's live objects as leftovers. The sweep now spares its
    own run and runs only under the Lease, which a live run holds (next test)."""
    _namespace(fake_api)
    _deploy_objects(fake_api, "run-gone", "naive")
    _deploy_objects(fake_api, "run-me", "graceful")
    # The gone run's pods go with its Deployment (the garbage collector's work, done here).
    gone = [k for k, v in fake_api.objects.items() if k[0] == POD.name and "run-gone" in k[2]]
    for key in gone:
        del fake_api.objects[key]
    removed = sweep_leftovers(_api(fake_api), NS, "run-me", 1.0)
    assert sorted(removed) == [
        "deployment drainlab-sample-naive (run run-gone)",
        "service drainlab-sample-naive (run run-gone)",
    ]
    assert fake_api.get(DEPLOYMENT, "drainlab-sample-graceful", NS) is not None
    assert fake_api.get(SERVICE, "drainlab-sample-graceful", NS) is not None


class Clock:
    """Time for two runs: each sleep of the watching run moves it on, and may let the holder
    renew its Lease meanwhile (a run that is alive)."""

    def __init__(self, holder: LeaseHolder | None = None) -> None:
        self.now = T0
        self.holder = holder
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds
        if self.holder is not None and self.slept >= 5:
            self.holder.renew()


def test_a_second_run_is_refused_with_one_line_naming_the_holder(fake_api: FakeApi) -> None:
    """Finding: two runs shared a namespace silently. The second one now sees the first one's
    Lease renewed, and stops with one line naming it, before touching anything."""
    _namespace(fake_api)
    clock = Clock()
    first = LeaseHolder(_api(fake_api), NS, "run-a", clock=clock)
    first.acquire()
    _deploy_objects(fake_api, "run-a")
    clock.holder = first
    before = {k: v["metadata"]["uid"] for k, v in fake_api.objects.items()}
    second = LeaseHolder(_api(fake_api), NS, "run-b", clock=clock, sleep=clock.sleep)
    with pytest.raises(BackendError) as err:
        second.acquire()
    message = str(err.value)
    assert "in use by run run-a" in message and "\n" not in message
    assert clock.slept < LEASE_DURATION_S
    assert {k: v["metadata"]["uid"] for k, v in fake_api.objects.items()} == before
    lease = fake_api.get(LEASE, LEASE_NAME, NS)
    assert lease is not None and lease["spec"]["holderIdentity"] == "run-a"


def test_the_lease_of_a_killed_run_is_taken_over_after_its_duration(fake_api: FakeApi) -> None:
    """A killed run renews nothing: the next one waits the Lease's duration at most, even when
    the killed run's clock was far ahead (its renewTime in the future)."""
    _namespace(fake_api)
    ahead = LeaseHolder(_api(fake_api), NS, "run-killed", clock=lambda: T0 + 3600)
    ahead.acquire()
    clock = Clock()
    nxt = LeaseHolder(_api(fake_api), NS, "run-next", clock=clock, sleep=clock.sleep)
    nxt.acquire()
    assert nxt.taken_over_from == "run-killed"
    assert LEASE_DURATION_S <= clock.slept <= LEASE_DURATION_S + 2


def test_an_expired_lease_is_taken_over_and_the_old_holder_knows_it_lost(
    fake_api: FakeApi,
) -> None:
    _namespace(fake_api)
    old = LeaseHolder(_api(fake_api), NS, "run-a", clock=lambda: T0)
    old.acquire()
    late = T0 + LEASE_DURATION_S + 1
    new = LeaseHolder(_api(fake_api), NS, "run-b", clock=lambda: late, sleep=_no_sleep)
    new.acquire()
    assert new.taken_over_from == "run-a"
    lease = fake_api.get(LEASE, LEASE_NAME, NS)
    assert lease is not None and holding(lease).holder == "run-b"
    assert lease["spec"]["leaseTransitions"] == 1
    assert not old.renew() and old.lost is not None and "run-b" in old.lost
    old.release()  # not its own any more: left alone
    assert fake_api.get(LEASE, LEASE_NAME, NS) is not None


def _no_sleep(seconds: float) -> None:
    raise AssertionError("an expired Lease needs no watching")


def test_renewing_moves_the_expiry_and_release_deletes_the_lease(fake_api: FakeApi) -> None:
    _namespace(fake_api)
    now = [T0]
    holder = LeaseHolder(_api(fake_api), NS, "run-a", clock=lambda: now[0])
    holder.acquire()
    now[0] = T0 + 20
    assert holder.renew()
    lease = fake_api.get(LEASE, LEASE_NAME, NS)
    assert lease is not None
    assert lease["spec"]["renewTime"] == micro_time(T0 + 20)
    assert lease["spec"]["acquireTime"] == micro_time(T0)
    assert holding(lease).expires == pytest.approx(T0 + 20 + LEASE_DURATION_S)
    assert not holding(lease).free_for("run-b", T0 + LEASE_DURATION_S + 1)
    assert holding(lease).free_for("run-b", T0 + 20 + LEASE_DURATION_S)
    holder.release()
    assert fake_api.get(LEASE, LEASE_NAME, NS) is None
    LeaseHolder(_api(fake_api), NS, "run-b", clock=lambda: T0, sleep=_no_sleep).acquire()


def test_a_namespace_this_run_did_not_create_is_not_deleted(fake_api: FakeApi) -> None:
    """Finding: a 409 on the namespace's create counted as "created", and the teardown deleted
    a namespace another run made."""
    names = names_for("naive", NS, "run-b")
    real_read = fake_api.read
    raced = {"done": False}

    def read_racing(kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        # Another run creates the namespace between this run's read and its create.
        answer = real_read(kind, name, namespace)
        if kind.name == NAMESPACE.name and not raced["done"]:
            raced["done"] = True
            _namespace(fake_api, "run-a")
        return answer

    fake_api.read = read_racing  # type: ignore[method-assign]
    uid = ensure_namespace(_api(fake_api), names, "run-b", None, None)
    assert uid is None
    created = ("create", "namespace", NS) in fake_api.calls
    assert created, "the create was tried, and its 409 means: not ours"


def test_the_namespace_is_deleted_only_by_its_recorded_uid(fake_api: FakeApi) -> None:
    made = _namespace(fake_api, "run-a")
    uid = made["metadata"]["uid"]
    # Another namespace of that name now (deleted and made again by someone else):
    del fake_api.objects[(NAMESPACE.name, None, NS)]
    _namespace(fake_api, "run-a")
    assert not delete_namespace(_api(fake_api), NS, uid, "run-a")
    assert fake_api.get(NAMESPACE, NS) is not None
    # The very namespace, but another run's by now: left alone too.
    current = fake_api.get(NAMESPACE, NS)
    assert current is not None
    assert not delete_namespace(_api(fake_api), NS, current["metadata"]["uid"], "run-b")
    assert delete_namespace(_api(fake_api), NS, current["metadata"]["uid"], "run-a")
    assert fake_api.get(NAMESPACE, NS) is None


def test_an_existing_namespace_drainlab_did_not_make_is_refused_unless_allowed(
    fake_api: FakeApi,
) -> None:
    fake_api.put(NAMESPACE, {"metadata": {"name": "team-x", "labels": {"team": "x"}}})
    fake_api.calls.clear()
    names = names_for("naive", "team-x", "run-a")
    with pytest.raises(BackendError) as err:
        ensure_namespace(_api(fake_api), names, "run-a", None, None)
    assert "--allow-namespace team-x" in str(err.value) and "\n" not in str(err.value)
    assert ensure_namespace(_api(fake_api), names, "run-a", None, "team-x") is None
    assert fake_api.writes() == []


@pytest.mark.parametrize(
    "namespace", ["kube-system", "kube-public", "kube-node-lease", "default", "kube-flannel"]
)
def test_system_namespaces_are_refused_before_anything(namespace: str) -> None:
    """Finding: `--namespace kube-system` was accepted without a word."""
    with pytest.raises(UsageError) as err:
        KubeBackend(Kube(namespace=namespace, allow_namespace=namespace))
    assert "system namespace" in str(err.value) and "\n" not in str(err.value)


def test_a_namespace_that_is_no_name_is_refused() -> None:
    with pytest.raises(UsageError):
        KubeBackend(Kube(namespace="Not_A_Name"))


def _session(run_id: str) -> Session:
    names = names_for("naive", NS, run_id)
    return Session(DeploySpec("naive"), names, lambda e: None, "v1", lambda p, c: None, None)


def test_the_run_that_made_the_namespace_deletes_it_and_its_lease(fake_api: FakeApi) -> None:
    session = _session("run-a")
    claim_namespace(_api(fake_api), session, "run-a", None, None, 1.0)
    made = fake_api.get(NAMESPACE, NS)
    assert made is not None and session.namespace_uid == made["metadata"]["uid"]
    assert made["metadata"]["labels"][LABEL_RUN] == "run-a"
    assert release_namespace(_api(fake_api), session, "run-a")
    assert fake_api.get(NAMESPACE, NS) is None and fake_api.get(LEASE, LEASE_NAME, NS) is None


def test_a_namespace_made_by_another_is_kept_and_only_the_lease_goes(fake_api: FakeApi) -> None:
    theirs = _namespace(fake_api, "run-elsewhere")
    session = _session("run-b")
    claim_namespace(_api(fake_api), session, "run-b", None, None, 1.0)
    assert session.namespace_uid is None
    assert not release_namespace(_api(fake_api), session, "run-b")
    assert fake_api.get(NAMESPACE, NS) == theirs
    assert fake_api.get(LEASE, LEASE_NAME, NS) is None


def test_a_run_that_lost_its_lease_stops_and_deletes_no_namespace(fake_api: FakeApi) -> None:
    session = _session("run-a")
    claim_namespace(_api(fake_api), session, "run-a", None, None, 1.0)
    lease = fake_api.get(LEASE, LEASE_NAME, NS)
    assert lease is not None
    # Another run took it over while this one could not renew (a suspended laptop).
    taken = lease_object_for("run-b", lease)
    assert fake_api.replace(LEASE, LEASE_NAME, NS, taken)
    assert session.lease is not None and not session.lease.renew()
    with pytest.raises(BackendError) as err:
        check_lease(session)
    assert "lost the Lease" in str(err.value) and "run-b" in str(err.value)
    assert not release_namespace(_api(fake_api), session, "run-a")
    assert fake_api.get(NAMESPACE, NS) is not None
    after = fake_api.get(LEASE, LEASE_NAME, NS)
    assert after is not None and after["spec"]["holderIdentity"] == "run-b"


def lease_object_for(run_id: str, existing: dict[str, Any]) -> dict[str, Any]:
    from harness.backends.kube.lease import lease_object

    return lease_object(NS, run_id, T0 + 3600, existing)
