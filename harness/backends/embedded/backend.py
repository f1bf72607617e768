"""The embedded backend: the ``Backend`` protocol over a Deployment run as local processes.

This module is the protocol surface and the wiring of one deployed Deployment; each part of the
model has its own module. Pods are real processes of the app (the sample app, or
``app.command``, launched as app.py says), each on its own loopback address; the Service is a
userspace proxy (proxy.py) that learns endpoint changes late (endpointcontroller.py); the
kubelet (kubelet.py) runs, probes and restarts containers, and on a deletion runs its kill
sequence while the endpoint goes, at the same moment, as in a cluster; a ReplicaSet replaces
deleted pods and a rolling restart follows the Deployment controller's arithmetic
(replicaset.py, rollingupdate.py). The disruptions of issue 19: evictions honouring
``app.pdb`` (eviction.py), cordon and uncordon of the one node "embedded" (new pods stay
unscheduled meanwhile), scale (the ReplicaSet picks the victims: victims.py) and crashes (the
kubelet's SIGKILL and restart: kubelet.py). The Service's endpoint semantics follow
``embedded.kubernetes_version`` (harness.kubeversion), or a matrix cell's profile
(``DeploySpec.kubernetes_version``). The cordon ends with the Deployment.

Construct it with ``EmbeddedBackend.from_scenario(scenario, log_dir=...)`` (what the run
orchestrator does), or directly::

    backend = EmbeddedBackend(scenario.embedded, scenario.app, scenario.seed,
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
import random
import time
from collections.abc import Callable
from pathlib import Path

from harness.appspec import App, Probe, ProbeChange
from harness.backends.base import (
    DeploySpec,
    EventSink,
    Eviction,
    PodInfo,
    Target,
    TeardownOnExit,
)
from harness.backends.embedded import eviction
from harness.backends.embedded.app import AppLaunch
from harness.backends.embedded.endpointcontroller import EndpointsModel, PropagationDelay
from harness.backends.embedded.kubelet import Kubelet
from harness.backends.embedded.notready import why_not_ready
from harness.backends.embedded.pod import Pod, PodNames
from harness.backends.embedded.probes import Probes
from harness.backends.embedded.proxy import BALANCE_MODES, ServiceProxy
from harness.backends.embedded.replicaset import NODE, ReplicaSets
from harness.backends.embedded.rollingupdate import resolve_fenceposts
from harness.backends.embedded.tasks import Changes, Tasks
from harness.errors import BackendError
from harness.kubeversion import embedded_semantics, semantics
from harness.scenario import Embedded, Scenario
from harness.timeline import EventKind, TimelineEvent

log = logging.getLogger(__name__)


class EmbeddedBackend(TeardownOnExit):
    """The ``Backend`` protocol with real processes, real signals and real sockets.

    ``embedded``: propagation settings. ``app``: the app to run (harness.appspec; its command has
    ``{host}``/``{port}`` placeholders; None or no command: the sample app) and its probes.
    ``seed``: names, delays, routing.
    ``log_dir``: each pod's stderr (and any non-event stdout) goes to ``<log_dir>/<pod>.log``;
    None discards it. ``balance``: the proxy's choice of endpoint, "random" (iptables mode) or
    "round_robin" (IPVS). ``record_routes``: keep every routing decision in ``proxy.routes``
    (memory grows with the connections: for tests). Pods inherit the harness's environment plus
    ``app.env``, the variant's env, ``POD_NAME`` and ``PYTHONUNBUFFERED=1``.
    """

    name = "embedded"

    def __init__(
        self,
        embedded: Embedded,
        app: App | None = None,
        seed: int = 1,
        *,
        log_dir: Path | None = None,
        balance: str = "random",
        record_routes: bool = False,
        deploy_timeout_s: float = 60.0,
        rollout_timeout_s: float = 600.0,
    ) -> None:
        self._embedded = embedded
        self.semantics = embedded_semantics(embedded.kubernetes_version)  # stated in the summary
        self._app_spec = app or App()
        self._app = AppLaunch(
            self._app_spec.command, log_dir, self._app_spec.env, self._app_spec.workdir
        )
        if balance not in BALANCE_MODES:
            raise BackendError(
                f"balance: expected one of {', '.join(BALANCE_MODES)}, got {balance!r}"
            )
        self._seed = seed
        self._balance = balance
        self._record_routes = record_routes
        self._deploy_timeout_s = deploy_timeout_s
        self._rollout_timeout_s = rollout_timeout_s
        self._reset_state()

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, log_dir: Path | None = None) -> EmbeddedBackend:
        return cls(scenario.embedded, scenario.app, scenario.seed, log_dir=log_dir)

    def _reset_state(self) -> None:
        self._spec: DeploySpec | None = None
        self._sink: EventSink | None = None
        self._proxy: ServiceProxy | None = None
        self._endpoints: EndpointsModel | None = None
        self._replicasets: ReplicaSets | None = None
        self._kubelet: Kubelet | None = None
        self._pods: dict[str, Pod] = {}  # in creation order
        self._tasks = Tasks()
        self._changes = Changes()

    # ----- the Backend protocol ---------------------------------------------------------------

    async def deploy(self, spec: DeploySpec, emit: EventSink) -> Target:
        """Starts the Service proxy and ``spec.replicas`` pods; returns once all serve traffic."""
        if self._spec is not None:
            raise BackendError("a Deployment is already up; tear it down first")
        if spec.replicas < 1:
            raise BackendError(f"replicas must be >= 1, got {spec.replicas}")
        self._app.prepare(spec.change.args)
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
        notify = self._changes.notify
        profile = semantics(spec.kubernetes_version or self._embedded.kubernetes_version)
        endpoints = EndpointsModel(proxy, delay, self._emit, notify, profile)
        self._endpoints = endpoints
        kubelet = Kubelet(
            spec,
            self._app,
            self._probes(spec),
            self._grace_period_s(spec),
            endpoints,
            self._pods,
            emit=self._emit,
            notify=notify,
            spawn=self._tasks.spawn,
        )
        self._kubelet = kubelet
        replicasets = ReplicaSets(
            spec,
            self._pods,
            PodNames(random.Random(f"{self._seed}:names")),
            kubelet,
            emit=self._emit,
            notify=notify,
            wait_change=self._wait_change,
        )
        self._replicasets = replicasets
        try:
            host, port = await proxy.start()
            replicasets.create()
            await self._wait_for(
                self._settled, self._deploy_timeout_s, "deploy", self._why_not_deployed
            )
        except BaseException:
            await self.teardown()
            raise
        return Target(host, port)

    def _probes(self, spec: DeploySpec) -> Probes:
        """The app's probes with the variant's changes (a change to a probe the app does not
        have starts from the defaults)."""
        app, change = self._app_spec, spec.change

        def probe(own: Probe | None, changed: ProbeChange | None) -> Probe | None:
            if changed is None:
                return own
            return changed.applied_to(own if own is not None else Probe())

        readiness = probe(app.readiness, change.readiness)
        assert readiness is not None  # the app always has one
        return Probes(
            readiness, probe(app.liveness, change.liveness), probe(app.startup, change.startup)
        )

    def _grace_period_s(self, spec: DeploySpec) -> float:
        """The variant's terminationGracePeriodSeconds, else the app's."""
        grace = spec.change.grace_period_s
        return self._app_spec.grace_period_s if grace is None else grace

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
        self._require_replicasets().delete_pod(pod, grace_period_s)

    async def rolling_restart(self, max_surge: str = "25%", max_unavailable: str = "25%") -> None:
        """Replaces every pod like ``kubectl rollout restart``; returns when the rollout is done.

        A second restart while one runs supersedes it, as in a cluster: the first call returns
        and the second carries on with every older ReplicaSet.
        """
        replicasets = self._require_replicasets()
        try:
            surge, unavailable = resolve_fenceposts(
                max_surge, max_unavailable, self._require_deployment().replicas
            )
        except ValueError as exc:
            raise BackendError(f"rolling restart: {exc}") from None
        await replicasets.rolling_restart(surge, unavailable, self._rollout_timeout_s)

    async def evict_pod(self, name: str, retry_s: float, timeout_s: float) -> Eviction:
        """The Eviction API with ``app.pdb`` as the budget (eviction.py); a pod on the cordoned
        node is evicted as a drain's (``stopped_by`` "drain")."""
        replicasets = self._require_replicasets()

        def delete(pod: Pod) -> None:
            stopped_by = "evict" if replicasets.schedulable else "drain"
            replicasets.delete_pod(pod, None, stopped_by=stopped_by)

        return await eviction.evict(
            name,
            retry_s,
            timeout_s,
            pods=self._pods,
            pdb=self._app_spec.pdb,
            expected=lambda: replicasets.replicas,
            delete=delete,
            emit=self._emit,
        )

    async def cordon(self, node: str) -> None:
        """New pods stay unscheduled (no container) until ``uncordon``."""
        self._set_schedulable(node, False)

    async def uncordon(self, node: str) -> None:
        self._set_schedulable(node, True)

    def _set_schedulable(self, node: str, schedulable: bool) -> None:
        replicasets = self._require_replicasets()
        if node != NODE:
            raise BackendError(f"no node named {node!r} (the embedded backend has {NODE!r})")
        if replicasets.schedulable == schedulable:
            return
        kind = EventKind.NODE_UNCORDONED if schedulable else EventKind.NODE_CORDONED
        self._emit(TimelineEvent(time.time(), kind, None, {"node": node}))
        replicasets.set_schedulable(schedulable)

    async def scale(self, replicas: int) -> None:
        """The newest ReplicaSet's replicas; on a scale-down it deletes its victims at once."""
        replicasets = self._require_replicasets()
        if replicas < 0:
            raise BackendError(f"replicas must be >= 0, got {replicas}")
        detail = {"from": replicasets.replicas, "to": replicas}
        self._emit(TimelineEvent(time.time(), EventKind.SCALED, None, detail))
        replicasets.scale(replicas)

    async def crash_pod(self, name: str) -> None:
        """SIGKILL to the pod's app process; the kubelet restarts it (kubelet.py)."""
        self._require_deployment()
        pod = self._pods.get(name)
        if pod is None:
            raise BackendError(f"no pod named {name!r}")
        assert self._kubelet is not None  # set with the spec
        self._kubelet.crash(pod)

    async def wait_settled(self, timeout_s: float) -> None:
        """Terminating pods gone, all replicas ready, the proxy's view equal to the controller's."""
        self._require_deployment()
        await self._wait_for(self._settled, timeout_s, "settle")

    async def teardown(self) -> None:
        """Kills every pod and closes the proxy; emits nothing more. Safe to call again."""
        self._sink = None  # the run may close its timeline right after this
        if self._replicasets is not None:
            self._replicasets.close()
        for pod in self._pods.values():
            # No container restart from here on, whatever a task is doing right now.
            pod.terminating = True
            pod.deleted.set()
        tasks = self._tasks.cancel()
        if self._endpoints is not None:
            self._endpoints.cancel()
        containers = [p.container for p in self._pods.values() if p.container is not None]
        await asyncio.gather(*(c.destroy() for c in containers), return_exceptions=True)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._proxy is not None:
            await self._proxy.close()
        self._reset_state()

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

    # ----- waiting and plumbing -----------------------------------------------------------------

    def _settled(self) -> bool:
        if self._replicasets is None or self._endpoints is None:
            return False
        return self._replicasets.settled and self._endpoints.in_sync

    def _describe(self) -> str:
        if self._spec is None:
            return "torn down"
        parts = []
        for pod in self._pods.values():
            state = "terminating" if pod.terminating else ("ready" if pod.ready else "not ready")
            if pod.restarts:
                state += f", {pod.restarts} restarts"
            parts.append(f"{pod.name} {state}{self._app.log_tail(pod.name)}")
        if self._endpoints is not None and not self._endpoints.in_sync:
            parts.append("endpoint changes still propagating")
        return "; ".join(parts) or "no pods"

    def _why_not_deployed(self) -> str:
        """What the probes of the pods that never got ready answered (else the pods' states)."""
        spec = self._require_deployment()
        pods = list(self._pods.values())
        return why_not_ready(pods, self._probes(spec), self._app.log_tail) or self._describe()

    async def _wait_for(
        self,
        predicate: Callable[[], bool],
        timeout_s: float,
        what: str,
        describe: Callable[[], str] | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            await self._wait_change(deadline, what, describe)

    async def _wait_change(
        self, deadline: float, what: str, describe: Callable[[], str] | None = None
    ) -> None:
        """Until the next change; BackendError once past ``deadline`` or torn down meanwhile."""
        await self._changes.wait(deadline, what, describe or self._describe)
        self._require_deployment()

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

    def _require_replicasets(self) -> ReplicaSets:
        self._require_deployment()
        assert self._replicasets is not None  # set with the spec
        return self._replicasets
