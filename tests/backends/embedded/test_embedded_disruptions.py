"""The embedded backend's disruption verbs on the sample app, without load: what each does to
the pods, the endpoints and the timeline (the drops they cause: tests/e2e/test_e2e_disruptions.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from helpers.embedded import by_kind

from harness.appspec import App, Probe
from harness.backends.embedded import EmbeddedBackend
from harness.backends.embedded.app import SAMPLE_APP
from harness.pdb import Pdb
from harness.scenario import Embedded, Scenario
from harness.timeline import EventKind, TimelineEvent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SAMPLE_APP.is_file(), reason="needs sample-app/app.py"),
]

FAST = Embedded(propagation_min_s=0.1, propagation_max_s=0.2)

Scene = Callable[[EmbeddedBackend, list[TimelineEvent]], Awaitable[None]]


def _play(
    scene: Scene,
    tmp_path: Path,
    *,
    order: str = "naive",
    pdb: Pdb | None = None,
    embedded: Embedded = FAST,
    readiness: Probe | None = None,
) -> list[TimelineEvent]:
    app = App(
        shutdown_delay_s=1.0,
        prestop_sleep_s=1.0,
        grace_period_s=10.0,
        readiness=readiness or Probe(period_s=0.1, timeout_s=1.0),
        pdb=pdb,
    )
    events: list[TimelineEvent] = []

    async def main() -> None:
        backend = EmbeddedBackend(embedded, app, seed=3, log_dir=tmp_path / "logs")
        async with backend:
            await backend.deploy(Scenario(replicas=3, app=app).deploy_spec(order), events.append)
            await scene(backend, events)

    asyncio.run(main())
    return events


def test_evict_with_a_budget_of_every_replica_is_blocked_and_retried(tmp_path: Path) -> None:
    outcome = {}

    async def scene(backend: EmbeddedBackend, _: list[TimelineEvent]) -> None:
        name = (await backend.list_pods())[0].name
        outcome["eviction"] = await backend.evict_pod(name, retry_s=0.2, timeout_s=0.5)
        assert not any(p.terminating for p in await backend.list_pods())

    events = _play(scene, tmp_path, pdb=Pdb(min_available="3"))
    eviction = outcome["eviction"]
    assert not eviction.evicted and eviction.last_status == 429 and eviction.attempts == 3
    blocked = by_kind(events, EventKind.EVICTION_BLOCKED)
    assert [e.detail["attempt"] for e in blocked] == [1, 2, 3]
    assert blocked[-1].detail["retry_in_s"] is None  # the next retry would be past the timeout
    assert "needs 3 healthy pods and has 3" in blocked[0].detail["message"]
    assert by_kind(events, EventKind.DELETE_REQUESTED) == []


def test_evict_without_a_budget_deletes_the_pod_as_evicted(tmp_path: Path) -> None:
    async def scene(backend: EmbeddedBackend, _: list[TimelineEvent]) -> None:
        name = (await backend.list_pods())[0].name
        eviction = await backend.evict_pod(name, retry_s=0.2, timeout_s=0.5)
        assert eviction.evicted and eviction.attempts == 1 and eviction.last_status == 201
        await backend.wait_settled(30)

    events = _play(scene, tmp_path)
    (deleted,) = by_kind(events, EventKind.DELETE_REQUESTED)
    assert deleted.detail["stopped_by"] == "evict"
    assert by_kind(events, EventKind.EVICTION_BLOCKED) == []


def test_a_cordoned_node_keeps_replacements_pending_until_uncordoned(tmp_path: Path) -> None:
    async def scene(backend: EmbeddedBackend, _: list[TimelineEvent]) -> None:
        await backend.cordon("embedded")
        for pod in await backend.list_pods():
            eviction = await backend.evict_pod(pod.name, retry_s=0.2, timeout_s=0.5)
            assert eviction.evicted
        await asyncio.sleep(1.0)
        alive = [p for p in await backend.list_pods() if not p.terminating]
        assert len(alive) == 3 and not any(p.ready or p.node for p in alive)
        await backend.uncordon("embedded")
        await backend.wait_settled(30)

    events = _play(scene, tmp_path)
    stopped_by = {e.detail["stopped_by"] for e in by_kind(events, EventKind.DELETE_REQUESTED)}
    assert stopped_by == {"drain"}
    kinds = [e.kind for e in events if e.kind in (EventKind.NODE_CORDONED, "node_uncordoned")]
    assert kinds == [EventKind.NODE_CORDONED, EventKind.NODE_UNCORDONED]
    uncordoned = by_kind(events, EventKind.NODE_UNCORDONED)[0].ts
    started = by_kind(events, EventKind.POD_CONTAINER_STARTED)[3:]  # the replacements'
    assert len(started) == 3 and all(e.ts >= uncordoned for e in started)


def test_a_drain_with_a_budget_evicts_until_the_budget_blocks(tmp_path: Path) -> None:
    async def scene(backend: EmbeddedBackend, _: list[TimelineEvent]) -> None:
        await backend.cordon("embedded")
        results = [
            await backend.evict_pod(p.name, retry_s=0.2, timeout_s=0.5)
            for p in await backend.list_pods()
        ]
        assert [r.evicted for r in results] == [True, False, False]

    events = _play(scene, tmp_path, pdb=Pdb(max_unavailable="1"))
    assert len(by_kind(events, EventKind.DELETE_REQUESTED)) == 1


def test_scale_down_deletes_the_pod_ready_for_the_shortest_time_and_scale_up_brings_one_back(
    tmp_path: Path,
) -> None:
    async def scene(backend: EmbeddedBackend, events: list[TimelineEvent]) -> None:
        newest = by_kind(events, EventKind.POD_READY)[-1].pod
        await backend.scale(2)
        gone = [p.name for p in await backend.list_pods() if p.terminating]
        assert gone == [newest]
        await backend.scale(3)
        await backend.wait_settled(30)

    events = _play(scene, tmp_path)
    assert [e.detail for e in by_kind(events, EventKind.SCALED)] == [
        {"from": 3, "to": 2},
        {"from": 2, "to": 3},
    ]
    (deleted,) = by_kind(events, EventKind.DELETE_REQUESTED)
    assert deleted.detail["stopped_by"] == "scale_down"


def test_crash_kills_without_deletion_and_the_kubelet_restarts_the_container(
    tmp_path: Path,
) -> None:
    async def scene(backend: EmbeddedBackend, events: list[TimelineEvent]) -> None:
        name = (await backend.list_pods())[0].name
        await backend.crash_pod(name)
        for _ in range(200):  # at once the pod still looks settled: wait for the restart
            if by_kind(events, EventKind.CONTAINER_RESTARTED):
                break
            await asyncio.sleep(0.05)
        await backend.wait_settled(30)
        (pod,) = [p for p in await backend.list_pods() if p.name == name]
        assert pod.ready and not pod.terminating

    events = _play(scene, tmp_path, order="prestop")
    (crashed,) = by_kind(events, EventKind.POD_CRASHED)
    pod = crashed.pod
    mine = [e for e in events if e.pod == pod and e.ts >= crashed.ts]
    kinds = [e.kind for e in mine]
    assert crashed.detail["method"] == "signal" and crashed.detail["pid"] > 0
    for kind in (EventKind.DELETE_REQUESTED, EventKind.PRESTOP_STARTED, EventKind.SIGTERM_SENT):
        assert kind not in kinds
    assert EventKind.EXITED in kinds  # before or after the probe's verdict: they race
    order = [
        EventKind.POD_NOT_READY,
        EventKind.ENDPOINT_REMOVED,
        EventKind.CONTAINER_RESTARTED,
        EventKind.POD_READY,
        EventKind.ENDPOINT_ADDED,
    ]
    assert [k for k in kinds if k in order] == order
    exited = next(e for e in mine if e.kind == EventKind.EXITED)
    assert exited.detail["signal"] == "SIGKILL"
    not_ready = next(e for e in mine if e.kind == EventKind.POD_NOT_READY)
    assert not_ready.detail["reason"] == "probe"  # the readiness probe saw it, not the exit
    restarted = next(e for e in mine if e.kind == EventKind.CONTAINER_RESTARTED)
    assert restarted.detail["restart_count"] == 1


@pytest.mark.parametrize(("version", "kept"), [("1.20", False), ("1.28", True)])
def test_a_deleted_pod_that_still_serves_stays_as_serving_terminating_from_1_22(
    version: str, kept: bool, tmp_path: Path
) -> None:
    async def scene(backend: EmbeddedBackend, _: list[TimelineEvent]) -> None:
        await backend.delete_pod((await backend.list_pods())[0].name)
        await backend.wait_settled(30)

    embedded = Embedded(propagation_min_s=0.1, propagation_max_s=0.2, kubernetes_version=version)
    events = _play(scene, tmp_path, order="prestop", embedded=embedded)
    deleted = by_kind(events, EventKind.DELETE_REQUESTED)[0].pod
    removed = [e.detail for e in by_kind(events, EventKind.ENDPOINT_REMOVED) if e.pod == deleted]
    if kept:
        assert removed[0] == {
            "reason": "deleted",
            "ready": False,
            "serving": True,
            "terminating": True,
        }
        assert removed[1]["reason"] in ("not_serving", "gone") and removed[1]["serving"] is False
    else:
        assert removed == [
            {"reason": "deleted", "ready": False, "serving": None, "terminating": None}
        ]


def test_a_pod_that_never_got_a_node_goes_at_once_when_deleted(tmp_path: Path) -> None:
    async def scene(backend: EmbeddedBackend, _: list[TimelineEvent]) -> None:
        await backend.cordon("embedded")
        await backend.delete_pod((await backend.list_pods())[0].name)
        (pending,) = [p for p in await backend.list_pods() if p.node is None]
        await backend.scale(2)  # the controller deletes the unscheduled pod first
        assert [p.name for p in await backend.list_pods()].count(pending.name) == 0
        await backend.uncordon("embedded")
        await backend.wait_settled(30)

    events = _play(scene, tmp_path)
    deleted = by_kind(events, EventKind.DELETE_REQUESTED)
    assert [e.detail["stopped_by"] for e in deleted] == ["delete", "scale_down"]


def test_a_crashed_pod_whose_probe_is_slow_to_fail_leaves_the_endpoints_at_the_restart(
    tmp_path: Path,
) -> None:
    async def scene(backend: EmbeddedBackend, events: list[TimelineEvent]) -> None:
        await backend.crash_pod((await backend.list_pods())[0].name)
        for _ in range(200):
            if by_kind(events, EventKind.CONTAINER_RESTARTED):
                break
            await asyncio.sleep(0.05)
        await backend.wait_settled(30)

    slow_to_fail = Probe(period_s=0.1, timeout_s=1.0, failure_threshold=100)  # 10 s of failures
    events = _play(scene, tmp_path, readiness=slow_to_fail)
    (not_ready,) = by_kind(events, EventKind.POD_NOT_READY)
    assert not_ready.detail["reason"] == "restarted"
    assert len(by_kind(events, EventKind.CONTAINER_RESTARTED)) == 1
