"""The embedded backend with real processes: creation, deletion, preStop, SIGKILL, ReplicaSet,
rolling restart. A tiny app (tests/helpers/embedded.py) keeps each test to a few seconds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from helpers.embedded import (
    FAST,
    LoadClient,
    by_kind,
    fast_app,
    first,
    get,
    timeline_text,
    tiny_app,
)

from harness.appspec import Variant
from harness.backends.base import DeploySpec
from harness.backends.embedded import EmbeddedBackend, Route
from harness.backends.embedded import app as app_module
from harness.errors import BackendError
from harness.timeline import EventKind, TimelineEvent


def _backend(tmp_path: Path, mode: str = "exit", **kwargs: object) -> EmbeddedBackend:
    # A stuck rollout or deploy fails the test with the pods' states instead of hanging it.
    kwargs.setdefault("deploy_timeout_s", 30.0)
    kwargs.setdefault("rollout_timeout_s", 30.0)
    return EmbeddedBackend(
        FAST,
        tiny_app(tmp_path, mode),
        seed=3,
        log_dir=tmp_path / "logs",
        record_routes=True,
        **kwargs,  # type: ignore[arg-type]
    )


def test_deploy_walks_the_creation_path_for_every_pod(tmp_path: Path) -> None:
    events: list[TimelineEvent] = []

    async def main() -> None:
        async with _backend(tmp_path) as backend:
            target = await backend.deploy(DeploySpec("naive", replicas=2), events.append)
            pods = await backend.list_pods()
            assert len(pods) == 2 and all(p.ready and not p.terminating for p in pods)
            assert all(
                p.name.startswith("naive-") and len(p.name) == len("naive-") + 5 for p in pods
            )
            served = {(await get(target.host, target.port))[1] for _ in range(30)}
            assert served == {p.name for p in pods}
            hosts = {backend.pod_endpoint(p.name)[0] for p in pods}
            assert len(hosts) == 2 and all(h.startswith("127.") for h in hosts)

    asyncio.run(main())
    for pod in {e.pod for e in by_kind(events, EventKind.POD_CREATED)}:
        chain = [
            first(events, kind, pod)
            for kind in (
                EventKind.POD_CREATED,
                EventKind.POD_CONTAINER_STARTED,
                EventKind.POD_READY,
                EventKind.ENDPOINT_ADDED,
            )
        ]
        chain.append(first(events, EventKind.ADDITION_APPLIED, pod))
        stamps = [e.ts for e in chain]
        assert stamps == sorted(stamps)
        delay = first(events, EventKind.ADDITION_APPLIED, pod).detail["delay_s"]
        assert FAST.propagation_min_s - 0.01 <= delay <= FAST.propagation_max_s + 1.0
        assert first(events, EventKind.APP_STARTED, pod).detail["port"] > 0
    # Teardown is not part of the experiment: nothing after it reaches the timeline.
    assert not by_kind(events, EventKind.EXITED)


def test_an_app_that_ignores_sigterm_is_killed_when_the_grace_period_ends(tmp_path: Path) -> None:
    events: list[TimelineEvent] = []
    grace = 2.5  # above the kubelet's 2 s floor between SIGTERM and SIGKILL

    async def main() -> None:
        async with _backend(tmp_path, "ignore") as backend:
            await backend.deploy(
                DeploySpec("naive", replicas=1, change=Variant(grace_period_s=grace)), events.append
            )
            (pod,) = await backend.list_pods()
            await backend.delete_pod(pod.name)
            await backend.wait_settled(30)
            assert pod.name not in {p.name for p in await backend.list_pods()}

    asyncio.run(main())
    victim = first(events, EventKind.DELETE_REQUESTED).pod
    deleted = first(events, EventKind.DELETE_REQUESTED, victim)
    assert deleted.detail["grace_period_s"] == grace
    assert first(events, EventKind.SIGTERM_SENT, victim).ts - deleted.ts < 0.5
    assert first(events, "app_sigterm", victim)  # it got the signal and carried on
    killed = first(events, EventKind.KILLED, victim)
    assert grace - 0.05 <= killed.ts - deleted.ts <= grace + 2.0
    exited = first(events, EventKind.EXITED, victim)
    assert exited.ts >= killed.ts
    assert exited.detail == {"code": 137, "signal": "SIGKILL"}


def test_a_prestop_sleep_delays_sigterm_by_its_length(tmp_path: Path) -> None:
    events: list[TimelineEvent] = []
    prestop = 1.0

    async def main() -> None:
        async with _backend(tmp_path) as backend:
            spec = DeploySpec(
                "prestop",
                replicas=1,
                change=Variant(prestop_sleep_s=prestop, grace_period_s=10),
            )
            await backend.deploy(spec, events.append)
            (pod,) = await backend.list_pods()
            await backend.delete_pod(pod.name)
            await backend.wait_settled(30)

    asyncio.run(main())
    victim = first(events, EventKind.DELETE_REQUESTED).pod
    deleted = first(events, EventKind.DELETE_REQUESTED, victim).ts
    assert first(events, EventKind.PRESTOP_STARTED, victim).ts - deleted < 0.5
    assert first(events, EventKind.PRESTOP_ENDED, victim).detail["cut_short"] is False
    sigterm = first(events, EventKind.SIGTERM_SENT, victim).ts
    assert prestop - 0.05 <= sigterm - deleted <= prestop + 1.5
    assert first(events, EventKind.EXITED, victim).detail["code"] == 0
    assert not by_kind(events, EventKind.KILLED)
    # The endpoint went at the delete call, not at SIGTERM.
    assert first(events, EventKind.ENDPOINT_REMOVED, victim).ts - deleted < 0.1


def test_a_deleted_pod_is_replaced_and_the_new_one_gets_traffic_only_once_ready(
    tmp_path: Path,
) -> None:
    events: list[TimelineEvent] = []

    async def main() -> list[Route]:
        backend = _backend(tmp_path)
        async with backend:
            target = await backend.deploy(DeploySpec("naive", replicas=2), events.append)
            stop = asyncio.Event()
            client = LoadClient(target.host, target.port, workers=4, keepalive=False)
            load = asyncio.ensure_future(client.run(stop))
            await asyncio.sleep(0.3)
            for _ in range(2):
                victim = (await backend.list_pods())[0].name
                await backend.delete_pod(victim)
                await backend.wait_settled(30)
                await asyncio.sleep(0.5)  # traffic to the replacement, now that it is routed
            stop.set()
            await load
            routes = list(backend.proxy.routes)
        return routes

    routes = asyncio.run(main())
    replacements = [e for e in by_kind(events, EventKind.POD_CREATED) if "replaces" in e.detail]
    assert len(replacements) == 2
    for created in replacements:
        pod = created.pod
        assert created.detail["replaces"] in {
            e.pod for e in by_kind(events, EventKind.DELETE_REQUESTED)
        }
        ready = first(events, EventKind.POD_READY, pod)
        assert ready.detail == {"replaces": created.detail["replaces"]}
        applied = first(events, EventKind.ADDITION_APPLIED, pod).ts
        assert applied >= first(events, EventKind.ENDPOINT_ADDED, pod).ts >= ready.ts
        to_pod = [r.ts for r in routes if r.pod == pod]
        assert to_pod, f"the replacement {pod} never got traffic"
        assert min(to_pod) >= applied
    # And the deleted pods got no new connection once their removal was applied.
    for removal in by_kind(events, EventKind.REMOVAL_APPLIED):
        assert not [r for r in routes if r.pod == removal.pod and r.ts >= removal.ts]


def test_rolling_restart_replaces_every_pod_keeping_availability(tmp_path: Path) -> None:
    events: list[TimelineEvent] = []

    async def main() -> tuple[set[str], set[str]]:
        async with _backend(tmp_path) as backend:
            target = await backend.deploy(DeploySpec("naive", replicas=3), events.append)
            before = {p.name for p in await backend.list_pods()}
            stop = asyncio.Event()
            load = asyncio.ensure_future(
                LoadClient(target.host, target.port, workers=4, keepalive=False).run(stop)
            )
            await backend.rolling_restart("25%", "25%")  # 3 replicas: surge 1, unavailable 0
            await backend.wait_settled(30)
            await asyncio.sleep(0.5)
            stop.set()
            results = await load
            after = {p.name for p in await backend.list_pods()}
            routes = list(backend.proxy.routes)
        assert results
        for pod in after:
            applied = first(events, EventKind.ADDITION_APPLIED, pod).ts
            assert min(r.ts for r in routes if r.pod == pod) >= applied
        return before, after

    try:
        before, after = asyncio.run(main())
    except BackendError as exc:
        raise AssertionError(f"{exc}\n{timeline_text(events)}") from exc
    assert len(after) == 3 and not before & after
    deletions = by_kind(events, EventKind.DELETE_REQUESTED)
    assert {e.pod for e in deletions} == before
    assert all(e.detail["cause"] == "scale_down" for e in deletions)
    # maxUnavailable 0: at every old pod's deletion, three other pods were ready.
    for deletion in deletions:
        ready = _ready_pods_at(events, deletion.ts) - {deletion.pod}
        assert len(ready) >= 3, (deletion.pod, ready)


def _ready_pods_at(events: list[TimelineEvent], ts: float) -> set[str]:
    ready: set[str] = set()
    for e in sorted(events, key=lambda e: e.ts):
        if e.ts > ts:
            break
        if e.kind == EventKind.POD_READY:
            ready.add(str(e.pod))
        elif e.kind == EventKind.DELETE_REQUESTED and e.ts < ts:
            ready.discard(str(e.pod))
    return ready


def test_a_pod_that_never_gets_ready_fails_the_deploy_with_its_reason(tmp_path: Path) -> None:
    async def main() -> None:
        backend = _backend(tmp_path, "unready", deploy_timeout_s=2.0)
        with pytest.raises(
            BackendError,
            match=r"^embedded deploy timed out: readiness never passed: "
            r"GET /readyz -> 503 on all 3 pods$",
        ):
            await backend.deploy(DeploySpec("naive", replicas=3), lambda e: None)
        assert await backend.list_pods() == []  # deploy tore down what it had started
        with pytest.raises(BackendError, match="no Deployment"):
            _ = backend.proxy

    asyncio.run(main())


def test_it_deploys_again_after_teardown_with_the_same_names(tmp_path: Path) -> None:
    async def main() -> list[list[str]]:
        names = []
        backend = _backend(tmp_path)
        for order in ("naive", "naive"):
            await backend.deploy(DeploySpec(order, replicas=2), lambda e: None)
            names.append([p.name for p in await backend.list_pods()])
            await backend.teardown()
            await backend.teardown()  # twice is fine
        return names

    first_run, second_run = asyncio.run(main())
    assert first_run == second_run  # re-seeded at each deploy: every order meets the same run


def test_missing_sample_app_is_a_backend_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "SAMPLE_APP", tmp_path / "nope" / "app.py")
    with pytest.raises(BackendError, match="sample app is missing"):
        EmbeddedBackend(FAST, None, 1)


def test_unknown_pod_and_missing_program_are_backend_errors(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(BackendError, match="not found"):
            await EmbeddedBackend(FAST, fast_app(["/no/such/app", "{port}"]), 1).deploy(
                DeploySpec("naive"), lambda e: None
            )
        async with _backend(tmp_path) as backend:
            await backend.deploy(DeploySpec("naive", replicas=1), lambda e: None)
            with pytest.raises(BackendError, match="no pod named"):
                await backend.delete_pod("naive-zzzzz")

    asyncio.run(main())


def test_time_stamps_are_wall_clock(tmp_path: Path) -> None:
    events: list[TimelineEvent] = []
    before = time.time()

    async def main() -> None:
        async with _backend(tmp_path) as backend:
            await backend.deploy(DeploySpec("naive", replicas=1), events.append)

    asyncio.run(main())
    assert all(before - 1 <= e.ts <= time.time() + 1 for e in events)
