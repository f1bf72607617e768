"""``--target deployment/NAME --namespace NS``: testing a Deployment that already runs.

Nothing is deployed and the user's objects are never written, with two exceptions that the user
asks for: the pod deletions chaos makes (each pod re-read and checked to be the Deployment's by
its owner references, ownership.py; another pod is refused with one line in the log and the
timeline), and, only with ``chaos.action: rolling_restart``, the restart annotation on the
Deployment's pod template that ``kubectl rollout restart`` sets (that changes the Deployment: a
new ReplicaSet, a new generation).

In the target namespace the run makes two objects of its own, both labelled as drainlab's with
the run's id and deleted at teardown by UID: the NodePort twin of the user's Service (twin.py),
which the load goes through, and the Lease ``drainlab-run`` (lease.py), so two drainlab runs
never work on the same namespace at once. The namespace itself must exist and is never made or
deleted. The context guard is the kube backend's (guard.py), and system namespaces are refused.

The timeline watches the pods by the Deployment's selector and the endpoints of the user's
Service (what real clients use); the one variant is ``current``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any, Self

from harness.backends.base import DeploySpec, EventSink, PodInfo, Target
from harness.backends.kube import checks, claim, dataplane, twin
from harness.backends.kube.api import Api
from harness.backends.kube.backend import STRATEGIC_MERGE, KubeBackend
from harness.backends.kube.client import connect
from harness.backends.kube.contextcheck import check_context
from harness.backends.kube.endpointstate import ENDPOINTS_V1
from harness.backends.kube.guard import namespace_refusal
from harness.backends.kube.kinds import DEPLOYMENT, NAMESPACE, SERVICE
from harness.backends.kube.lease import LeaseHolder
from harness.backends.kube.objects import RESTARTED_AT, Names, now_iso
from harness.backends.kube.ownership import REPLICASET, owned_by, owner_refusal, replicaset_uids
from harness.backends.kube.rolloutstatus import rollout_state, settled_state
from harness.backends.kube.session import Session
from harness.errors import BackendError, UsageError
from harness.scenario import Kube, Scenario
from harness.timeline import EventKind, TimelineEvent

log = logging.getLogger(__name__)

TARGET_KIND = "deployment/"


def target_name(target: str) -> str:
    """NAME of ``deployment/NAME``; UsageError (one line) for anything else."""
    kind, _, name = target.partition("/")
    if f"{kind.lower()}/" != TARGET_KIND or not name or "/" in name:
        raise UsageError(f"--target: expected deployment/NAME, got {target!r}")
    return name


@dataclass(frozen=True, slots=True)
class Found:
    """The user's objects a target run works with, as read before it starts."""

    deployment: dict[str, Any]
    service: dict[str, Any]
    names: Names  # namespace, Deployment, user's Service, and the pods' selector labels

    @property
    def deployment_uid(self) -> str:
        return str((self.deployment.get("metadata") or {}).get("uid"))


