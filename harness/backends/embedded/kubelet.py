"""The kubelet: runs each pod's container, probes it, and kills it on deletion.

A container that exits is restarted after a back-off until its pod is deleted; the probes
(probes.py) move the pod in and out of the Service's endpoints (endpointcontroller.py), and a
container that dies takes its pod out at once, without waiting for a probe. A container the
harness crashes (``crash``: SIGKILL from outside, no deletion, no preStop hook) is the
exception: its pod stays an endpoint until the readiness probe, still probing the dead process,
fails, or at the latest until the restart (the new container starts not ready). A container that
fails its liveness or startup probe is killed as on a deletion (preStop hook, SIGTERM, grace
period, SIGKILL) and restarted; each such failure is a ``kube_event`` (reason ``Unhealthy``,
then ``Killing``), as Kubernetes records them.

The kill sequence is the one of ``killContainer`` (pkg/kubelet/kuberuntime): the preStop hook gets
the whole grace period and is abandoned if it is still running when that ends; what is left of the
grace period after the hook is the time between SIGTERM and SIGKILL, but never less than 2 s (the
kubelet's ``minimumGracePeriodInSeconds``), so a hook that eats the grace period still leaves the
app 2 s. With a grace period of 0 the hook is skipped. The hook is a sleep or a command exec'd in
the container (prestop.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from harness.backends.base import DeploySpec, EventSink
from harness.backends.embedded.addresses import free_port
from harness.backends.embedded.app import AppLaunch
from harness.backends.embedded.applog import app_event
from harness.backends.embedded.endpointcontroller import EndpointsModel
from harness.backends.embedded.pod import Pod
from harness.backends.embedded.prestop import PrestopHook, run_hook
from harness.backends.embedded.probe import ProbeResult, describe_probe
from harness.backends.embedded.probes import ContainerProbes, Probes
from harness.backends.embedded.process import Container, exit_code, signal_name
from harness.backends.embedded.proxy import Endpoint
from harness.backends.embedded.tasks import wait_event
from harness.errors import BackendError
from harness.timeline import EventKind, TimelineEvent

log = logging.getLogger(__name__)

MIN_STOP_WINDOW_S = 2.0  # the kubelet's minimumGracePeriodInSeconds
# A container that keeps crashing is restarted after 1, 2, 4, 8, 8... s (the kubelet's
# CrashLoopBackOff goes 10 s → 5 min; far too slow for a test run).
_RESTART_BACKOFF_S = (1.0, 2.0, 4.0, 8.0)

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


class Kubelet:
    """The pods of one Deployment on this machine, from their first container start to their end.

    ``pods`` is the Deployment's table of pods, shared with its ReplicaSets: a pod leaves it when
    its last container has ended after the deletion. ``notify`` is called at every change of a
    pod's state, ``spawn`` keeps the tasks this starts (one per pod, one per kill sequence).
    """

    def __init__(
        self,
        spec: DeploySpec,
        app: AppLaunch,
        probes: Probes,
        grace_period_s: float,
        endpoints: EndpointsModel,
        pods: dict[str, Pod],
        *,
        emit: EventSink,
        notify: Callable[[], None],
        spawn: Spawn,
    ) -> None:
        self._spec = spec
        self._app = app
        self._probes = probes
        self._grace_period_s = grace_period_s
        self._endpoints = endpoints
        self._pods = pods
        self._emit = emit
        self._notify = notify
        self._spawn = spawn

    def run(self, pod: Pod) -> None:
        """Starts running a pod that was just created."""
        self._spawn(self._run_pod(pod))

    def delete(self, pod: Pod, grace_period_s: float | None, cause: str, stopped_by: str) -> None:
        """The delete call: from here the endpoint removal and the kill sequence run together.
        ``stopped_by``: what deleted it (delete, evict, drain, scale_down, rollout)."""
        grace = self._grace_period_s if grace_period_s is None else grace_period_s
        started_at = asyncio.get_running_loop().time()
        pod.terminating = True
        pod.deleted_at = time.time()
        pod.deleted.set()
        self._emit(
            TimelineEvent(
                pod.deleted_at,
                EventKind.DELETE_REQUESTED,
                pod.name,
                {"grace_period_s": grace, "cause": cause, "stopped_by": stopped_by},
            )
        )
        if pod.node is None:  # never scheduled: no container, nothing for a kubelet to stop
            self._pods.pop(pod.name, None)
            self._notify()
            return
        self._endpoints.terminate(pod.name, serving=pod.ready)
        self._spawn(kill_pod(pod, grace, self._prestop_hook(pod), started_at, self._emit))
        self._notify()

    def _prestop_hook(self, pod: Pod) -> PrestopHook:
        """The variant's preStop hook, run in the pod's environment and working directory."""
        change = self._spec.change
        command = change.prestop_command
        return PrestopHook(
            sleep_s=change.prestop_sleep_s or 0.0,
            command=self._app.fill(command, pod.host, pod.port) if command else None,
            env=self._app.env(change.env, pod.name),
            cwd=self._app.workdir,
            log_path=self._app.log_path(pod.name),
        )

    async def _run_pod(self, pod: Pod) -> None:
        """Runs the pod's container, restarting it after a crash, until the pod is deleted."""
        try:
            while not pod.terminating:
                pause = _RESTART_BACKOFF_S[min(pod.restarts, len(_RESTART_BACKOFF_S) - 1)]
                waited = 0.0
                container = await self._start_container(pod)
                if container is not None:
                    waited = await self._watch_container(pod, container, pause)
                if pod.terminating:
                    break
                pod.restarts += 1
                await wait_event(pod.deleted, max(0.0, pause - waited))
        finally:
            self._pods.pop(pod.name, None)
            self._endpoints.remove(pod.name, "deleted")
            self._notify()

    async def _start_container(self, pod: Pod) -> Container | None:
        async with pod.spawning:
            if pod.terminating:
                return None
            pod.port = free_port(pod.host)
            argv = self._app.argv(pod.host, pod.port, self._spec.change.args)
            env = self._app.env(self._spec.change.env, pod.name)
            try:
                pod.container = await Container.start(
                    argv,
                    env,
                    lambda line: self._on_app_line(pod, line),
                    self._app.log_path(pod.name),
                    self._app.workdir,
                )
            except OSError as exc:
                log.warning("pod %s: cannot start %s: %s", pod.name, argv[0], exc)
                return None
        container = pod.container
        if pod.restarts:
            detail = {"restart_count": pod.restarts}
            self._emit(TimelineEvent(time.time(), EventKind.CONTAINER_RESTARTED, pod.name, detail))
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

    async def _watch_container(self, pod: Pod, container: Container, backoff_s: float) -> float:
        """Until the container ends; returns how much of the restart back-off (``backoff_s``)
        has passed since (a crashed container is still probed meanwhile)."""
        probes = ContainerProbes(
            self._probes,
            pod.host,
            pod.port,
            asyncio.get_running_loop().time(),
            # A container the harness crashed is still probed, and fails, until readiness says
            # so: the kubelet's prober keeps its cadence against the dead process.
            alive=lambda: container.running or pod.crashed is container,
            terminating=lambda: pod.terminating,
            on_ready=lambda ready: self._readiness_changed(pod, ready),
            on_failure=lambda kind, result, kill: self._probe_failed(
                pod, container, kind, result, kill
            ),
        )
        pod.probes = probes
        prober = asyncio.ensure_future(probes.run())
        try:
            rc = await container.wait()
            exited_at = asyncio.get_running_loop().time()
            if pod.crashed is container:
                self._emit_exited(pod, rc)
                await self._until_not_ready(pod, backoff_s)
        finally:
            prober.cancel()
            # asyncio.wait, not `await prober`: a cancel of this task must not be swallowed.
            await asyncio.wait({prober})
        crashed = pod.crashed is container
        if crashed:
            pod.crashed = None
        else:
            self._emit_exited(pod, rc)
        if pod.ready:
            # The kubelet marks a pod whose container died not ready at once, without a probe;
            # a crashed one whose probe had not failed yet, at the restart (a new container
            # starts not ready).
            self._readiness_changed(pod, False, reason="restarted" if crashed else "exited")
        return asyncio.get_running_loop().time() - exited_at

    def _emit_exited(self, pod: Pod, rc: int) -> None:
        detail = {"code": exit_code(rc), "signal": signal_name(rc)}
        self._emit(TimelineEvent(time.time(), EventKind.EXITED, pod.name, detail))

    async def _until_not_ready(self, pod: Pod, limit_s: float) -> None:
        """After a crash: until the readiness probe has failed enough times, the pod goes, or
        the restart back-off (``limit_s``) is over."""
        deadline = asyncio.get_running_loop().time() + limit_s
        while pod.ready and not pod.terminating:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await wait_event(pod.deleted, min(left, self._probes.readiness.period_s / 4))

    def crash(self, pod: Pod) -> None:
        """SIGKILL to the app's process from outside: no deletion, no preStop hook. The pod's
        loop restarts the container after its back-off; the endpoint goes when the readiness
        probe fails."""
        container = pod.container
        if container is None or not container.running or pod.terminating:
            raise BackendError(f"pod {pod.name}: no running container to crash")
        pod.crashed = container
        detail = {"method": "signal", "pid": container.pid}
        self._emit(TimelineEvent(time.time(), EventKind.POD_CRASHED, pod.name, detail))
        container.kill()

    def _readiness_changed(self, pod: Pod, ready: bool, reason: str = "probe") -> None:
        pod.ready = ready
        pod.ready_since = time.time() if ready else None
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

    def _probe_failed(
        self, pod: Pod, container: Container, kind: str, result: ProbeResult, kill: bool
    ) -> None:
        """A liveness or startup failure; the last one allowed kills the container, which the
        pod's loop then restarts."""
        probe = getattr(self._probes, kind)
        message = f"{kind.capitalize()} probe failed: {describe_probe(probe)} -> {result.answer}"
        self._kube_event(pod, "Unhealthy", message)
        if not kill or pod.terminating:
            return
        self._kube_event(pod, "Killing", f"Container failed {kind} probe, will be restarted")
        started_at = asyncio.get_running_loop().time()
        hook = self._prestop_hook(pod)
        self._spawn(
            kill_pod(pod, self._grace_period_s, hook, started_at, self._emit, container=container)
        )

    def _kube_event(self, pod: Pod, reason: str, message: str) -> None:
        detail = {"reason": reason, "message": message, "source": "embedded kubelet"}
        self._emit(TimelineEvent(time.time(), EventKind.KUBE_EVENT, pod.name, detail))

    def _on_app_line(self, pod: Pod, line: str) -> bool:
        event = app_event(line, pod.name)
        if event is None:
            return False
        self._emit(event)
        return True


