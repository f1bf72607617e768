"""Chaos as data: the pure plan, and play_chaos against an in-memory backend."""

from __future__ import annotations

import asyncio
import random
import re
import time
import tracemalloc

import pytest

from harness.backends.base import DeploySpec, EventSink, Eviction, PodInfo, Target
from harness.chaos import Chaos, ChaosOutcome, due_times, eligible, pick_targets, play_chaos
from harness.disruptions import uncordon_drained
from harness.errors import ApiUnavailable, BackendError, ScenarioError
from harness.scenario import Scenario, validate
from harness.timeline import EventKind, TimelineEvent


def _pods(*names: str, terminating: tuple[str, ...] = ()) -> list[PodInfo]:
    return [PodInfo(n, True, n in terminating, created=float(i)) for i, n in enumerate(names)]


class FakeBackend:
    """Pods in a list; a delete marks the pod terminating and adds a replacement at once."""

    name = "fake"

    def __init__(self, replicas: int = 3) -> None:
        self.counter = 0
        self.pods: list[PodInfo] = []
        for _ in range(replicas):
            self._add()
        self.deleted: list[tuple[str, float | None]] = []
        self.restarts: list[tuple[str, str]] = []

    def _add(self) -> str:
        self.counter += 1
        name = f"p{self.counter}"
        self.pods.append(PodInfo(name, True, False, created=float(self.counter)))
        return name

    async def deploy(self, spec: DeploySpec, emit: EventSink) -> Target:
        return Target("127.0.0.1", 1)

    async def list_pods(self) -> list[PodInfo]:
        return list(reversed(self.pods))  # any order: chaos sorts by creation itself

    async def delete_pod(self, name: str, grace_period_s: float | None = None) -> None:
        if name == "p-broken":
            raise BackendError("refused")
        if name == "p-unreachable":
            raise ApiUnavailable("kube API: delete pod p-unreachable failed after 5 attempts")
        self.deleted.append((name, grace_period_s))
        self.pods = [
            PodInfo(p.name, p.ready, p.terminating or p.name == name, p.created) for p in self.pods
        ]
        self._add()

    async def rolling_restart(self, max_surge: str = "25%", max_unavailable: str = "25%") -> None:
        self.restarts.append((max_surge, max_unavailable))
        await asyncio.sleep(0.05)
        for pod in [p for p in self.pods if not p.terminating]:
            await self.delete_pod(pod.name)

    async def wait_settled(self, timeout_s: float) -> None:
        return None

    async def teardown(self) -> None:
        return None


def _play(
    chaos: Chaos, offsets: list[float], seed: int = 5
) -> tuple[list[ChaosOutcome], list[TimelineEvent], FakeBackend]:
    backend = FakeBackend()
    events: list[TimelineEvent] = []
    outcomes = asyncio.run(
        play_chaos(backend, chaos, offsets, random.Random(seed), events.append, time.time())
    )
    return outcomes, events, backend


def test_due_times_are_sorted_offsets_from_t0() -> None:
    assert due_times([2.0, 0.5, 1.0], 100.0) == [100.5, 101.0, 102.0]


def test_only_pods_not_terminating_are_eligible_oldest_first() -> None:
    pods = [
        PodInfo("b", True, False, 2.0),
        PodInfo("a", True, True, 0.0),
        PodInfo("c", False, False, 1.0),
    ]
    assert [p.name for p in eligible(pods)] == ["c", "b"]


def test_pick_targets_per_action() -> None:
    pods = _pods("a", "b", "c", terminating=("b",))
    rng = random.Random(1)
    assert pick_targets("delete_all", pods, rng) == (["a", "c"], None)
    assert pick_targets("rolling_restart", pods, rng) == (["a", "c"], None)
    assert pick_targets("delete_named", pods, rng, "1") == (["c"], None)
    assert pick_targets("delete_named", pods, rng, "c") == (["c"], None)
    assert pick_targets("delete_named", pods, rng, "b")[0] == []  # terminating already
    assert "index 5" in str(pick_targets("delete_named", pods, rng, "5")[1])
    (target,), error = pick_targets("delete_random", pods, rng)
    assert target in {"a", "c"} and error is None
    assert pick_targets("delete_random", _pods("a", terminating=("a",)), rng)[0] == []
    with pytest.raises(ValueError):
        pick_targets("explode", pods, rng)