def find(api: Api, namespace: str, target: str, service: str | None) -> Found:
    """Reads the namespace, the Deployment and its Service; BackendError (one line) when one of
    them is missing or unusable. Reads only."""
    name = target_name(target)
    if not api.read(NAMESPACE, namespace):
        raise BackendError(f"kube: namespace {namespace!r} does not exist")
    dep = api.read(DEPLOYMENT, name, namespace)
    if not dep:
        raise BackendError(f"kube: deployment/{name} does not exist in namespace {namespace}")
    selector = (dep.get("spec") or {}).get("selector") or {}
    labels = dict(selector.get("matchLabels") or {})
    if selector.get("matchExpressions") or not labels:
        raise BackendError(
            f"kube: deployment/{name} selects its pods with matchExpressions; --target "
            "supports matchLabels selectors only"
        )
    if (dep.get("spec") or {}).get("replicas") == 0:
        raise BackendError(f"kube: deployment/{name} is scaled to 0 replicas: no pod to test")
    template = ((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}
    pod_labels = dict(template.get("labels") or {})
    services = api.list(SERVICE, namespace).get("items") or []
    chosen = twin.pick_service(services, pod_labels, name, service)
    service_name = str((chosen.get("metadata") or {}).get("name"))
    names = Names(namespace=namespace, deployment=name, service=service_name, labels=labels)
    return Found(dep, chosen, names)


class TargetBackend(KubeBackend):
    """The kube backend on a Deployment that already runs (see the module docstring)."""

    def __init__(self, kube: Kube, **options: Any) -> None:
        super().__init__(kube, **options)
        if kube.target is None:
            raise UsageError("--target: no target given")
        self._target = kube.target
        target_name(self._target)
        self._may_restart = False  # patching the user's Deployment: see from_scenario
        self._found: Found | None = None
        self._twin: tuple[str, str] | None = None  # (name, uid) of the twin this run made

    @classmethod
    def from_scenario(cls, scenario: Scenario, **options: Any) -> Self:
        backend = super().from_scenario(scenario, **options)
        # The user's Deployment is patched by chaos's rolling_restart, and for nothing else.
        backend._may_restart = scenario.chaos.action == "rolling_restart"
        return backend

    async def deploy(self, spec: DeploySpec, emit: EventSink) -> Target:
        """Finds the Deployment and its Service, takes the namespace's Lease, starts the watches,
        makes the twin; returns once the Deployment is rolled out and the twin answers."""
        if self._session is not None:
            raise BackendError("kube: a target is already in use; tear it down first")
        await self.connect()
        api = self._need_api()
        kube = self.settings
        found = await asyncio.to_thread(
            find, api, kube.namespace, self._target, kube.target_service
        )
        self._found = found
        if self._endpoint_api is None:
            self._endpoint_api, self._minor = await asyncio.to_thread(self._discover)
        self.fix_facts.update(minor=self._minor, kubeconfig=self._kubeconfig, context=self.context)
        session = self._new_session(spec, found.names, emit, self._endpoint_api or ENDPOINTS_V1)
        session.endpoint_labels = ""  # the user's Service's endpoints carry its labels, not ours
        self._session = session
        try:
            return await self._start(api, session, found)
        except BaseException:
            # The start's failure is the one to report; what cleaning up raises is logged.
            cleanup = asyncio.ensure_future(self.teardown())
            await asyncio.wait({cleanup})
            if not cleanup.cancelled() and cleanup.exception() is not None:
                log.warning("kube: cleanup after a failed start: %s", cleanup.exception())
            raise

    async def _start(self, api: Api, session: Session, found: Found) -> Target:
        kube = self.settings
        await asyncio.to_thread(self._claim, api, session)
        await asyncio.to_thread(session.watch, api)
        # The agent would run host-network pods in the user's namespace: not without asking.
        dataplane.not_started(session, "a --target run starts no node agent")
        await self._wait("deployment rollout", self._patience.deploy_s, self._rolled_out)
        body = twin.twin_object(found.service, self.run_id)
        made = await asyncio.to_thread(api.create, SERVICE, body, kube.namespace)
        if not made:
            raise BackendError(
                f"kube: service {kube.namespace}/{body['metadata']['name']} already exists "
                "(another run's twin?); not replacing it"
            )
        self._twin = (str(made["metadata"]["name"]), str(made["metadata"]["uid"]))
        assert kube.node_host is not None  # set at connect
        target = Target(kube.node_host, twin.node_port(made))
        log.info(
            "kube: target deployment/%s in %s through service %s (twin %s on %s)",
            found.names.deployment,
            kube.namespace,
            found.names.service,
            self._twin[0],
            target.url,
        )
        # Ready pods are not yet a reachable twin: kube-proxy programs its node port on its
        # own schedule, and load sent before would count refusals as shutdown drops.
        reachable = functools.partial(answers_http, target)
        await self._wait(
            f"the Service to answer on {target.url}", self._patience.deploy_s, reachable
        )
        return target

    def _claim(self, api: Api, session: Session) -> None:
        lease = LeaseHolder(api, session.names.namespace, self.run_id)
        lease.acquire()
        session.lease = lease
        lease.start_renewing()
        twin.sweep_twins(api, session.names.namespace, self.run_id)

    async def list_pods(self) -> list[PodInfo]:
        """The Deployment's pods (by owner references), terminating ones included, oldest first."""
        pods = await super().list_pods()
        mine = await asyncio.to_thread(self._owned_pod_names)
        return [p for p in pods if p.name in mine]

    def _owned_pod_names(self) -> set[str]:
        api, names, found = self._need_api(), self._need_session().names, self._need_found()
        sets = api.list(REPLICASET, names.namespace, label_selector=names.selector)
        uids = replicaset_uids(sets.get("items") or [], found.deployment_uid)
        return {
            str((p.get("metadata") or {}).get("name"))
            for p in checks.owned_pods(api, names)
            if owned_by(p, uids)
        }

    def _delete_refusal(self, api: Api, pod: dict[str, Any], names: Names) -> str | None:
        found = self._need_found()
        why = super()._delete_refusal(api, pod, names) or owner_refusal(
            api, pod, names.deployment, found.deployment_uid
        )
        if why is not None:
            detail = {"action": "delete", "targets": [], "refused": _name(pod), "error": why}
            event = TimelineEvent(time.time(), EventKind.CHAOS_ACTION, None, detail)
            self._need_session().emit(event)
        return why

    async def rolling_restart(self, max_surge: str = "25%", max_unavailable: str = "25%") -> None:
        """Restarts the user's Deployment as ``kubectl rollout restart`` does (its own rollout
        strategy applies; max_surge/max_unavailable are not sent); only when the scenario's
        chaos action is rolling_restart."""
        session = self._need_session()
        if not self._may_restart:
            raise BackendError(
                "kube: a target's Deployment is restarted only with chaos.action rolling_restart"
            )
        claim.check_lease(session)
        await asyncio.to_thread(self._restart, session.names)
        await self._wait("rolling restart", self._patience.rollout_s, self._rolled_out)

    def _restart(self, names: Names) -> None:
        api, found = self._need_api(), self._need_found()
        dep = api.read(DEPLOYMENT, names.deployment, names.namespace)
        if (dep.get("metadata") or {}).get("uid") != found.deployment_uid:
            raise BackendError(f"kube: deployment/{names.deployment} is gone or was replaced")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now_iso()}}}}}
        log.warning(
            "kube: restarting deployment/%s (chaos.action rolling_restart)", names.deployment
        )
        api.patch(DEPLOYMENT, names.deployment, names.namespace, patch, STRATEGIC_MERGE)

    def _rolled_out(self) -> tuple[bool, str]:
        names, found = self._need_session().names, self._need_found()
        dep = self._need_api().read(DEPLOYMENT, names.deployment, names.namespace)
        if (dep.get("metadata") or {}).get("uid") != found.deployment_uid:
            raise BackendError(f"kube: deployment/{names.deployment} is gone or was replaced")
        return rollout_state(dep)

    async def wait_settled(self, timeout_s: float) -> None:
        """Rolled out, none of its pods terminating, and as many Ready as it asks for."""
        await self._wait("settle", timeout_s, self._settled)

    def _settled(self) -> tuple[bool, str]:
        done, account = self._rolled_out()
        if not done:
            return done, account
        api, names = self._need_api(), self._need_session().names
        dep = api.read(DEPLOYMENT, names.deployment, names.namespace)
        replicas = (dep.get("spec") or {}).get("replicas")
        mine = self._owned_pod_names()
        pods = [p for p in checks.owned_pods(api, names) if _name(p) in mine]
        return settled_state(pods, 1 if replicas is None else int(replicas), time.time())

    async def teardown(self) -> None:
        """Stops the watches, deletes the twin and gives the Lease back; the user's objects stay
        as they are. Safe to repeat, and after failures."""
        session = self._session
        if session is None:
            return
        await asyncio.to_thread(session.close)
        api = self._need_api()
        if self._twin is not None:
            name, uid = self._twin
            await asyncio.to_thread(
                twin.delete_twin, api, session.names.namespace, name, uid, self.run_id
            )
            self._twin = None
        await asyncio.to_thread(claim.release_namespace, api, session, self.run_id)
        self._session = None
        self._found = None

    def _need_found(self) -> Found:
        if self._found is None:
            raise BackendError("kube: no target found yet; call deploy first")
        return self._found


