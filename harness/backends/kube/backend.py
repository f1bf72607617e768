"""The kube backend: one variant of the app on a real cluster, through the official client.

Construct it from the scenario (what the run orchestrator does): its ``kube`` settings and its
app (adapt.deployable: the app's manifests, or the sample app's)::

    backend = KubeBackend.from_scenario(scenario, log_dir=run_dir / "logs")
    async with backend:                          # teardown on every way out
        target = await backend.deploy(spec, timeline.write)
        await backend.delete_pod(name)
        await backend.evict_pod(name, retry_s=5, timeout_s=30)  # cordon, scale, crash_pod too
        ...

- ``kube.context`` (None: the kubeconfig's current context) must pass the guard (guard.py):
  kind, the harness's local cluster, or named by ``kube.allow_context``; a context missing from
  the kubeconfig is a one-line error listing those that exist. With a ``cluster`` provisioner
  (harness.backends.clusters: kind, the local cluster), the cluster is brought up at the first
  deploy and its target's kubeconfig, context and node host are used instead.
- Only objects in ``kube.namespace`` that carry the harness's labels (objects.py) are touched:
  every list and watch selects on them, every delete re-reads the object, checks its labels and
  deletes with a UID precondition (exactly what it checked): apply.py, cleanup.py.
- The ways pods are stopped (delete, evict, cordon, scale, crash) are disruptions.py's; the
  nodes a run cordoned are uncordoned at teardown, or by the next run after a crash (nodes.py).
- The blocking client runs in threads: short calls through ``asyncio.to_thread`` (api.py and
  retry.py), watches and log streams (the app's; the nodes' agents': dataplane.py) in daemon
  threads feeding the run's EventSink one event at a time (session.py); load sent from pods
  (traffic.from: cluster) is loadpods.py's.

One Deployment at a time; ``deploy`` again after ``teardown``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from harness.backends.base import DeploySpec, EventSink, Eviction, PodInfo, Target, TeardownOnExit
from harness.backends.clusters import ClusterProvisioner
from harness.backends.clusters.containerkill import ContainerKiller
from harness.backends.clusters.images import NO_IMAGES, AppImages, load_app_images
from harness.backends.kube import checks, claim, cleanup, dataplane, loadpods, pdb, sleepcheck
from harness.backends.kube.adapt import DeployableApp, deployable, sample_app, variant_objects
from harness.backends.kube.api import Api
from harness.backends.kube.apply import apply, refuse_foreign
from harness.backends.kube.checks import DEFAULT_PATIENCE, Patience
from harness.backends.kube.client import connect
from harness.backends.kube.contextcheck import check_context
from harness.backends.kube.disruptions import Disruptions
from harness.backends.kube.endpointstate import ENDPOINTS_V1, choose_api
from harness.backends.kube.guard import namespace_refusal
from harness.backends.kube.kinds import DEPLOYMENT, POD, SERVICE
from harness.backends.kube.manifests import Obj, app_container
from harness.backends.kube.objects import MANAGED, Names, new_run_id, now_iso, owned, restart_patch
from harness.backends.kube.pdb import POLICY_V1BETA1, choose_policy, pdb_kind, pdb_object
from harness.backends.kube.readiness import readiness_path
from harness.backends.kube.reap import Reaper
from harness.backends.kube.session import Session
from harness.dataplane.settings import DataPlane
from harness.errors import BackendError, UsageError
from harness.kubeversion import RunSemantics, server_semantics
from harness.load.runner import LoadPlan, LoadRun
from harness.scenario import Kube, Scenario

log = logging.getLogger(__name__)

STRATEGIC_MERGE = "application/strategic-merge-patch+json"


class KubeBackend(TeardownOnExit):
    """The ``Backend`` protocol on a Kubernetes cluster (see the module docstring)."""

    def __init__(
        self,
        kube: Kube,
        *,
        kubeconfig: Path | None = None,
        cluster: ClusterProvisioner | None = None,
        log_dir: Path | None = None,
        patience: Patience = DEFAULT_PATIENCE,
        run_id: str | None = None,
        images: AppImages = NO_IMAGES,  # the app's own, loaded once the cluster is up
        app: DeployableApp | None = None,
        data_plane: DataPlane | None = None,  # how it watches the nodes' proxies: dataplane.py
    ) -> None:
        refused = namespace_refusal(kube.namespace)
        if refused is not None:
            raise UsageError(refused)
        self._kube = kube
        # What it deploys (adapt.py): the scenario's app, by default the sample app.
        self._app = app or sample_app(kube.image)
        self._container: Obj = {}  # the deployed variant's app container
        # On every object this run makes: no other run touches them, nor this one theirs.
        self.run_id = run_id or new_run_id()
        self._kubeconfig = kubeconfig
        self._cluster = cluster
        self._images = images
        self._data_plane = data_plane or DataPlane()
        self.name = cluster.name if cluster is not None else "kube"
        self._log_dir = log_dir
        self._patience = patience
        self._api: Api | None = None
        self.guard_reason: str | None = None  # why the context was allowed
        self._endpoint_api: str | None = None
        self._minor: int | None = None
        self._policy = POLICY_V1BETA1  # PodDisruptionBudget and Eviction API, once discovered
        self._session: Session | None = None
        self._cluster_load: loadpods.ClusterLoad | None = (
            None  # traffic.from: cluster (loadpods.py)
        )
        self.fix_facts: dict[str, Any] = {"sleep_binary": {}}  # for harness.fixes, see run.py
        # The server's endpoint semantics, once its version is known (harness.kubeversion).
        self.semantics: RunSemantics | None = None

    @classmethod
    def from_scenario(
        cls,
        scenario: Scenario,
        *,
        cluster: ClusterProvisioner | None = None,
        log_dir: Path | None = None,
    ) -> Self:
        stem = log_dir.parent.name if log_dir is not None else None
        return cls(
            scenario.kube,
            cluster=cluster,
            log_dir=log_dir,
            run_id=new_run_id(stem),
            images=AppImages.from_app(scenario.app),
            app=deployable(scenario),
            data_plane=scenario.data_plane,
        )

    # ----- connecting --------------------------------------------------------------------------

    @property
    def settings(self) -> Kube:
        return self._kube

    @property
    def context(self) -> str | None:
        """The context in use, once connected."""
        return self._api.conn.context if self._api is not None else None

    @property
    def endpoint_api(self) -> str | None:
        """Which endpoints API the timeline's endpoint events come from, once deployed."""
        return self._endpoint_api

    async def connect(self) -> str:
        """Brings the cluster up (with a provisioner), opens the context and applies the guard;
        returns why it is allowed. Idempotent."""
        if self._api is None:
            await asyncio.to_thread(self._connect)
        assert self.guard_reason is not None
        return self.guard_reason

    def _connect(self) -> None:
        if self._cluster is not None:
            target = self._cluster.ensure_up()
            self._kubeconfig = target.kubeconfig
            self._kube = dataclasses.replace(
                self._kube, context=target.context, node_host=target.node_host
            )
        load_app_images(self._cluster, self._images)
        kube = self._kube
        conn = connect(self._kubeconfig, kube.context)
        if kube.node_host is None:
            self._kube = kube = dataclasses.replace(
                kube, node_host=urlsplit(conn.server).hostname or "127.0.0.1"
            )
        api = Api(conn, self._patience.policy, kube.request_timeout_s)
        self.guard_reason = check_context(api, kube.allow_context)
        self._api = api
        log.info(
            "kube: using context %s (%s); run id %s", conn.context, self.guard_reason, self.run_id
        )

    def _need_api(self) -> Api:
        if self._api is None:
            raise BackendError("kube: not connected")
        return self._api

    # ----- the Backend protocol ----------------------------------------------------------------

    async def deploy(self, spec: DeploySpec, emit: EventSink) -> Target:
        """Namespace (if missing), watches, Deployment and Service; returns when all are ready."""
        if self._session is not None:
            raise BackendError("kube: a Deployment is already up; tear it down first")
        if spec.replicas < 1:
            raise BackendError(f"kube: replicas must be >= 1, got {spec.replicas}")
        await self.connect()
        api = self._need_api()
        names = self._app.names(spec.variant, self._kube.namespace, self.run_id)
        # Built before anything is created: a variant that cannot be is one line, nothing made.
        objects = variant_objects(self._app, spec, names, on_kind=self.name == "kind")
        self._container = app_container(objects[0][1], objects[1][1])
        budget = pdb.budget(self._app.pdb)
        if self._endpoint_api is None:
            self._endpoint_api, self._minor = await asyncio.to_thread(self._discover)
        self.fix_facts.update(minor=self._minor, kubeconfig=self._kubeconfig, context=self.context)
        session = self._new_session(spec, names, emit, self._endpoint_api or ENDPOINTS_V1)
        self._session = session
        try:
            await asyncio.to_thread(
                claim.claim_namespace,
                api,
                session,
                self.run_id,
                self._minor,
                self._kube.allow_namespace,
                self._patience.teardown_s,
            )
            await asyncio.to_thread(refuse_foreign, api, names)
            await asyncio.to_thread(session.watch, api)
            await asyncio.to_thread(dataplane.start, session, api, self._data_plane, self._cluster)
            made: dict[str, dict[str, Any]] = {}
            for kind, body in objects:
                made[kind.name] = await asyncio.to_thread(apply, api, kind, body, names)
            if budget is not None:  # owned by the Deployment: pdb.py
                body = pdb_object(names, budget, self._policy, made[DEPLOYMENT.name])
                await asyncio.to_thread(apply, api, pdb_kind(self._policy), body, names)
            ready_in_time = functools.partial(
                checks.ready_in_time,
                api,
                names,
                self._container,
                self._patience.readiness_s,
            )
            await self._wait("deploy", self._patience.deploy_s, ready_in_time)
            ports = (made[SERVICE.name].get("spec") or {}).get("ports") or [{}]
            assert self._kube.node_host is not None  # set at connect
            service = made[SERVICE.name].get("spec") or {}
            cluster_url = f"http://{service.get('clusterIP')}:{int(ports[0].get('port') or 0)}"
            target = Target(self._kube.node_host, int(ports[0].get("nodePort") or 0), cluster_url)
            # Ready pods are not yet a reachable Service: kube-proxy programs the nodePort on
            # its own schedule, and load sent before would count refusals as shutdown drops.
            await self._wait(
                f"the Service to answer on {target.url}",
                self._patience.deploy_s,
                functools.partial(checks.answers, target, readiness_path(self._container)),
            )
        except BaseException:
            try:
                await asyncio.shield(self.teardown())
            except Exception as exc:  # the deploy failure is the one to report
                log.warning("kube: cleanup after a failed deploy: %s", exc)
            raise
        return target

    async def list_pods(self) -> list[PodInfo]:
        """The order's pods (terminating ones included), oldest first."""
        session = self._need_session()
        return await asyncio.to_thread(checks.pod_infos, self._need_api(), session.names)

    async def delete_pod(self, name: str, grace_period_s: float | None = None) -> None:
        """Starts one pod's deletion, as ``kubectl delete pod --wait=false`` does.

        ``grace_period_s`` None: the pod's own terminationGracePeriodSeconds. Whole seconds are
        sent (rounded up); 0 is sent as 1, as kubectl does, because 0 on the API removes the
        pod object at once without waiting for the kubelet (a force delete).
        """
        session = self._need_session()
        claim.check_lease(session)
        if grace_period_s is not None and (grace_period_s < 0 or not math.isfinite(grace_period_s)):
            raise BackendError(f"kube: grace_period_s must be >= 0, got {grace_period_s:g}")
        await asyncio.to_thread(self._disruptions().delete_pod, name, grace_period_s)

    async def evict_pod(self, name: str, retry_s: float, timeout_s: float) -> Eviction:
        """Asks for the pod's eviction as ``kubectl drain`` does (disruptions.py)."""
        return await asyncio.to_thread(self._disruptions().evict, name, retry_s, timeout_s)

    async def cordon(self, node: str) -> None:
        await asyncio.to_thread(self._disruptions().cordon, node)

    async def uncordon(self, node: str) -> None:
        await asyncio.to_thread(self._disruptions().uncordon, node)

    async def scale(self, replicas: int) -> None:
        await asyncio.to_thread(self._disruptions().scale, replicas)

    async def crash_pod(self, name: str) -> None:
        await asyncio.to_thread(self._disruptions().crash, name)

    async def rolling_restart(self, max_surge: str = "25%", max_unavailable: str = "25%") -> None:
        """Replaces every pod as ``kubectl rollout restart`` does; returns when rolled out."""
        self._need_session()
        try:
            patch = restart_patch(now_iso(), max_surge, max_unavailable)
        except ValueError:
            raise BackendError(
                f"kube: max_surge/max_unavailable must be integers or percentages, "
                f"got {max_surge!r}/{max_unavailable!r}"
            ) from None
        await asyncio.to_thread(self._disruptions().patch_deployment, patch, STRATEGIC_MERGE)
        await self._wait("rolling restart", self._patience.rollout_s, self._rolled_out)

    async def start_cluster_load(self, target: Target, plan: LoadPlan) -> LoadRun:
        """The ``ClusterLoader`` capability: locust's master and workers as pods (loadpods.py)."""
        names = self._need_session().names
        where = loadpods.Where(self._need_api(), names, self._cluster, self.name)
        run, self._cluster_load = await loadpods.start_cluster_load(where, target, plan)
        return run

    async def wait_settled(self, timeout_s: float) -> None:
        """Waits until no pod of the order is terminating and all replicas are Ready."""
        session = self._need_session()
        check = functools.partial(
            checks.settled, self._need_api(), session.names, self._image, session.spec.replicas
        )
        await self._wait("settle", timeout_s, check)

    async def teardown(self) -> None:
        """Stops the watches and deletes what deploy created; safe to repeat, and after failures."""
        session = self._session
        if session is None:
            return
        if self._cluster_load is not None:
            await asyncio.to_thread(self._cluster_load.close)
            self._cluster_load = None
        await asyncio.to_thread(self._disruptions().uncordon_all)
        await asyncio.to_thread(session.close)
        api, names = self._need_api(), session.names
        self.fix_facts["sleep_binary"][session.spec.variant] = await asyncio.to_thread(
            sleepcheck.in_running_pod, api, names, self._container, self._kube.request_timeout_s
        )
        for kind in (pdb_kind(self._policy), *MANAGED):
            await asyncio.to_thread(cleanup.delete_owned, api, kind, names)
        gone = functools.partial(checks.no_pods_left, api, names, Reaper(api))
        await self._wait_quietly("pods to go", gone)
        if await asyncio.to_thread(claim.release_namespace, api, session, self.run_id):
            gone = functools.partial(checks.namespace_gone, api, names.namespace)
            await self._wait_quietly("namespace to go", gone)
        self._session = None

    # ----- steps (threads) ---------------------------------------------------------------------

    def _new_session(self, spec: DeploySpec, names: Names, emit: EventSink, api: str) -> Session:
        def open_log(pod: str, container: str) -> Any:
            read_log = self._need_api().method(POD, "read", "log")
            return read_log(
                pod, names.namespace, container=container, follow=True, _preload_content=False
            )

        return Session(spec, names, emit, api, open_log, self._log_dir)

    def _discover(self) -> tuple[str, int | None]:
        served, (git_version, minor) = self._need_api().discover()
        api, self._policy = choose_api(served), choose_policy(served)
        self.semantics = server_semantics(git_version, minor)
        log.info("kube: endpoints from %s (server %s, minor %s)", api, git_version, minor)
        return api, minor

    @property
    def _image(self) -> str:
        return str(self._container.get("image") or self._kube.image)

    def _rolled_out(self) -> tuple[bool, str]:
        names = self._need_session().names
        return checks.rolled_out(self._need_api(), names, self._image)

    def _delete_refusal(self, api: Api, pod: dict[str, Any], names: Names) -> str | None:
        """Why the pod (as just read) may not be deleted, else None."""
        where = f"{names.namespace}/{(pod.get('metadata') or {}).get('name')}"
        why = f"it lacks the harness's labels ({names.selector})"
        return None if owned(pod, names) else f"kube: refusing to delete pod {where}: {why}"

    # ----- waiting -----------------------------------------------------------------------------

    async def _wait(self, what: str, timeout_s: float, check: checks.Check) -> None:
        await asyncio.to_thread(checks.wait_until, what, timeout_s, check)

    async def _wait_quietly(self, what: str, check: checks.Check) -> None:
        try:
            await self._wait(what, self._patience.teardown_s, check)
        except BackendError as exc:
            log.warning("kube teardown: %s", exc)

    def _disruptions(self) -> Disruptions:
        api, session = self._need_api(), self._need_session()
        killer = self._cluster if isinstance(self._cluster, ContainerKiller) else None
        refusal = functools.partial(self._delete_refusal, api, names=session.names)
        app = str(self._container.get("name"))
        return Disruptions(api, session, self._policy, self.run_id, killer, app, refusal)

    def _need_session(self) -> Session:
        if self._session is None:
            raise BackendError("kube: nothing deployed; call deploy first")
        return self._session