def test_delete_random_picks_a_serving_pod_over_one_still_starting() -> None:
    pods = [PodInfo("old", True, False, 1.0), PodInfo("starting", False, False, 2.0)]
    picked = {pick_targets("delete_random", pods, random.Random(seed))[0][0] for seed in range(20)}
    assert picked == {"old"}
    only_starting = [PodInfo("starting", False, False, 2.0)]
    assert pick_targets("delete_random", only_starting, random.Random(1)) == (["starting"], None)


def test_a_seeded_schedule_repeats_exactly() -> None:
    chaos = Chaos(action="delete_random", grace_period_s=4.0)
    offsets = [0.0, 0.02, 0.04, 0.06, 0.08, 0.1]
    first, _, backend = _play(chaos, offsets, seed=11)
    again, _, _ = _play(chaos, offsets, seed=11)
    other, _, _ = _play(chaos, offsets, seed=12)
    picks = [o.targets for o in first]
    assert picks == [o.targets for o in again]
    assert picks != [o.targets for o in other]
    assert all(grace == 4.0 for _, grace in backend.deleted)
    assert [o.offset_s for o in first] == offsets


def test_every_action_is_an_event_and_an_outcome() -> None:
    outcomes, events, backend = _play(Chaos(action="delete_all"), [0.0, 0.05])
    chaos_events = [e for e in events if e.kind == EventKind.CHAOS_ACTION]
    assert [e.detail["targets"] for e in chaos_events] == [o.targets for o in outcomes]
    assert outcomes[0].targets == ["p1", "p2", "p3"]
    assert outcomes[1].targets == ["p4", "p5", "p6"]  # the replacements, not the terminating
    assert len(backend.deleted) == 6
    assert all(e.detail["action"] == "delete_all" for e in chaos_events)
    assert all(o.ts >= e.ts - 1e-6 for o, e in zip(outcomes, chaos_events, strict=True))


def test_actions_fire_at_their_offsets() -> None:
    t0 = time.time()
    backend = FakeBackend()
    outcomes = asyncio.run(
        play_chaos(backend, Chaos(), [0.1, 0.3], random.Random(1), lambda e: None, t0)
    )
    for outcome in outcomes:
        assert outcome.offset_s - 0.01 <= outcome.ts - t0 <= outcome.offset_s + 0.5


def test_delete_named_by_index_and_name_and_nothing_to_do() -> None:
    outcomes, events, _ = _play(Chaos(action="delete_named", pod="0"), [0.0, 0.01])
    assert [o.targets for o in outcomes] == [["p1"], ["p2"]]  # index 0: the oldest left
    outcomes, events, _ = _play(Chaos(action="delete_named", pod="p2"), [0.0, 0.01])
    assert outcomes[0].targets == ["p2"]
    assert outcomes[1].targets == [] and "p2" in str(outcomes[1].error)
    assert events[1].detail["error"] == outcomes[1].error


def test_a_backend_error_is_recorded_and_the_schedule_goes_on() -> None:
    backend = FakeBackend()
    backend.pods.append(PodInfo("p-broken", True, False, created=0.5))
    outcomes = asyncio.run(
        play_chaos(
            backend,
            Chaos(action="delete_named", pod="p-broken"),
            [0.0],
            random.Random(1),
            lambda e: None,
            time.time(),
        )
    )
    assert outcomes[0].error == "p-broken: refused"