def answers_http(target: Target) -> tuple[bool, str]:
    """Whether the Service answers HTTP at all at the target (any status: the user's app decides
    what its paths answer; a refused or reset connection is not an answer)."""
    done, account = checks.answers(target, "/")
    return done or account.startswith("answered HTTP"), account


def _name(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name"))


def target_refusal(backend: str, kube: Kube) -> None:
    """UsageError (one line) when a run cannot test ``kube.target`` at all: not deployment/NAME,
    a system namespace, or the embedded backend (it has no Deployments to find)."""
    if kube.target is None:
        return
    target_name(kube.target)
    if backend == "embedded":
        raise UsageError(
            "--target tests a Deployment on a cluster: use --backend kube (or kind, local), "
            "not the embedded backend"
        )
    refused = namespace_refusal(kube.namespace)
    if refused is not None:
        raise UsageError(refused)


def preflight(kube: Kube) -> tuple[Api, str, Found]:
    """On a given context (the kube backend), reads what a target run needs before the run
    starts: a context the guard refuses, or a target, namespace or Service that is missing, is
    one line (BackendError) before any run folder, traffic or object is made. Reads only.
    Returns the connection, why the guard allows it, and what was found. (kind and local are
    brought up by the run itself, which checks this at its start.)"""
    assert kube.target is not None
    api = Api(connect(None, kube.context), request_timeout_s=kube.request_timeout_s)
    why = check_context(api, kube.allow_context)
    return api, why, find(api, kube.namespace, kube.target, kube.target_service)