async def kill_pod(
    pod: Pod,
    grace_s: float,
    hook: PrestopHook,
    started_at: float,
    emit: EventSink,
    container: Container | None = None,
) -> None:
    """Runs the kill sequence for ``pod`` (or for ``container``, killed for failing a probe);
    ``started_at`` is the loop time of the delete call (or of the probe's verdict)."""
    loop = asyncio.get_running_loop()
    if container is None:
        async with pod.spawning:  # a container being spawned right now is the one to stop
            container = pod.container
    if container is None or not container.running:
        return  # between two container starts (crash back-off): nothing to stop
    exited = asyncio.ensure_future(container.wait())
    try:
        if hook.defined and grace_s > 0:
            emit(
                TimelineEvent(
                    time.time(), EventKind.PRESTOP_STARTED, pod.name, hook.started_detail()
                )
            )
            outcome = await run_hook(hook, exited, grace_s - (loop.time() - started_at))
            emit(
                TimelineEvent(
                    time.time(),
                    EventKind.PRESTOP_ENDED,
                    pod.name,
                    {"elapsed_s": round(loop.time() - started_at, 3), **outcome.detail()},
                )
            )
        if not container.running:
            return
        stop_window = max(grace_s - (loop.time() - started_at), MIN_STOP_WINDOW_S)
        sent_at = time.time()  # before the signal: the app may log its reaction before we return
        if container.terminate():
            emit(TimelineEvent(sent_at, EventKind.SIGTERM_SENT, pod.name, {"pid": container.pid}))
        await asyncio.wait({exited}, timeout=stop_window)
        killed_at = time.time()
        if container.running and container.kill():
            emit(
                TimelineEvent(
                    killed_at,
                    EventKind.KILLED,
                    pod.name,
                    {"after_s": round(loop.time() - started_at, 3), "grace_period_s": grace_s},
                )
            )
        await exited
    finally:
        if not exited.done():
            exited.cancel()
            await asyncio.wait({exited})  # never swallows a cancel of this task