def test_an_api_that_keeps_failing_ends_the_schedule() -> None:
    backend = FakeBackend()
    backend.pods.append(PodInfo("p-unreachable", True, False, created=0.5))
    chaos = Chaos(action="delete_named", pod="p-unreachable")
    with pytest.raises(ApiUnavailable, match="after 5 attempts"):
        asyncio.run(
            play_chaos(backend, chaos, [0.0, 0.01], random.Random(1), lambda e: None, time.time())
        )
    assert backend.deleted == []


def test_rolling_restart_runs_in_the_background_and_is_awaited() -> None:
    outcomes, _, backend = _play(
        Chaos(action="rolling_restart", max_surge="1", max_unavailable="0"), [0.0, 0.01]
    )
    assert backend.restarts == [("1", "0"), ("1", "0")]
    assert outcomes[0].targets == ["p1", "p2", "p3"]
    assert len(backend.deleted) >= 3


def test_the_scenario_offsets_feed_play_chaos() -> None:
    scenario = Scenario(duration_s=1.0)
    scenario.chaos.start_after_s = 0.0
    scenario.chaos.every_s = 0.05
    scenario.chaos.count = 3
    outcomes, _, _ = _play(scenario.chaos, scenario.chaos_offsets())
    assert len(outcomes) == 3 and all(len(o.targets) == 1 for o in outcomes)


def test_an_absurd_count_is_refused_without_building_the_schedule() -> None:
    scenario = Scenario(duration_s=3600.0, chaos=Chaos(count=2_000_000, every_s=0.001))
    tracemalloc.start()
    try:
        with pytest.raises(ScenarioError, match=r"chaos\.count: must be >= 0 and <= 10000"):
            validate(scenario)
        with pytest.raises(ScenarioError, match="2000000 actions planned, at most 10000"):
            scenario.chaos_offsets()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # the 2e6 offsets alone would take 60 MB


# ----- the disruption actions (harness.disruptions) ---------------------------------------------


class DisruptingBackend(FakeBackend):
    """FakeBackend with the verbs of issue 19: evictions refused while ``blocking``; one node."""

    def __init__(self, blocking: bool = False) -> None:
        super().__init__()
        self.blocking = blocking
        self.calls: list[tuple[str, object]] = []
        self.pods = [PodInfo(p.name, p.ready, p.terminating, p.created, "n1") for p in self.pods]

    async def evict_pod(self, name: str, retry_s: float, timeout_s: float) -> Eviction:
        self.calls.append(("evict", name))
        if self.blocking:
            return Eviction(name, False, 3, timeout_s, 429, "budget")
        await self.delete_pod(name)
        return Eviction(name, True, 1, 0.0, 201, None)

    async def cordon(self, node: str) -> None:
        self.calls.append(("cordon", node))

    async def uncordon(self, node: str) -> None:
        self.calls.append(("uncordon", node))

    async def scale(self, replicas: int) -> None:
        self.calls.append(("scale", replicas))

    async def crash_pod(self, name: str) -> None:
        self.calls.append(("crash", name))


def _disrupt(
    chaos: Chaos, backend: DisruptingBackend, offsets: list[float] | None = None
) -> tuple[list[ChaosOutcome], list[TimelineEvent]]:
    events: list[TimelineEvent] = []
    outcomes = asyncio.run(
        play_chaos(
            backend, chaos, offsets or [0.0], random.Random(5), events.append, time.time(), 3
        )
    )
    return outcomes, events


def test_evict_records_evicted_or_blocked_in_the_journal_and_the_event() -> None:
    outcomes, events = _disrupt(Chaos(action="evict"), DisruptingBackend())
    assert outcomes[0].detail["evicted"] is True and outcomes[0].error is None
    (event,) = [e for e in events if e.kind == EventKind.CHAOS_ACTION]
    assert event.detail["evicted"] is True and event.detail["status"] == 201
    assert event.ts == outcomes[0].ts  # stamped when it began, written when it ended

    outcomes, events = _disrupt(Chaos(action="evict"), DisruptingBackend(blocking=True))
    assert outcomes[0].detail["blocked"] is True and outcomes[0].detail["attempts"] == 3
    assert outcomes[0].error == "blocked: budget"
    assert events[0].detail["blocked"] is True


