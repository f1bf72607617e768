"""The app description and its variants on the embedded backend: working directory, args, preStop
exec hooks, and probes with the kubelet's semantics (port, initial delay, liveness, startup)."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

import pytest
from helpers.embedded import FAST, FAST_PROBE, by_kind, first, get, processes_with, tiny_app

from harness.appspec import App, ProbeChange, Variant
from harness.backends.base import DeploySpec
from harness.backends.embedded import EmbeddedBackend
from harness.errors import BackendError
from harness.timeline import EventKind, TimelineEvent

HTTP_SERVER = [sys.executable, "-m", "http.server", "{port}", "--bind", "{host}"]
ROOT_PROBE = dataclasses.replace(FAST_PROBE, path="/")


def _backend(tmp_path: Path, app: App, **kwargs: object) -> EmbeddedBackend:
    kwargs.setdefault("deploy_timeout_s", 30.0)
    return EmbeddedBackend(FAST, app, seed=3, log_dir=tmp_path / "logs", **kwargs)  # type: ignore[arg-type]


def _served(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_the_app_runs_in_its_workdir_and_a_variants_args_replace_its_arguments(
    tmp_path: Path,
) -> None:
    own = _served(tmp_path / "own", "own.txt", "own")
    other = _served(tmp_path / "other", "other.txt", "other")
    app = App(command=HTTP_SERVER, workdir=str(own), readiness=ROOT_PROBE)
    args = ["-m", "http.server", "{port}", "--bind", "{host}", "--directory", str(other)]

    async def main() -> list[int]:
        statuses = []
        for change in (Variant(), Variant(args=args)):
            async with _backend(tmp_path, app) as backend:
                target = await backend.deploy(DeploySpec("v", 1, change), lambda e: None)
                for name in ("own.txt", "other.txt"):
                    statuses.append((await get(target.host, target.port, f"/{name}"))[0])
        return statuses

    # The app as it is serves its workdir; with the variant's args, the other folder.
    assert asyncio.run(main()) == [200, 404, 404, 200]


def test_variant_args_without_a_port_and_a_missing_workdir_are_one_line_errors(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        app = App(command=HTTP_SERVER, readiness=ROOT_PROBE)
        with pytest.raises(BackendError, match=r"args: must contain \{port\}"):
            await _backend(tmp_path, app).deploy(
                DeploySpec("v", 1, Variant(args=["-m", "http.server"])), lambda e: None
            )
        missing = dataclasses.replace(app, workdir=str(tmp_path / "nope"))
        with pytest.raises(BackendError, match=r"app\.workdir: no such directory"):
            await _backend(tmp_path, missing).deploy(DeploySpec("v", 1), lambda e: None)

    asyncio.run(main())


def test_a_prestop_command_runs_in_the_pods_env_and_workdir_before_sigterm(
    tmp_path: Path,
) -> None:
    events: list[TimelineEvent] = []
    workdir = tmp_path / "work"
    workdir.mkdir()
    hook = ["sh", "-c", 'echo "$POD_NAME {port}" > "$PWD/hook.out"; sleep 0.6']
    app = dataclasses.replace(tiny_app(tmp_path), workdir=str(workdir))

    async def main() -> tuple[str, int]:
        async with _backend(tmp_path, app) as backend:
            spec = DeploySpec("v", 1, Variant(prestop_command=hook, grace_period_s=10))
            await backend.deploy(spec, events.append)
            (pod,) = await backend.list_pods()
            port = backend.pod_endpoint(pod.name)[1]
            await backend.delete_pod(pod.name)
            await backend.wait_settled(30)
            return pod.name, port

    name, port = asyncio.run(main())
    assert (workdir / "hook.out").read_text().split() == [name, str(port)]
    started = first(events, EventKind.PRESTOP_STARTED, name)
    assert started.detail == {"command": [*hook[:2], hook[2].replace("{port}", str(port))]}
    ended = first(events, EventKind.PRESTOP_ENDED, name)
    assert ended.detail["exit_code"] == 0 and ended.detail["cut_short"] is False
    assert 0.55 <= ended.detail["duration_s"] <= 3.0
    assert first(events, EventKind.SIGTERM_SENT, name).ts >= ended.ts
    assert first(events, EventKind.EXITED, name).detail["code"] == 0


def test_a_prestop_command_longer_than_the_grace_period_is_cut_and_sigterm_follows(
    tmp_path: Path,
) -> None:
    events: list[TimelineEvent] = []
    marker = "drainlab-hook-" + tmp_path.name
    hook = ["sleep", "30"]
    grace = 2.5

    async def main() -> None:
        async with _backend(tmp_path, tiny_app(tmp_path)) as backend:
            change = Variant(
                prestop_command=hook, grace_period_s=grace, env={"DRAINLAB_TEST_MARKER": marker}
            )
            await backend.deploy(DeploySpec("v", 1, change), events.append)
            (pod,) = await backend.list_pods()
            await backend.delete_pod(pod.name)
            await backend.wait_settled(30)

    asyncio.run(main())
    deleted = first(events, EventKind.DELETE_REQUESTED)
    ended = first(events, EventKind.PRESTOP_ENDED, deleted.pod)
    assert ended.detail["cut_short"] is True and "exit_code" not in ended.detail
    # The hook had the whole grace period; the app then still gets the kubelet's 2 s.
    sigterm = first(events, EventKind.SIGTERM_SENT, deleted.pod)
    assert grace - 0.05 <= sigterm.ts - deleted.ts <= grace + 1.0
    assert first(events, EventKind.EXITED, deleted.pod).detail["code"] == 0
    assert processes_with(marker) == []  # the abandoned hook did not outlive its time


def test_a_failing_prestop_command_is_reported_and_sigterm_follows(tmp_path: Path) -> None:
    events: list[TimelineEvent] = []

    async def main() -> None:
        async with _backend(tmp_path, tiny_app(tmp_path)) as backend:
            change = Variant(prestop_command=["no-such-hook"], grace_period_s=10)
            await backend.deploy(DeploySpec("v", 1, change), events.append)
            (pod,) = await backend.list_pods()
            await backend.delete_pod(pod.name)
            await backend.wait_settled(30)

    asyncio.run(main())
    ended = first(events, EventKind.PRESTOP_ENDED)
    # The kubelet's FailedPreStopHook: reported, and the kill sequence goes on at once.
    assert ended.detail["exit_code"] == 127 and ended.detail["cut_short"] is False
    assert first(events, EventKind.SIGTERM_SENT).ts - ended.ts < 0.5
    assert first(events, EventKind.EXITED).detail["code"] == 0


def test_a_probe_port_and_initial_delay_are_honoured(tmp_path: Path) -> None:
    events: list[TimelineEvent] = []
    delay = 0.8

    async def main() -> None:
        app = dataclasses.replace(
            tiny_app(tmp_path), readiness=dataclasses.replace(FAST_PROBE, initial_delay_s=delay)
        )
        async with _backend(tmp_path, app) as backend:
            await backend.deploy(DeploySpec("v", 1), events.append)
        # A port where nothing listens: never ready, and the error says what the probe got.
        elsewhere = ProbeChange(port=1, initial_delay_s=0)
        with pytest.raises(BackendError) as caught:
            await _backend(tmp_path, app, deploy_timeout_s=1.5).deploy(
                DeploySpec("v", 1, Variant(readiness=elsewhere)), lambda e: None
            )
        assert "readiness never passed: GET :1/readyz -> connection refused on v-" in str(
            caught.value
        )

    asyncio.run(main())
    started = first(events, EventKind.POD_CONTAINER_STARTED).ts
    assert first(events, EventKind.POD_READY).ts - started >= delay - 0.05


def test_liveness_failures_kill_and_restart_the_container(tmp_path: Path) -> None:
    events: list[TimelineEvent] = []
    # Its initial delay lets the deploy finish first (a liveness probe that fails at once would
    # restart the container over and over, as on Kubernetes).
    liveness = dataclasses.replace(
        FAST_PROBE, path="/readyz", failure_threshold=3, initial_delay_s=1.0
    )
    app = dataclasses.replace(
        tiny_app(tmp_path, "unready"), readiness=ROOT_PROBE, liveness=liveness
    )

    async def main() -> None:
        async with _backend(tmp_path, app) as backend:
            await backend.deploy(DeploySpec("v", 1, Variant(grace_period_s=3)), events.append)
            deadline = asyncio.get_running_loop().time() + 20
            while len(by_kind(events, EventKind.POD_CONTAINER_STARTED)) < 2:
                assert asyncio.get_running_loop().time() < deadline, events
                await asyncio.sleep(0.1)

    asyncio.run(main())
    unhealthy = [
        e for e in by_kind(events, EventKind.KUBE_EVENT) if e.detail["reason"] == "Unhealthy"
    ]
    assert len(unhealthy) >= 3
    assert unhealthy[0].detail["message"] == "Liveness probe failed: GET /readyz -> 503"
    killing = [e for e in by_kind(events, EventKind.KUBE_EVENT) if e.detail["reason"] == "Killing"]
    assert killing[0].ts >= unhealthy[2].ts
    assert "failed liveness probe" in killing[0].detail["message"]
    # The kubelet's kill sequence (SIGTERM; the tiny app exits), then a new container.
    sigterm = first(events, EventKind.SIGTERM_SENT)
    assert sigterm.ts >= killing[0].ts
    assert first(events, EventKind.EXITED).detail["code"] == 0
    restarted = by_kind(events, EventKind.POD_CONTAINER_STARTED)[1]
    assert restarted.detail["restarts"] == 1
    assert not by_kind(events, EventKind.DELETE_REQUESTED)


def test_a_liveness_failure_during_termination_does_nothing(tmp_path: Path) -> None:
    events: list[TimelineEvent] = []
    grace = 2.5
    # /healthz fails once the app got SIGTERM; the app ignores SIGTERM and is killed at grace.
    liveness = dataclasses.replace(FAST_PROBE, path="/healthz", initial_delay_s=0.5)
    app = dataclasses.replace(tiny_app(tmp_path, "ignore"), liveness=liveness)

    async def main() -> None:
        async with _backend(tmp_path, app) as backend:
            await backend.deploy(DeploySpec("v", 1, Variant(grace_period_s=grace)), events.append)
            (pod,) = await backend.list_pods()
            await asyncio.sleep(1.0)  # liveness probing, and passing, before the delete
            await backend.delete_pod(pod.name)
            await backend.wait_settled(30)

    asyncio.run(main())
    assert by_kind(events, EventKind.KUBE_EVENT) == []
    assert len(by_kind(events, EventKind.SIGTERM_SENT)) == 1
    deleted = first(events, EventKind.DELETE_REQUESTED)
    assert grace - 0.05 <= first(events, EventKind.KILLED).ts - deleted.ts <= grace + 1.0


def test_readiness_waits_for_the_startup_probe(tmp_path: Path) -> None:
    events: list[TimelineEvent] = []
    delay = 1.0
    startup = dataclasses.replace(ROOT_PROBE, initial_delay_s=delay, failure_threshold=30)
    app = dataclasses.replace(tiny_app(tmp_path), startup=startup)

    async def main() -> None:
        async with _backend(tmp_path, app) as backend:
            await backend.deploy(DeploySpec("v", 1), events.append)

    asyncio.run(main())
    started = first(events, EventKind.POD_CONTAINER_STARTED).ts
    # The readiness probe (every 0.1 s, no delay of its own) ran only once startup passed.
    assert first(events, EventKind.POD_READY).ts - started >= delay - 0.05


def test_startup_failures_kill_the_container_and_it_never_gets_ready(tmp_path: Path) -> None:
    events: list[TimelineEvent] = []
    startup = dataclasses.replace(FAST_PROBE, path="/readyz", failure_threshold=3)
    # Readiness on / would pass at once: it must not run before startup has passed.
    app = dataclasses.replace(tiny_app(tmp_path, "unready"), readiness=ROOT_PROBE, startup=startup)

    async def main() -> str:
        backend = _backend(tmp_path, app, deploy_timeout_s=2.0)
        with pytest.raises(BackendError) as caught:
            await backend.deploy(DeploySpec("v", 1, Variant(grace_period_s=3)), events.append)
        return str(caught.value)

    message = asyncio.run(main())
    assert not by_kind(events, EventKind.POD_READY)
    killing = [e for e in by_kind(events, EventKind.KUBE_EVENT) if e.detail["reason"] == "Killing"]
    assert killing and "failed startup probe" in killing[0].detail["message"]
    assert "startup never passed" in message or "restarts" in message, message
