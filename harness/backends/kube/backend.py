"""The kube backend: one order of the sample app on a real cluster, through the official client.

Construct it with the scenario's ``kube`` settings (what the run orchestrator does)::

    backend = KubeBackend(scenario.kube, kubeconfig=None, log_dir=run_dir / "logs")
    async with backend:                          # teardown on every way out
        target = await backend.deploy(spec, timeline.write)
        await backend.delete_pod(name)
        ...

- ``kube.context`` (None: the kubeconfig's current context) must pass the guard (guard.py):
  kind, the harness's local cluster, or named by ``kube.allow_context``; a context missing from
  the kubeconfig is a one-line error listing those that exist.
- Only objects in ``kube.namespace`` that carry the harness's labels (objects.py) are touched:
  every list and watch selects on them, every delete re-reads the object, checks its labels and
  deletes with a UID precondition (so it deletes exactly what it checked).
- ``dry_run=True``: reads, checks and prints (through ``say``) what it would apply or delete,
  validating the objects with a server-side dry run where their namespace exists; changes
  nothing.
- The blocking client runs in threads: short calls through ``asyncio.to_thread`` (with the
  retry policy of retry.py), watches and log streams in daemon threads of their own feeding
  the run's EventSink (session.py). Events go to the sink from those threads, one at a time.

One Deployment at a time; ``deploy`` again after ``teardown``.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import functools
import http.client
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.backends.base import DeploySpec, EventSink, PodInfo, Target
from harness.backends.kube import retry
from harness.backends.kube.client import Connection, connect, raw, served_group_versions
from harness.backends.kube.client import server_minor as read_server_minor
from harness.backends.kube.endpoints import ENDPOINTS_V1, choose_api
from harness.backends.kube.guard import evaluate
from harness.backends.kube.objects import (
    NODE_PORTS,
    Names,
    deployment_object,
    grace_seconds,
    names_for,
    namespace_labels,
    namespace_object,
    owned,
    restart_patch,
    service_object,
)
from harness.backends.kube.rollout import is_ready, rollout_state, settled_state, stuck_reason
from harness.backends.kube.session import Session
from harness.backends.kube.stamps import parse_time
from harness.backends.kube.watch import Watcher
from harness.errors import BackendError
from harness.orders import ORDERS
from harness.scenario import Kube, Scenario
from harness.timeline import EventKind, TimelineEvent

log = logging.getLogger(__name__)
T = TypeVar("T")

POLL_S = 0.25  # how often waits re-check the API
SYNC_TIMEOUT_S = 30.0  # for a watch's first list
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # set by the EndpointSlice controller


def _print(line: str) -> None:
    print(line, flush=True)


class KubeBackend:
    """The ``Backend`` protocol on a Kubernetes cluster (see the module docstring)."""

    name = "kube"

    def __init__(
        self,
        kube: Kube,
        *,
        kubeconfig: Path | None = None,
        dry_run: bool = False,
        log_dir: Path | None = None,
        say: Callable[[str], None] = _print,
        policy: retry.RetryPolicy = retry.DEFAULT_POLICY,
        deploy_timeout_s: float = 300.0,
        rollout_timeout_s: float = 600.0,
        teardown_timeout_s: float = 180.0,
    ) -> None:
        self._kube = kube
        self._kubeconfig = kubeconfig
        self.dry_run = dry_run
        self._log_dir = log_dir
        self._say = say
        self._policy = policy
        self._deploy_timeout_s = deploy_timeout_s
        self._rollout_timeout_s = rollout_timeout_s
        self._teardown_timeout_s = teardown_timeout_s
        self._conn: Connection | None = None
        self.guard_reason: str | None = None  # why the context was allowed
        self._endpoint_api: str | None = None
        self._minor: int | None = None
        self._session: Session | None = None
        self._swept = False  # leftovers of an earlier run looked for (once, at the first deploy)

    @classmethod
    def from_scenario(
        cls,
        scenario: Scenario,
        *,
        kubeconfig: Path | None = None,
        dry_run: bool = False,
        log_dir: Path | None = None,
    ) -> KubeBackend:
        return cls(scenario.kube, kubeconfig=kubeconfig, dry_run=dry_run, log_dir=log_dir)

    async def __aenter__(self) -> KubeBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.teardown()

    # ----- connecting --------------------------------------------------------------------------

    @property
    def settings(self) -> Kube:
        return self._kube

    @property
    def context(self) -> str | None:
        """The context in use, once connected."""
        return self._conn.context if self._conn is not None else None

    @property
    def endpoint_api(self) -> str | None:
        """Which endpoints API the timeline's endpoint events come from, once deployed."""
        return self._endpoint_api

    async def connect(self) -> str:
        """Opens the context and applies the guard; returns why it is allowed. Idempotent."""
        if self._conn is None:
            await asyncio.to_thread(self._connect)
        assert self.guard_reason is not None
        return self.guard_reason

    def _connect(self) -> None:
        conn = connect(self._kubeconfig, self._kube.context)
        verdict = evaluate(conn.context, conn.server, self._kube.allow_context)
        if verdict.needs_nodes:
            nodes = self._call("list nodes", self._raw(self._core(conn).list_node))
            ids = [str(((n.get("spec") or {}).get("providerID")) or "") for n in nodes["items"]]
            verdict = evaluate(conn.context, conn.server, self._kube.allow_context, ids)
        if not verdict.allowed:
            raise BackendError(f"kube: {verdict.reason}")
        self._conn = conn
        self.guard_reason = verdict.reason
        log.info("kube: using context %s (%s)", conn.context, verdict.reason)

    def _core(self, conn: Connection | None = None) -> Any:
        return client.CoreV1Api((conn or self._need_conn()).api)

    def _apps(self) -> Any:
        return client.AppsV1Api(self._need_conn().api)

    def _custom(self) -> Any:
        return client.CustomObjectsApi(self._need_conn().api)

    def _need_conn(self) -> Connection:
        if self._conn is None:
            raise BackendError("kube: not connected")
        return self._conn

    # ----- calling the API ---------------------------------------------------------------------

    def _call(
        self, what: str, fn: Callable[[], dict[str, Any]], tolerate: frozenset[int] = frozenset()
    ) -> dict[str, Any]:
        """A blocking call with retries; ``{}`` for a tolerated status (404, 409...)."""
        try:
            return self._call_any(what, fn, tolerate)
        except _Tolerated:
            return {}

    def _call_any(
        self, what: str, fn: Callable[[], T], tolerate: frozenset[int] = frozenset()
    ) -> T:
        """A blocking call with retries; every failure becomes a one-line BackendError."""
        try:
            return retry.call(what, fn, self._policy)
        except ApiException as exc:
            if exc.status in tolerate:
                raise _Tolerated() from None
            raise retry.api_error(what, exc) from None
        except BackendError:
            raise
        except Exception as exc:  # a failure retrying cannot fix (TLS, a bad answer...)
            raise retry.api_error(what, exc) from None

    def _raw(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
        kwargs.setdefault("_request_timeout", self._kube.request_timeout_s)
        return functools.partial(raw, fn, *args, **kwargs)

    # ----- the Backend protocol ----------------------------------------------------------------

    async def deploy(self, spec: DeploySpec, emit: EventSink) -> Target:
        """Namespace (if missing), watches, Deployment and Service; returns when all are ready."""
        if self._session is not None:
            raise BackendError("kube: a Deployment is already up; tear it down first")
        if spec.replicas < 1:
            raise BackendError(f"kube: replicas must be >= 1, got {spec.replicas}")
        await self.connect()
        names = names_for(spec.order, self._kube.namespace)
        deployment = deployment_object(spec, names, self._kube.image)
        service = service_object(spec.order, names)
        if self.dry_run:
            await asyncio.to_thread(self._dry_run_deploy, spec, names, deployment, service)
            self._session = self._new_session(spec, names, emit, ENDPOINTS_V1)
            self._session.closed = True  # nothing is watched in a dry run
            return Target(self._kube.node_host, NODE_PORTS.get(spec.order, 0))
        if self._endpoint_api is None:
            self._endpoint_api, self._minor = await asyncio.to_thread(self._discover)
        if not self._swept:
            await asyncio.to_thread(self._sweep_leftovers)
            self._swept = True
        await asyncio.to_thread(self._existing, names)
        session = self._new_session(spec, names, emit, self._endpoint_api or ENDPOINTS_V1)
        self._session = session
        try:
            session.created_namespace = await asyncio.to_thread(self._ensure_namespace, names)
            await asyncio.to_thread(self._start_watches, session)
            await asyncio.to_thread(self._apply, "deployment", deployment, names)
            created = await asyncio.to_thread(self._apply, "service", service, names)
            await self._wait("deploy", self._deploy_timeout_s, self._rolled_out)
            ports = (created.get("spec") or {}).get("ports") or [{}]
            target = Target(self._kube.node_host, int(ports[0].get("nodePort") or 0))
            # Ready pods are not yet a reachable Service: kube-proxy programs the nodePort on
            # its own schedule, and load sent before would count refusals as shutdown drops.
            await self._wait(
                f"the Service to answer on {target.url}",
                self._deploy_timeout_s,
                lambda: _answers(target, spec.readiness_path),
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
        items = await asyncio.to_thread(self._list_pods, session.names)
        infos = []
        for pod in items:
            meta = pod.get("metadata") or {}
            infos.append(
                PodInfo(
                    name=str(meta.get("name")),
                    ready=is_ready(pod),
                    terminating=bool(meta.get("deletionTimestamp")),
                    created=parse_time(meta.get("creationTimestamp")),
                )
            )
        return sorted(infos, key=lambda p: (p.created or 0.0, p.name))

    async def delete_pod(self, name: str, grace_period_s: float | None = None) -> None:
        """Starts one pod's deletion, as ``kubectl delete pod --wait=false`` does.

        ``grace_period_s`` None: the pod's own terminationGracePeriodSeconds. Whole seconds are
        sent (rounded up); 0 is sent as 1, as kubectl does, because 0 on the API removes the
        pod object at once without waiting for the kubelet (a force delete).
        """
        session = self._need_session()
        if grace_period_s is not None and (grace_period_s < 0 or not math.isfinite(grace_period_s)):
            raise BackendError(f"kube: grace_period_s must be >= 0, got {grace_period_s:g}")
        await asyncio.to_thread(self._delete_pod, session, name, grace_period_s)

    async def rolling_restart(self, max_surge: str = "25%", max_unavailable: str = "25%") -> None:
        """Replaces every pod as ``kubectl rollout restart`` does; returns when rolled out."""
        session = self._need_session()
        try:
            patch = restart_patch(_now_iso(), max_surge, max_unavailable)
        except ValueError:
            raise BackendError(
                f"kube: max_surge/max_unavailable must be integers or percentages, "
                f"got {max_surge!r}/{max_unavailable!r}"
            ) from None
        names = session.names
        if self.dry_run:
            self._say(
                f"dry run: would patch deployment {names.namespace}/{names.deployment}: {patch}"
            )
            return
        await asyncio.to_thread(self._patch_deployment, names, patch)
        await self._wait("rolling restart", self._rollout_timeout_s, self._rolled_out)

    async def wait_settled(self, timeout_s: float) -> None:
        """Waits until no pod of the order is terminating and all replicas are Ready."""
        session = self._need_session()
        if self.dry_run:
            return

        def check() -> tuple[bool, str]:
            done, account = self._rolled_out()
            if not done:
                return done, account
            return settled_state(self._list_pods(session.names), session.spec.replicas)

        await self._wait("settle", timeout_s, check)

    async def teardown(self) -> None:
        """Stops the watches and deletes what deploy created; safe to repeat, and after failures."""
        session = self._session
        if session is None:
            return
        await asyncio.to_thread(session.close)
        if self.dry_run:
            await asyncio.to_thread(self._dry_run_teardown, session.names)
            self._session = None
            return
        names = session.names
        await asyncio.to_thread(self._delete_owned, "deployment", names)
        await asyncio.to_thread(self._delete_owned, "service", names)
        await self._wait_quietly("pods to go", self._pods_gone)
        if session.created_namespace:
            await asyncio.to_thread(self._delete_namespace, names)
            await self._wait_quietly("namespace to go", self._namespace_gone)
        self._session = None

    # ----- deploy steps (threads) --------------------------------------------------------------

    def _new_session(self, spec: DeploySpec, names: Names, emit: EventSink, api: str) -> Session:
        def open_log(pod: str, container: str) -> Any:
            return self._core().read_namespaced_pod_log(
                pod, names.namespace, container=container, follow=True, _preload_content=False
            )

        return Session(spec, names, emit, api, open_log, self._log_dir)

    def _discover(self) -> tuple[str, int | None]:
        api_client = self._need_conn().api
        timeout_s = self._kube.request_timeout_s
        served = self._call_any(
            "API discovery", lambda: served_group_versions(api_client, timeout_s)
        )
        minor = self._call_any("server version", lambda: read_server_minor(api_client, timeout_s))
        api = choose_api(served)
        log.info("kube: endpoints from %s (server minor %s)", api, minor)
        return api, minor

    def _ensure_namespace(self, names: Names) -> bool:
        """Creates the namespace if it is missing; True when this call created it."""
        ns = names.namespace
        core = self._core()
        existing = self._call(f"read namespace {ns}", self._raw(core.read_namespace, ns), _404)
        if existing and (existing.get("status") or {}).get("phase") == "Terminating":
            # Left by an earlier teardown that is still finishing: wait, then make a new one.
            self._wait_sync(f"namespace {ns} to finish terminating", 120.0, self._namespace_gone)
            existing = {}
        if existing:
            return False
        self._call(
            f"create namespace {ns}",
            self._raw(core.create_namespace, namespace_object(ns)),
            frozenset({409}),
        )
        self._wait_sync(f"namespace {ns}'s default service account", 60.0, self._namespace_usable)
        return True

    def _namespace_usable(self) -> tuple[bool, str]:
        """Pods are admitted once the default service account exists (and, before 1.24, its
        token secret: the admission plugin refuses pods until the token controller made it)."""
        session = self._need_session()
        sa = self._call(
            "read service account default",
            self._raw(
                self._core().read_namespaced_service_account, "default", session.names.namespace
            ),
            _404,
        )
        if not sa:
            return False, "no default service account yet"
        needs_secret = self._minor is not None and self._minor < 24
        if needs_secret and not sa.get("secrets"):
            return False, "default service account has no token yet"
        return True, "ready"

    def _start_watches(self, session: Session) -> None:
        names = session.names
        core = self._core()
        pods = functools.partial(
            core.list_namespaced_pod, names.namespace, label_selector=names.selector
        )
        api = session.endpoints.api
        if api == ENDPOINTS_V1:
            endpoints = functools.partial(
                core.list_namespaced_endpoints,
                names.namespace,
                label_selector=names.selector,
                field_selector=f"metadata.name={names.service}",
            )
        else:
            group, version = api.split("/")
            endpoints = functools.partial(
                self._custom().list_namespaced_custom_object,
                group,
                version,
                names.namespace,
                "endpointslices",
                # The controller names the Service on each slice and copies the Service's
                # labels onto it (1.19+), so the harness's labels select them too.
                label_selector=f"{names.selector},{SERVICE_NAME_LABEL}={names.service}",
            )
        # Events cannot be selected by the pod's labels: the session keeps only those about
        # pods the (label-selected) pod watch has seen.
        events = functools.partial(
            core.list_namespaced_event, names.namespace, field_selector="involvedObject.kind=Pod"
        )
        session.watchers = [
            Watcher("pods", pods, session.pods_listed, session.pod_changed, self._policy),
            Watcher(
                "endpoints",
                endpoints,
                session.endpoints_listed,
                session.endpoints_changed,
                self._policy,
            ),
            Watcher("events", events, session.events_listed, session.event_changed, self._policy),
        ]
        for watcher in session.watchers:
            watcher.start()
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        for watcher in session.watchers:
            watcher.synced.wait(max(0.0, deadline - time.monotonic()))
            if watcher.name != "events" and (watcher.failed or not watcher.synced.is_set()):
                why = watcher.failed or f"no answer in {SYNC_TIMEOUT_S:g} s"
                raise BackendError(f"kube: cannot watch {watcher.name}: {why}")

    def _apply(self, kind: str, body: dict[str, Any], names: Names) -> dict[str, Any]:
        """Creates the object, or replaces it if an object of the harness's is in the way."""
        name = body["metadata"]["name"]
        ns = names.namespace
        if kind == "deployment":
            apps = self._apps()
            create, read, replace = (
                apps.create_namespaced_deployment,
                apps.read_namespaced_deployment,
                apps.replace_namespaced_deployment,
            )
        else:
            core = self._core()
            create, read, replace = (
                core.create_namespaced_service,
                core.read_namespaced_service,
                core.replace_namespaced_service,
            )
        made = self._call(f"create {kind} {name}", self._raw(create, ns, body), frozenset({409}))
        if made:
            return made
        for _ in range(3):
            existing = self._call(f"read {kind} {name}", self._raw(read, name, ns), _404)
            if not existing:
                made = self._call(
                    f"create {kind} {name}", self._raw(create, ns, body), frozenset({409})
                )
                if made:
                    return made
                continue
            if not owned(existing, names):
                raise BackendError(
                    f"kube: {kind} {ns}/{name} exists without the harness's labels "
                    f"({names.selector}); refusing to replace it"
                )
            update = _for_replace(kind, body, existing)
            replaced = self._call(
                f"replace {kind} {name}", self._raw(replace, name, ns, update), frozenset({409})
            )
            if replaced:
                return replaced
        raise BackendError(f"kube: {kind} {ns}/{name} kept changing while being replaced")

    def _existing(self, names: Names) -> dict[str, dict[str, Any]]:
        """The order's Deployment and Service as they are now ({} when absent).

        Refuses before anything is changed if either name is taken by an object without the
        harness's labels: that object is someone else's.
        """
        ns = names.namespace
        core, apps = self._core(), self._apps()
        found: dict[str, dict[str, Any]] = {}
        for kind, name, read in (
            ("deployment", names.deployment, apps.read_namespaced_deployment),
            ("service", names.service, core.read_namespaced_service),
        ):
            current = self._call(f"read {kind} {name}", self._raw(read, name, ns), _404)
            if current and not owned(current, names):
                raise BackendError(
                    f"kube: {kind} {ns}/{name} exists without the harness's labels "
                    f"({names.selector}); refusing to replace it"
                )
            found[kind] = current
        return found

    def _rolled_out(self) -> tuple[bool, str]:
        session = self._need_session()
        names = session.names
        dep = self._call(
            f"read deployment {names.deployment}",
            self._raw(self._apps().read_namespaced_deployment, names.deployment, names.namespace),
            _404,
        )
        if not dep:
            raise BackendError(f"kube: deployment {names.namespace}/{names.deployment} is gone")
        done, account = rollout_state(dep)
        if not done:
            for pod in self._list_pods(names):
                reason = stuck_reason(pod, self._kube.image)
                if reason is not None:
                    raise BackendError(f"kube: {reason}")
        return done, account

    def _list_pods(self, names: Names) -> list[dict[str, Any]]:
        body = self._call(
            "list pods",
            self._raw(
                self._core().list_namespaced_pod, names.namespace, label_selector=names.selector
            ),
        )
        return [p for p in body.get("items") or [] if owned(p, names)]

    # ----- delete and restart (threads) --------------------------------------------------------

    def _delete_pod(self, session: Session, name: str, grace_period_s: float | None) -> None:
        names = session.names
        core = self._core()
        pod = self._call(
            f"read pod {name}", self._raw(core.read_namespaced_pod, name, names.namespace), _404
        )
        if not pod:
            raise BackendError(f"kube: no pod {name!r} in namespace {names.namespace}")
        if not owned(pod, names):
            raise BackendError(
                f"kube: refusing to delete pod {names.namespace}/{name}: it lacks the harness's "
                f"labels ({names.selector})"
            )
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return  # already on its way out; its first grace period stands
        own_grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        body: dict[str, Any] = {"preconditions": {"uid": meta.get("uid")}}
        detail: dict[str, Any] = {"cause": "delete", "source": "harness_call"}
        if grace_period_s is None:
            detail["grace_period_s"] = own_grace
        else:
            sent = max(1, math.ceil(grace_period_s))
            body["gracePeriodSeconds"] = sent
            detail["grace_period_s"] = sent
            if sent != grace_period_s:
                detail["requested_grace_period_s"] = grace_period_s
        if self.dry_run:
            self._say(
                f"dry run: would delete pod {names.namespace}/{name} "
                f"(grace {detail['grace_period_s']} s)"
            )
            return
        with session.lock:
            session.pods.harness_deleting(name)
        delete = self._raw(core.delete_namespaced_pod, name, names.namespace, body=body)
        started = time.time()

        def attempt() -> dict[str, Any]:
            # The deletion starts when the attempt that succeeds arrives, not the first one:
            # a retried call must not move the deletion earlier than it happened.
            nonlocal started
            started = time.time()
            return dict(delete())

        try:
            answer = self._call(f"delete pod {name}", attempt, _404)
        except BaseException:
            with session.lock:
                session.pods.harness_delete_failed(name)
            raise
        if not answer:
            with session.lock:
                session.pods.harness_delete_failed(name)
            log.warning("kube: pod %s was already gone when deleted", name)
            return
        detail["call_ms"] = round((time.time() - started) * 1000, 1)
        deleted_meta = answer.get("metadata") or {}
        detail["deletion_timestamp"] = deleted_meta.get("deletionTimestamp")
        session.emit(TimelineEvent(started, EventKind.DELETE_REQUESTED, name, detail))

    def _patch_deployment(self, names: Names, patch: dict[str, Any]) -> None:
        apps = self._apps()
        dep = self._call(
            f"read deployment {names.deployment}",
            self._raw(apps.read_namespaced_deployment, names.deployment, names.namespace),
            _404,
        )
        if not dep or not owned(dep, names):
            raise BackendError(
                f"kube: deployment {names.namespace}/{names.deployment} is missing or not the "
                "harness's; not restarting it"
            )
        self._call(
            f"patch deployment {names.deployment}",
            self._raw(
                apps.patch_namespaced_deployment,
                names.deployment,
                names.namespace,
                patch,
                _content_type=STRATEGIC_MERGE,
            ),
        )

    # ----- teardown steps (threads) ------------------------------------------------------------

    def _sweep_leftovers(self) -> None:
        """Removes what a run that was killed (SIGKILL, a crash) left of any order, and waits
        until its pods are gone: the new run must not see an old run's pods as its own."""
        for order in ORDERS:
            names = names_for(order, self._kube.namespace)
            removed = [k for k in ("deployment", "service") if self._delete_owned(k, names)]
            if not removed:
                continue
            log.warning(
                "kube: removing what an earlier run left in namespace %s (%s of order %s); "
                "it did not finish its teardown",
                names.namespace,
                " and ".join(removed),
                order,
            )
            self._wait_sync(
                f"the earlier run's {order} pods to go",
                self._teardown_timeout_s,
                functools.partial(self._no_pods_of, names),
            )

    def _delete_owned(self, kind: str, names: Names) -> bool:
        """Deletes the order's Deployment or Service if it is there and carries the labels;
        True when it asked for a deletion."""
        name = names.deployment if kind == "deployment" else names.service
        if kind == "deployment":
            apps = self._apps()
            read, delete = apps.read_namespaced_deployment, apps.delete_namespaced_deployment
        else:
            core = self._core()
            read, delete = core.read_namespaced_service, core.delete_namespaced_service
        existing = self._call(f"read {kind} {name}", self._raw(read, name, names.namespace), _404)
        if not existing:
            return False
        if not owned(existing, names):
            log.warning("kube: %s %s lacks the harness's labels; left alone", kind, name)
            return False
        uid = (existing.get("metadata") or {}).get("uid")
        body = {"preconditions": {"uid": uid}, "propagationPolicy": "Background"}
        self._call(
            f"delete {kind} {name}",
            self._raw(delete, name, names.namespace, body=body),
            frozenset({404, 409}),
        )
        return True

    def _pods_gone(self) -> tuple[bool, str]:
        return self._no_pods_of(self._need_session().names)

    def _no_pods_of(self, names: Names) -> tuple[bool, str]:
        left = self._list_pods(names)
        return not left, f"{len(left)} pods left"

    def _delete_namespace(self, names: Names) -> None:
        ns = names.namespace
        core = self._core()
        existing = self._call(f"read namespace {ns}", self._raw(core.read_namespace, ns), _404)
        labels = (existing.get("metadata") or {}).get("labels") or {}
        if not existing or any(labels.get(k) != v for k, v in namespace_labels().items()):
            return
        uid = (existing.get("metadata") or {}).get("uid")
        self._call(
            f"delete namespace {ns}",
            self._raw(core.delete_namespace, ns, body={"preconditions": {"uid": uid}}),
            frozenset({404, 409}),
        )

    def _namespace_gone(self) -> tuple[bool, str]:
        ns = self._need_session().names.namespace
        existing = self._call(
            f"read namespace {ns}", self._raw(self._core().read_namespace, ns), _404
        )
        return not existing, "still terminating" if existing else "gone"

    # ----- dry run -----------------------------------------------------------------------------

    def _dry_run_deploy(
        self,
        spec: DeploySpec,
        names: Names,
        deployment: dict[str, Any],
        service: dict[str, Any],
    ) -> None:
        ns = names.namespace
        core, apps = self._core(), self._apps()
        say = self._say
        say(f"dry run: context {self.context} ({self.guard_reason})")
        exists = self._call(f"read namespace {ns}", self._raw(core.read_namespace, ns), _404)
        if not exists:
            say(f"dry run: would create namespace {ns} (labels {namespace_labels()})")
        grace = grace_seconds(spec.grace_period_s)
        prestop = f", preStop sleep {spec.prestop_sleep_s:g} s" if spec.prestop_sleep_s else ""
        existing = self._existing(names) if exists else {}
        for kind, body, create in (
            ("deployment", deployment, apps.create_namespaced_deployment),
            ("service", service, core.create_namespaced_service),
        ):
            name = body["metadata"]["name"]
            current = existing.get(kind)
            verb = "replace" if current else "create"
            if kind == "deployment":
                what = (
                    f"{spec.replicas} replicas of {self._kube.image}, order {spec.order}, "
                    f"grace {grace} s{prestop}"
                )
            else:
                port = (body["spec"]["ports"][0]).get("nodePort", "any")
                what = f"NodePort {port} on {self._kube.node_host}"
            say(f"dry run: would {verb} {kind} {ns}/{name} ({what}), labels {names.selector}")
            if exists and not current:
                # The server validates the object and persists nothing (dryRun=All).
                self._call(
                    f"validate {kind} {name}",
                    self._raw(create, ns, body, dry_run="All"),
                    frozenset({409}),
                )

    def _dry_run_teardown(self, names: Names) -> None:
        core, apps = self._core(), self._apps()
        ns = names.namespace
        for kind, name, read in (
            ("deployment", names.deployment, apps.read_namespaced_deployment),
            ("service", names.service, core.read_namespaced_service),
        ):
            current = self._call(f"read {kind} {name}", self._raw(read, name, ns), _404)
            if current and owned(current, names):
                self._say(f"dry run: would delete {kind} {ns}/{name}")
        pods = self._list_pods(names)
        if pods:
            self._say(f"dry run: would let {len(pods)} pods of {names.selector} go with them")

    # ----- waiting -----------------------------------------------------------------------------

    async def _wait(
        self, what: str, timeout_s: float, check: Callable[[], tuple[bool, str]]
    ) -> None:
        await asyncio.to_thread(self._wait_sync, what, timeout_s, check)

    def _wait_sync(
        self, what: str, timeout_s: float, check: Callable[[], tuple[bool, str]]
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            done, account = check()
            if done:
                return
            if time.monotonic() >= deadline:
                raise BackendError(f"kube: {what} not done after {timeout_s:g} s: {account}")
            time.sleep(POLL_S)

    async def _wait_quietly(self, what: str, check: Callable[[], tuple[bool, str]]) -> None:
        try:
            await self._wait(what, self._teardown_timeout_s, check)
        except BackendError as exc:
            log.warning("kube teardown: %s", exc)

    def _need_session(self) -> Session:
        if self._session is None:
            raise BackendError("kube: nothing deployed; call deploy first")
        return self._session


_404 = frozenset({404})


class _Tolerated(Exception):
    """An API answer the caller expects (404 for a missing object, 409 for an existing one)."""


def _answers(target: Target, path: str) -> tuple[bool, str]:
    """Whether the Service answers ``path`` with 200 at the target, as the load will reach it."""
    conn = http.client.HTTPConnection(target.host, target.port, timeout=2.0)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        status = conn.getresponse().status
    except OSError as exc:
        return False, f"not answering ({exc.strerror or exc})"
    finally:
        conn.close()
    return status == 200, f"answered HTTP {status}"


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _for_replace(kind: str, body: dict[str, Any], existing: dict[str, Any]) -> dict[str, Any]:
    """The new object, carrying what a replace must keep from the existing one."""
    update = copy.deepcopy(body)
    meta = existing.get("metadata") or {}
    update["metadata"]["resourceVersion"] = meta.get("resourceVersion")
    if kind == "service":
        spec = existing.get("spec") or {}
        # clusterIP is immutable: a replace must repeat it (and clusterIPs on 1.20+).
        for key in ("clusterIP", "clusterIPs"):
            if spec.get(key):
                update["spec"][key] = spec[key]
    return update