def test_drain_node_cordons_then_evicts_every_pod_on_the_node_and_uncordons_when_asked() -> None:
    backend = DisruptingBackend()
    outcomes, events = _disrupt(Chaos(action="drain_node", uncordon_after_s=0.05), backend)
    assert backend.calls[0] == ("cordon", "n1")
    assert sorted(n for verb, n in backend.calls if verb == "evict") == ["p1", "p2", "p3"]
    assert backend.calls[-1] == ("uncordon", "n1")
    assert outcomes[0].detail["node"] == "n1"
    assert sorted(outcomes[0].targets) == ["p1", "p2", "p3"]
    assert events[0].detail["evicted"] == outcomes[0].targets


def test_drain_node_without_uncordon_after_leaves_the_node_to_teardown() -> None:
    backend = DisruptingBackend(blocking=True)
    outcomes, _ = _disrupt(Chaos(action="drain_node"), backend)
    assert ("uncordon", "n1") not in backend.calls
    assert sorted(outcomes[0].detail["blocked"]) == ["p1", "p2", "p3"]  # type: ignore[call-overload]
    assert outcomes[0].error is not None and outcomes[0].error.startswith("blocked: ")


def test_scale_down_scales_by_and_restores_the_deployed_replicas() -> None:
    backend = DisruptingBackend()
    outcomes, _ = _disrupt(Chaos(action="scale_down", scale_by=2, restore_after_s=0.05), backend)
    assert backend.calls == [("scale", 1), ("scale", 3)]
    assert outcomes[0].detail == {"from": 3, "to": 1}


def test_crash_picks_one_serving_pod_with_the_seed() -> None:
    first, second = DisruptingBackend(), DisruptingBackend()
    _disrupt(Chaos(action="crash"), first, [0.0, 0.01])
    _disrupt(Chaos(action="crash"), second, [0.0, 0.01])
    assert first.calls == second.calls and len(first.calls) == 2
    assert all(verb == "crash" for verb, _ in first.calls)


def test_a_refused_disruption_is_recorded_and_the_schedule_goes_on() -> None:
    class Refusing(DisruptingBackend):
        async def crash_pod(self, name: str) -> None:
            raise BackendError("kube: cannot reach the node's runtime")

    outcomes, events = _disrupt(Chaos(action="crash"), Refusing(), [0.0, 0.01])
    assert [o.error for o in outcomes] == ["kube: cannot reach the node's runtime"] * 2
    assert all("error" in e.detail for e in events)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"scale_by": 0}, "chaos.scale_by: must be > 0"),
        ({"evict_retry_s": 0}, "chaos.evict_retry_s: must be > 0"),
        ({"evict_timeout_s": -1}, "chaos.evict_timeout_s: must be >= 0"),
        ({"restore_after_s": 1e9}, "chaos.restore_after_s: must be >= 0 and <= 86400"),
        ({"uncordon_after_s": -2}, "chaos.uncordon_after_s: must be >= 0"),
    ],
)
def test_the_disruption_settings_are_bounded(settings: dict[str, float], message: str) -> None:
    scenario = Scenario()
    for key, value in settings.items():
        setattr(scenario.chaos, key, value)
    with pytest.raises(ScenarioError, match=re.escape(message)):
        validate(scenario)


def test_the_nodes_drains_left_cordoned_are_uncordoned_once_the_load_is_over() -> None:
    backend = DisruptingBackend()
    outcomes, _ = _disrupt(Chaos(action="drain_node"), backend)
    assert ("uncordon", "n1") not in backend.calls
    asyncio.run(uncordon_drained(backend, outcomes))
    assert backend.calls[-1] == ("uncordon", "n1")
