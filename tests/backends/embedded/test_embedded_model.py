"""The embedded backend's pure parts: rollout arithmetic, propagation, app lines, pod names."""

from __future__ import annotations

import asyncio
import random

import pytest

from harness.backends.embedded.applog import app_event
from harness.backends.embedded.endpointcontroller import EndpointsModel, PropagationDelay
from harness.backends.embedded.pod import PodNames
from harness.backends.embedded.process import exit_code, signal_name
from harness.backends.embedded.proxy import Endpoint, ServiceProxy
from harness.backends.embedded.rollingupdate import (
    ReplicaSetState,
    resolve_fenceposts,
    rollout_step,
)
from harness.timeline import EventKind, TimelineEvent


@pytest.mark.parametrize(
    ("surge", "unavailable", "replicas", "expected"),
    [
        ("25%", "25%", 3, (1, 0)),  # surge rounds up, unavailable down
        ("25%", "25%", 4, (1, 1)),
        ("25%", "25%", 10, (3, 2)),
        ("0", "0", 3, (0, 1)),  # never both 0
        ("0%", "50%", 3, (0, 1)),
        ("2", "1", 5, (2, 1)),
    ],
)
def test_fenceposts_round_like_kubernetes(
    surge: str, unavailable: str, replicas: int, expected: tuple[int, int]
) -> None:
    assert resolve_fenceposts(surge, unavailable, replicas) == expected


def test_fenceposts_reject_garbage() -> None:
    with pytest.raises(ValueError):
        resolve_fenceposts("lots", "1", 3)


def _simulate(replicas: int, surge: int, unavailable: int) -> list[tuple[int, int, int, int]]:
    """Runs a rollout where every created pod is ready at the next sync; returns each state."""
    new_desired, new_ready = 0, 0
    old_desired, old_ready = replicas, replicas
    states = []
    for _ in range(50):
        new_desired, (old_desired,) = rollout_step(
            replicas,
            surge,
            unavailable,
            ReplicaSetState(new_desired, new_ready),
            [ReplicaSetState(old_desired, old_ready)],
        )
        old_ready = min(old_ready, old_desired)
        states.append((new_desired, new_ready, old_desired, old_ready))
        assert new_desired + old_desired <= replicas + surge
        assert new_ready + old_ready >= replicas - unavailable
        if new_ready == replicas and old_desired == 0:
            return states
        new_ready = new_desired  # the pods created by this sync are ready at the next
    raise AssertionError(f"rollout did not finish: {states}")


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable"), [(3, 1, 0), (4, 1, 1), (10, 3, 2), (3, 0, 1), (1, 1, 0)]
)
def test_a_rollout_finishes_within_surge_and_availability(
    replicas: int, surge: int, unavailable: int
) -> None:
    _simulate(replicas, surge, unavailable)


def test_unready_old_pods_go_first_without_costing_availability() -> None:
    # 3 replicas, no surge room used yet, one old pod not ready: it may go at once.
    new, (old,) = rollout_step(3, 0, 1, ReplicaSetState(0, 0), [ReplicaSetState(3, 2)])
    assert (new, old) == (0, 2)


def test_propagation_delays_are_seeded_and_bounded() -> None:
    draws = [PropagationDelay(random.Random(4), 0.5, 1.5).next() for _ in range(3)]
    assert draws == [PropagationDelay(random.Random(4), 0.5, 1.5).next() for _ in range(3)]
    delay = PropagationDelay(random.Random(4), 0.5, 1.5)
    assert all(0.5 <= delay.next() <= 1.5 for _ in range(200))
    assert PropagationDelay(random.Random(4), 0.7, 0.7).next() == 0.7
    with pytest.raises(ValueError):
        PropagationDelay(random.Random(4), 2.0, 1.0)


def test_the_proxy_applies_changes_late_and_in_order() -> None:
    events: list[TimelineEvent] = []

    async def main() -> None:
        proxy = ServiceProxy(random.Random(1))
        model = EndpointsModel(
            proxy, PropagationDelay(random.Random(2), 0.05, 0.2), events.append, lambda: None
        )
        endpoint = Endpoint("p", "127.0.0.1", 1)
        model.add(endpoint)
        assert model.controller == {"p": endpoint} and proxy.view == {} and not model.in_sync
        # Flapping faster than the proxy catches up: it must end with the latest state.
        model.remove("p", "not_ready")
        model.add(endpoint)
        model.remove("p", "deleted")
        while not model.in_sync:
            await asyncio.sleep(0.01)
        assert proxy.view == {} == model.controller

    asyncio.run(main())
    kinds = [e.kind for e in events]
    assert kinds[:4] == [
        EventKind.ENDPOINT_ADDED,
        EventKind.ENDPOINT_REMOVED,
        EventKind.ENDPOINT_ADDED,
        EventKind.ENDPOINT_REMOVED,
    ]
    assert kinds[4:] == [
        EventKind.ADDITION_APPLIED,
        EventKind.REMOVAL_APPLIED,
        EventKind.ADDITION_APPLIED,
        EventKind.REMOVAL_APPLIED,
    ]
    assert all(e.detail["delay_s"] >= 0.04 for e in events[4:])


def test_app_lines_become_app_events_with_their_own_time() -> None:
    event = app_event('{"ts": 12.5, "event": "sigterm", "pod": "x", "inflight": 2}', "naive-abcde")
    assert event == TimelineEvent(12.5, "app_sigterm", "naive-abcde", {"inflight": 2})
    assert app_event("Traceback (most recent call last):", "p") is None
    assert app_event('{"no": "event"}', "p") is None
    assert app_event("[1, 2]", "p") is None
    late = app_event('{"event": "exit", "ts": "soon"}', "p")
    assert late is not None and late.ts > 1e9  # a bad ts: the time we read it


def test_pod_names_are_seeded_and_unique() -> None:
    a, b = PodNames(random.Random(9)), PodNames(random.Random(9))
    names = [a.next("graceful") for _ in range(200)]
    assert names == [b.next("graceful") for _ in range(200)]
    assert len(set(names)) == 200
    assert all(n.startswith("graceful-") and len(n) == len("graceful-") + 5 for n in names)


def test_exit_codes_follow_kubernetes() -> None:
    assert (exit_code(0), exit_code(1), exit_code(-9), exit_code(-15)) == (0, 1, 137, 143)
    assert (signal_name(-9), signal_name(0)) == ("SIGKILL", None)
