"""The embedded backend: a Deployment, its Service and the kubelet, as processes on this machine.

Pods are real processes of the app (the sample app, or ``app.command``), each on its own loopback
address; the Service is a userspace proxy (proxy.py) that learns endpoint changes late
(endpoints.py); deletion runs the kubelet's kill sequence (kubelet.py) while the endpoint goes,
at the same moment, as in a cluster; a ReplicaSet replaces deleted pods and a rolling restart
follows the Deployment controller's arithmetic (rollout.py).

Construct it with ``EmbeddedBackend.from_scenario(scenario, log_dir=...)`` (what the run
orchestrator does), or directly::

    backend = EmbeddedBackend(scenario.embedded, scenario.app.command, scenario.seed,
                              log_dir=run_dir / "logs")
    async with backend:                      # teardown on every way out
        target = await backend.deploy(spec, timeline.write)
        ...

One Deployment at a time; ``deploy`` again after ``teardown``. Every deploy re-seeds its
randomness (pod names, propagation delays, routing) from ``seed``, so every order of a run meets
the same sequence of delays. Everything runs on the event loop of the caller.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
from harness.backends.base import DeploySpec, EventSink, PodInfo, Target
from harness.backends.embedded.addresses import free_port, next_pod_host
from harness.backends.embedded.applog import app_event
from harness.backends.embedded.endpoints import EndpointsModel, PropagationDelay
from harness.backends.embedded.kubelet import kill_pod
from harness.backends.embedded.pod import Pod, PodNames
from harness.backends.embedded.probe import ProbeSettings, http_probe, run_prober
from harness.backends.embedded.process import Container, exit_code, signal_name
from harness.backends.embedded.proxy import BALANCE_MODES, Endpoint, ServiceProxy
from harness.backends.embedded.rollout import ReplicaSetState, resolve_fenceposts, rollout_step
from harness.errors import BackendError
from harness.scenario import Embedded, Scenario
from harness.timeline import EventKind, TimelineEvent

log = logging.getLogger(__name__)

SAMPLE_APP = Path(harness.__file__).resolve().parents[1] / "sample-app" / "app.py"
# A container that keeps crashing is restarted after 1, 2, 4, 8, 8... s (the kubelet's
# CrashLoopBackOff goes 10 s → 5 min; far too slow for a test run).
_RESTART_BACKOFF_S = (1.0, 2.0, 4.0, 8.0)
_LOG_TAIL_LINES = 5


def default_app_command() -> list[str]:
    """The sample app, run by this Python; BackendError when the checkout has none."""
    if not SAMPLE_APP.is_file():
        raise BackendError(
            f"the sample app is missing ({SAMPLE_APP}); give app.command to run your own app"
        )
    return [sys.executable, str(SAMPLE_APP), "--host", "{host}", "--port", "{port}"]


async def _wait_event(event: asyncio.Event, timeout_s: float) -> None:
    """Waits until ``event`` is set or ``timeout_s`` passes.

    Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancel of the caller that arrives
    as the wait ends, and a run that is being stopped must stop.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout_s)
    finally:
        waiter.cancel()


