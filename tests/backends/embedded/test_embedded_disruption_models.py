"""The models behind the disruption actions, pure: PDB arithmetic, the ReplicaSet's victims, the
endpoint-semantics profiles, and the scenario keys that choose them."""

from __future__ import annotations

import random

import pytest

from harness.backends.embedded.pod import Pod
from harness.backends.embedded.proxy import Endpoint, ServiceProxy
from harness.backends.embedded.victims import pods_to_delete
from harness.errors import ScenarioError
from harness.kubeversion import parse_version
from harness.pdb import Pdb, desired_healthy, disruptions_allowed, eviction_allowed
from harness.scenario import Scenario, validate
from harness.settings import build

# ----- PodDisruptionBudget arithmetic (the disruption controller's) -----------------------------


@pytest.mark.parametrize(
    ("pdb", "expected", "desired"),
    [
        (Pdb(min_available="3"), 3, 3),
        (Pdb(min_available="50%"), 3, 2),  # 1.5 rounded up
        (Pdb(max_unavailable="1"), 3, 2),
        (Pdb(max_unavailable="50%"), 3, 1),  # 3 - ceil(1.5)
        (Pdb(max_unavailable="5"), 3, 0),
    ],
)
def test_desired_healthy(pdb: Pdb, expected: int, desired: int) -> None:
    assert desired_healthy(pdb, expected) == desired


def test_disruptions_allowed_are_healthy_pods_beyond_the_desired() -> None:
    pdb = Pdb(min_available="2")
    assert disruptions_allowed(pdb, 3, 3) == 1
    assert disruptions_allowed(pdb, 3, 2) == 0
    assert disruptions_allowed(pdb, 3, 1) == 0  # never below 0


def test_an_eviction_is_refused_when_it_would_break_the_budget() -> None:
    assert eviction_allowed(None, 3, 0, True)  # no budget: always
    every_replica = Pdb(min_available="3")
    assert not eviction_allowed(every_replica, 3, 3, True)
    one_spare = Pdb(max_unavailable="1")
    assert eviction_allowed(one_spare, 3, 3, True)
    assert not eviction_allowed(one_spare, 3, 2, True)  # one is already down
    # A pod that is not ready itself costs no healthy pod while the budget holds.
    assert eviction_allowed(Pdb(min_available="2"), 3, 2, False)
    assert not eviction_allowed(Pdb(min_available="3"), 3, 2, False)


# ----- the ReplicaSet's victims (ActivePodsWithRanks) ---------------------------------------------


def _pod(name: str, created: float, *, ready: bool = True, node: str | None = "embedded") -> Pod:
    pod = Pod(name, 0, created, "127.0.0.2", node=node, ready=ready)
    pod.ready_since = created + 1 if ready else None
    return pod


def test_scale_down_takes_the_newest_of_ready_pods() -> None:
    pods = [_pod("a", 1), _pod("b", 2), _pod("c", 3)]
    assert [p.name for p in pods_to_delete(pods, 1)] == ["c"]
    assert [p.name for p in pods_to_delete(pods, 2)] == ["c", "b"]


def test_scale_down_takes_unscheduled_then_not_ready_pods_before_ready_ones() -> None:
    pods = [_pod("old-not-ready", 1, ready=False), _pod("new", 3), _pod("pending", 0, node=None)]
    assert [p.name for p in pods_to_delete(pods, 3)] == ["pending", "old-not-ready", "new"]


def test_among_ready_pods_the_most_restarted_goes_first_when_ready_as_long() -> None:
    steady, restarted = _pod("steady", 5), _pod("restarted", 1)
    restarted.ready_since = steady.ready_since
    restarted.restarts = 2
    assert pods_to_delete([steady, restarted], 1)[0].name == "restarted"


# ----- endpoint semantics by version (KEP-1672, KEP-1669) -----------------------------------------


@pytest.mark.parametrize(
    ("text", "conditions", "fallback"),
    [
        ("1.20", False, False),
        ("1.21", False, False),
        ("1.22", True, False),
        ("1.25", True, False),
        ("1.26", True, True),
        ("v1.28.3", True, True),
    ],
)
def test_profiles(text: str, conditions: bool, fallback: bool) -> None:
    profile = parse_version(text)
    assert profile is not None
    assert profile.publishes_conditions is conditions
    assert profile.serving_terminating_fallback is fallback


@pytest.mark.parametrize("text", ["1.2", "2.0", "latest", "1.15", ""])
def test_versions_outside_the_profiles_are_refused(text: str) -> None:
    assert parse_version(text) is None
    scenario = Scenario()
    scenario.embedded.kubernetes_version = text
    with pytest.raises(ScenarioError, match=r"embedded\.kubernetes_version: expected a version"):
        validate(scenario)


def test_the_proxy_uses_serving_terminating_endpoints_only_when_none_is_ready() -> None:
    proxy = ServiceProxy(random.Random(1))
    ready, leaving = Endpoint("a", "127.0.0.2", 1), Endpoint("b", "127.0.0.3", 1)
    proxy.set_endpoint(ready)
    proxy.set_endpoint(leaving)
    proxy.set_fallback(leaving, routable=True)
    assert {proxy._choose() for _ in range(20)} == {ready}
    proxy.remove_endpoint("a")
    assert proxy._choose() == leaving  # no ready endpoint: the fallback
    proxy.remove_endpoint("b")
    assert proxy._choose() is None


def test_before_1_26_a_serving_terminating_endpoint_is_never_routed_to() -> None:
    proxy = ServiceProxy(random.Random(1))
    leaving = Endpoint("b", "127.0.0.3", 1)
    proxy.set_endpoint(leaving)
    proxy.set_fallback(leaving, routable=False)
    assert proxy._choose() is None
    assert proxy.fallback_view == {"b": leaving}


# ----- the scenario keys -------------------------------------------------------------------------


def test_app_pdb_is_read_as_an_int_or_a_percentage() -> None:
    scenario = build(Scenario, {"app": {"pdb": {"min_available": 2}}}, "")
    assert scenario.app.pdb == Pdb(min_available="2")
    validate(scenario)
    scenario = build(Scenario, {"app": {"pdb": {"max_unavailable": "50%"}}}, "")
    validate(scenario)


@pytest.mark.parametrize(
    ("pdb", "message"),
    [
        ({}, "app.pdb: give exactly one of min_available and max_unavailable"),
        ({"min_available": 1, "max_unavailable": 1}, "app.pdb: give exactly one"),
        ({"min_available": "half"}, "app.pdb.min_available: expected an integer or a percentage"),
        ({"max_unavailable": -1}, "app.pdb.max_unavailable: expected an integer or a percentage"),
        ({"min_available": "150%"}, "app.pdb.min_available: a percentage must be at most 100%"),
    ],
)
def test_a_bad_app_pdb_is_one_line(pdb: dict[str, object], message: str) -> None:
    scenario = build(Scenario, {"app": {"pdb": pdb}}, "")
    with pytest.raises(ScenarioError, match=message):
        validate(scenario)