class EmbeddedBackend:
    """The ``Backend`` protocol with real processes, real signals and real sockets.

    ``embedded``: propagation and readiness-probe settings. ``app_command``: the app to run, with
    ``{host}``/``{port}`` placeholders (None: the sample app). ``seed``: names, delays, routing.
    ``log_dir``: each pod's stderr (and any non-event stdout) goes to ``<log_dir>/<pod>.log``;
    None discards it. ``balance``: the proxy's choice of endpoint, "random" (iptables mode) or
    "round_robin" (IPVS). ``record_routes``: keep every routing decision in ``proxy.routes``
    (memory grows with the connections: for tests). Pods inherit the harness's environment plus
    ``spec.env``, ``POD_NAME`` and ``PYTHONUNBUFFERED=1``.
    """

    name = "embedded"

    def __init__(
        self,
        embedded: Embedded,
        app_command: list[str] | None = None,
        seed: int = 1,
        *,
        log_dir: Path | None = None,
        balance: str = "random",
        record_routes: bool = False,
        deploy_timeout_s: float = 60.0,
        rollout_timeout_s: float = 600.0,
    ) -> None:
        self._embedded = embedded
        self._command = list(app_command) if app_command is not None else default_app_command()
        if not any("{port}" in part for part in self._command):
            raise BackendError("app.command: must contain {port} so each pod gets its own port")
        if balance not in BALANCE_MODES:
            raise BackendError(
                f"balance: expected one of {', '.join(BALANCE_MODES)}, got {balance!r}"
            )
        self._seed = seed
        self._log_dir = log_dir
        self._balance = balance
        self._record_routes = record_routes
        self._deploy_timeout_s = deploy_timeout_s
        self._rollout_timeout_s = rollout_timeout_s
        self._probe = ProbeSettings(
            period_s=embedded.readiness_period_s,
            timeout_s=embedded.readiness_timeout_s,
            success_threshold=embedded.readiness_success_threshold,
            failure_threshold=embedded.readiness_failure_threshold,
        )
        self._reset_state()

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, log_dir: Path | None = None) -> EmbeddedBackend:
        return cls(scenario.embedded, scenario.app.command, scenario.seed, log_dir=log_dir)

    def _reset_state(self) -> None:
        self._spec: DeploySpec | None = None
        self._sink: EventSink | None = None
        self._proxy: ServiceProxy | None = None
        self._endpoints: EndpointsModel | None = None
        self._names = PodNames(random.Random(f"{self._seed}:names"))
        self._pods: dict[str, Pod] = {}  # in creation order
        self._desired: dict[int, int] = {}  # ReplicaSet revision → .spec.replicas
        self._revision = 0
        self._replaces: dict[int, list[str]] = {}  # revision → deleted pods awaiting a successor
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()

    # ----- the Backend protocol ---------------------------------------------------------------

    async def deploy(self, spec: DeploySpec, emit: EventSink) -> Target:
        """Starts the Service proxy and ``spec.replicas`` pods; returns once all serve traffic."""
        if self._spec is not None:
            raise BackendError("a Deployment is already up; tear it down first")
        if spec.replicas < 1:
            raise BackendError(f"replicas must be >= 1, got {spec.replicas}")
        program = self._command[0]
        if shutil.which(program) is None:
            raise BackendError(f"app command not found: {program!r}")
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
        self._reset_state()
        self._spec = spec
        self._sink = emit
        proxy = ServiceProxy(
            random.Random(f"{self._seed}:routing"),
            balance=self._balance,
            record_routes=self._record_routes,
        )
        self._proxy = proxy
        delay = PropagationDelay(
            random.Random(f"{self._seed}:propagation"),
            self._embedded.propagation_min_s,
            self._embedded.propagation_max_s,
        )
        self._endpoints = EndpointsModel(proxy, delay, self._emit, self._notify)
        try:
            host, port = await proxy.start()
            self._desired[0] = spec.replicas
            self._reconcile()
            await self._wait_for(self._settled, self._deploy_timeout_s, "deploy")
        except BaseException:
            await self.teardown()
            raise
        return Target(host, port)

    async def list_pods(self) -> list[PodInfo]:
        """Every pod, terminating ones included, oldest first."""
        return [pod.info() for pod in self._pods.values()]

    async def delete_pod(self, name: str, grace_period_s: float | None = None) -> None:
        """Starts the deletion (endpoint removal and kill sequence at once) and returns."""
        self._require_deployment()
        pod = self._pods.get(name)
        if pod is None:
            raise BackendError(f"no pod named {name!r}")
        if grace_period_s is not None and grace_period_s < 0:
            raise BackendError(f"grace_period_s must be >= 0, got {grace_period_s:g}")
        if pod.terminating:
            return  # already on its way out; its first grace period stands
        self._begin_termination(pod, grace_period_s, cause="delete")
        self._replaces.setdefault(pod.revision, []).append(pod.name)
        self._reconcile()

    async def rolling_restart(self, max_surge: str = "25%", max_unavailable: str = "25%") -> None:
        """Replaces every pod like ``kubectl rollout restart``; returns when the rollout is done.

        A second restart while one runs supersedes it, as in a cluster: the first call returns
        and the second carries on with every older ReplicaSet.
        """
        spec = self._require_deployment()
        try:
            surge, unavailable = resolve_fenceposts(max_surge, max_unavailable, spec.replicas)
        except ValueError as exc:
            raise BackendError(f"rolling restart: {exc}") from None
        self._revision += 1
        rev = self._revision
        self._desired[rev] = 0
        deadline = time.monotonic() + self._rollout_timeout_s
        while self._revision == rev:
            olds = sorted(r for r in self._desired if r != rev)
            new_desired, old_desired = rollout_step(
                spec.replicas,
                surge,
                unavailable,
                ReplicaSetState(self._desired[rev], self._available(rev)),
                [ReplicaSetState(self._desired[r], self._available(r)) for r in olds],
            )
            before = dict(self._desired)
            self._desired[rev] = new_desired
            for r, want in zip(olds, old_desired, strict=True):
                self._desired[r] = want
            self._reconcile()
            for r in olds:
                if self._desired[r] == 0 and not self._live(r):
                    del self._desired[r]
            if len(self._desired) == 1 and self._available(rev) == spec.replicas:
                return
            if self._desired == before:
                # Nothing to do until a pod becomes ready or goes; a change syncs again at once,
                # as the controller resyncs on its own ReplicaSets' updates.
                await self._wait_change(deadline, "rolling restart")
                self._require_deployment()

    async def wait_settled(self, timeout_s: float) -> None:
        """Terminating pods gone, all replicas ready, the proxy's view equal to the controller's."""
        self._require_deployment()
        await self._wait_for(self._settled, timeout_s, "settle")

    async def teardown(self) -> None:
        """Kills every pod and closes the proxy; emits nothing more. Safe to call again."""
        self._sink = None  # the run may close its timeline right after this
        for pod in self._pods.values():
            # No container restart from here on, whatever a task is doing right now.
            pod.terminating = True
            pod.deleted.set()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if self._endpoints is not None:
            self._endpoints.cancel()
        containers = [p.container for p in self._pods.values() if p.container is not None]
        await asyncio.gather(*(c.destroy() for c in containers), return_exceptions=True)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._proxy is not None:
            await self._proxy.close()
        self._reset_state()

    async def __aenter__(self) -> EmbeddedBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.teardown()

    # ----- what tests and reports may look at ---------------------------------------------------

    @property
    def proxy(self) -> ServiceProxy:
        """The Service proxy of the current Deployment (its stats and, if kept, its routes)."""
        if self._proxy is None:
            raise BackendError("no Deployment is up")
        return self._proxy

    def pod_endpoint(self, name: str) -> tuple[str, int]:
        """The address a pod's app listens on (its "pod IP" and port)."""
        pod = self._pods[name]
        return pod.host, pod.port

    # ----- ReplicaSets --------------------------------------------------------------------------

    def _reconcile(self) -> None:
        """Each ReplicaSet's pods to its desired count: create at once, delete the surplus."""
        if self._spec is None:
            return
        for rev in sorted(set(self._desired) | {p.revision for p in self._pods.values()}):
            want = self._desired.get(rev, 0)
            live = self._live(rev)
            successors = self._replaces.pop(rev, [])
            for _ in range(want - len(live)):
                self._create_pod(rev, successors.pop(0) if successors else None)
            # Surplus: pods that are not ready go first, then the newest, as a ReplicaSet picks.
            surplus = sorted(live, key=lambda p: (p.ready, -p.created))[: max(0, len(live) - want)]
            for pod in surplus:
                self._begin_termination(pod, None, cause="scale_down")
        self._notify()

    def _live(self, rev: int) -> list[Pod]:
        return [p for p in self._pods.values() if p.revision == rev and not p.terminating]

    def _available(self, rev: int) -> int:
        return sum(1 for p in self._live(rev) if p.ready)

    def _create_pod(self, rev: int, replaces: str | None) -> None:
        spec = self._require_deployment()
        pod = Pod(self._names.next(spec.order), rev, time.time(), next_pod_host(), replaces)
        self._pods[pod.name] = pod
        detail: dict[str, Any] = {"revision": rev}
        if replaces is not None:
            detail["replaces"] = replaces
        self._emit(TimelineEvent(pod.created, EventKind.POD_CREATED, pod.name, detail))
        self._spawn(self._run_pod(pod))

    # ----- one pod: containers, readiness, deletion ---------------------------------------------

    async def _run_pod(self, pod: Pod) -> None:
        """Runs the pod's container, restarting it after a crash, until the pod is deleted."""
        try:
            while not pod.terminating:
                container = await self._start_container(pod)
                if container is not None:
                    await self._watch_container(pod, container)
                if pod.terminating:
                    break
                pause = _RESTART_BACKOFF_S[min(pod.restarts, len(_RESTART_BACKOFF_S) - 1)]
                pod.restarts += 1
                await _wait_event(pod.deleted, pause)
        finally:
            self._pods.pop(pod.name, None)
            if self._endpoints is not None:
                self._endpoints.remove(pod.name, "deleted")
            self._notify()

    async def _start_container(self, pod: Pod) -> Container | None:
        async with pod.spawning:
            if pod.terminating:
                return None
            pod.port = free_port(pod.host)
            argv = [
                part.replace("{host}", pod.host).replace("{port}", str(pod.port))
                for part in self._command
            ]
            env = {**os.environ, **self._require_deployment().env, "POD_NAME": pod.name}
            # The app's event lines must not wait in a stdio buffer until it exits.
            env["PYTHONUNBUFFERED"] = "1"
            log_path = self._log_dir / f"{pod.name}.log" if self._log_dir is not None else None
            try:
                pod.container = await Container.start(
                    argv, env, lambda line: self._on_app_line(pod, line), log_path
                )
            except OSError as exc:
                log.warning("pod %s: cannot start %s: %s", pod.name, argv[0], exc)
                return None
        container = pod.container
        self._emit(
            TimelineEvent(
                time.time(),
                EventKind.POD_CONTAINER_STARTED,
                pod.name,
                {
                    "pid": container.pid,
                    "host": pod.host,
                    "port": pod.port,
                    "restarts": pod.restarts,
                },
            )
        )
        return container

    async def _watch_container(self, pod: Pod, container: Container) -> None:
        spec = self._require_deployment()
        settings = ProbeSettings(
            spec.readiness_path,
            self._probe.period_s,
            self._probe.timeout_s,
            self._probe.success_threshold,
            self._probe.failure_threshold,
        )
        port = pod.port

        async def probe() -> bool:
            return await http_probe(pod.host, port, settings.path, settings.timeout_s)

        prober = asyncio.ensure_future(
            run_prober(
                probe,
                settings,
                lambda ready: self._readiness_changed(pod, ready),
                lambda: container.running,
            )
        )
        try:
            rc = await container.wait()
        finally:
            prober.cancel()
            # asyncio.wait, not `await prober`: a cancel of this task must not be swallowed.
            await asyncio.wait({prober})
        self._emit(
            TimelineEvent(
                time.time(),
                EventKind.EXITED,
                pod.name,
                {"code": exit_code(rc), "signal": signal_name(rc)},
            )
        )
        if pod.ready:
            # The kubelet marks a pod whose container died not ready at once, without a probe.
            self._readiness_changed(pod, False, reason="exited")

    def _readiness_changed(self, pod: Pod, ready: bool, reason: str = "probe") -> None:
        if self._endpoints is None:
            return
        pod.ready = ready
        if ready:
            detail = {"replaces": pod.replaces} if pod.replaces is not None else {}
            self._emit(TimelineEvent(time.time(), EventKind.POD_READY, pod.name, detail))
            if not pod.terminating:
                self._endpoints.add(Endpoint(pod.name, pod.host, pod.port))
        else:
            self._emit(
                TimelineEvent(time.time(), EventKind.POD_NOT_READY, pod.name, {"reason": reason})
            )
            self._endpoints.remove(pod.name, "not_ready")
        self._notify()

    def _on_app_line(self, pod: Pod, line: str) -> bool:
        event = app_event(line, pod.name)
        if event is None:
            return False
        self._emit(event)
        return True

    def _begin_termination(self, pod: Pod, grace_period_s: float | None, cause: str) -> None:
        """The delete call: from here the endpoint removal and the kill sequence run together."""
        spec = self._require_deployment()
        grace = spec.grace_period_s if grace_period_s is None else grace_period_s
        started_at = asyncio.get_running_loop().time()
        pod.terminating = True
        pod.deleted_at = time.time()
        pod.deleted.set()
        self._emit(
            TimelineEvent(
                pod.deleted_at,
                EventKind.DELETE_REQUESTED,
                pod.name,
                {"grace_period_s": grace, "cause": cause},
            )
        )
        if self._endpoints is not None:
            self._endpoints.remove(pod.name, "deleted")
        self._spawn(kill_pod(pod, grace, spec.prestop_sleep_s, started_at, self._emit))
        self._notify()

    # ----- waiting and plumbing -----------------------------------------------------------------

    def _settled(self) -> bool:
        spec = self._spec
        if spec is None or self._endpoints is None:
            return False
        pods = list(self._pods.values())
        return (
            len(self._desired) == 1
            and len(pods) == spec.replicas
            and all(p.ready and not p.terminating and p.revision == self._revision for p in pods)
            and self._endpoints.in_sync
        )

    def _describe(self) -> str:
        if self._spec is None:
            return "torn down"
        parts = []
        for pod in self._pods.values():
            state = "terminating" if pod.terminating else ("ready" if pod.ready else "not ready")
            if pod.restarts:
                state += f", {pod.restarts} restarts"
            parts.append(f"{pod.name} {state}{self._log_tail(pod)}")
        if self._endpoints is not None and not self._endpoints.in_sync:
            parts.append("endpoint changes still propagating")
        return "; ".join(parts) or "no pods"

    def _log_tail(self, pod: Pod) -> str:
        if self._log_dir is None:
            return ""
        path = self._log_dir / f"{pod.name}.log"
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        tail = [line for line in lines if line.strip()][-_LOG_TAIL_LINES:]
        return f" (log: {' | '.join(tail)})" if tail else ""

    async def _wait_for(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            await self._wait_change(deadline, what)
            self._require_deployment()

    async def _wait_change(self, deadline: float, what: str) -> None:
        changed = self._changed
        left = deadline - time.monotonic()
        if left <= 0:
            raise BackendError(f"embedded {what} timed out: {self._describe()}")
        await _wait_event(changed, left)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("embedded backend task failed", exc_info=task.exception())

    def _emit(self, event: TimelineEvent) -> None:
        sink = self._sink
        if sink is None:
            return
        try:
            sink(event)
        except Exception:
            # A broken sink must not stop pods from being killed or replaced.
            log.exception("timeline sink failed on %s", event.kind)

    def _require_deployment(self) -> DeploySpec:
        if self._spec is None:
            raise BackendError("no Deployment is up (deploy first, or it was torn down)")
        return self._spec
