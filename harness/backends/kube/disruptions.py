"""The ways the kube backend stops pods, as Kubernetes makes them: delete, evict, cordon, scale,
crash. Blocking: the backend runs each in a thread.

- **delete** (``kubectl delete pod --wait=false``): stamped at the call (delete_requested).
- **evict** (``kubectl drain``'s eviction): a POST of an Eviction to the pod's ``eviction``
  subresource, ``policy/v1`` where served, else ``policy/v1beta1`` (v1.20), with the pod's UID
  as precondition. The API answers 429 while a PodDisruptionBudget forbids it: that is retried
  every ``retry_s`` until ``timeout_s`` (:func:`next_attempt_in`), each refusal one
  ``eviction_blocked`` event; 404 means the pod is gone already; any other failure is one
  BackendError line. Not retried by the API layer's policy (retry.py), which would retry a 429
  on its own schedule. The deletion the eviction starts is seen on the pod watch
  (delete_requested, ``stopped_by`` evict or drain: stopcause.py).
- **cordon / uncordon**: nodes.py; ``node_cordoned``/``node_uncordoned`` events.
- **scale**: the Deployment's replicas (merge patch), not waited for; ``scaled`` event; the
  ReplicaSet controller picks the victims (delete_requested ``stopped_by`` scale_down).
- **crash**: SIGKILL to the app container's process from its node's runtime, on clusters whose
  provisioner offers it (clusters/containerkill.py); ``pod_crashed`` event; the kubelet restarts
  the container (``container_restarted`` on the watch).

Every verb reads the object first and refuses one that lacks the harness's labels.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from harness.backends.base import Eviction
from harness.backends.clusters.containerkill import METHOD, ContainerKiller
from harness.backends.kube import claim, nodes, retry
from harness.backends.kube.api import NOT_FOUND, Api
from harness.backends.kube.client import raw
from harness.backends.kube.kinds import DEPLOYMENT, POD
from harness.backends.kube.objects import Names, owned
from harness.backends.kube.session import Session
from harness.errors import BackendError
from harness.timeline import EventKind, TimelineEvent

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
BLOCKED = 429  # the Eviction API's answer while a PodDisruptionBudget forbids the eviction
CANNOT_CRASH = (
    "kube: crash needs the node's container runtime, which drainlab reaches only on the local "
    "cluster (--backend local); it cannot be done through the API: a container's PID 1 ignores "
    "SIGKILL sent from inside its own PID namespace, so `kubectl exec ... kill -9 1` does nothing"
)


def next_attempt_in(
    attempts: int, elapsed_s: float, retry_s: float, timeout_s: float
) -> float | None:
    """Seconds until the next eviction attempt after ``attempts`` refused ones, ``elapsed_s``
    after the first: attempts go at 0, retry_s, 2 retry_s, ... as long as they start within
    ``timeout_s``; None when the next one would not."""
    due = attempts * retry_s
    if due > timeout_s:
        return None
    return max(0.0, due - elapsed_s)


def eviction_body(pod: str, namespace: str, group_version: str, uid: str | None) -> dict[str, Any]:
    return {
        "apiVersion": group_version,
        "kind": "Eviction",
        "metadata": {"name": pod, "namespace": namespace},
        "deleteOptions": {"preconditions": {"uid": uid}},
    }


def refusal_message(exc: ApiException) -> str:
    """The API's own message for a refused call (its Status body), else the reason."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or exc.reason or f"HTTP {exc.status}")


@dataclass
class Disruptions:
    """The verbs on one deployed order (``session``), for the backend."""

    api: Api
    session: Session
    policy: str  # the policy group version the server serves (pdb.choose_policy)
    run_id: str
    killer: ContainerKiller | None  # the cluster's, when it can kill containers
    container: str  # the app container's name
    refusal: Callable[[dict[str, Any]], str | None]  # why a pod (as read) is not to be touched

    @property
    def names(self) -> Names:
        return self.session.names

    # ----- delete ------------------------------------------------------------------------------

    def delete_pod(self, name: str, grace_period_s: float | None) -> None:
        """Starts one pod's deletion (see KubeBackend.delete_pod)."""
        session, api = self.session, self.api
        pod = self._owned_pod(name, "delete")
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return  # already on its way out; its first grace period stands
        own_grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        body: dict[str, Any] = {"preconditions": {"uid": meta.get("uid")}}
        detail: dict[str, Any] = {"cause": "delete", "stopped_by": "delete"}
        detail["source"] = "harness_call"
        if grace_period_s is None:
            detail["grace_period_s"] = own_grace
        else:
            sent = max(1, math.ceil(grace_period_s))
            body["gracePeriodSeconds"] = sent
            detail["grace_period_s"] = sent
            if sent != grace_period_s:
                detail["requested_grace_period_s"] = grace_period_s
        with session.lock:
            session.pods.harness_deleting(name)
        delete = api.request(POD, "delete", name, self.names.namespace, body=body)
        started = time.time()

        def attempt() -> dict[str, Any]:
            # The deletion starts when the attempt that succeeds arrives, not the first one:
            # a retried call must not move the deletion earlier than it happened.
            nonlocal started
            started = time.time()
            return dict(delete())

        try:
            answer = api.call(f"delete pod {name}", attempt, NOT_FOUND)
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
        detail["deletion_timestamp"] = (answer.get("metadata") or {}).get("deletionTimestamp")
        session.emit(TimelineEvent(started, EventKind.DELETE_REQUESTED, name, detail))

    # ----- evict -------------------------------------------------------------------------------

    def evict(self, name: str, retry_s: float, timeout_s: float) -> Eviction:
        """Asks for ``name``'s eviction until accepted or ``timeout_s`` ran out (module doc)."""
        if not (retry_s > 0 and math.isfinite(retry_s)) or not (
            timeout_s >= 0 and math.isfinite(timeout_s)
        ):
            raise BackendError(
                f"kube: evict needs retry_s > 0 and timeout_s >= 0, got {retry_s:g}/{timeout_s:g}"
            )
        pod = self._owned_pod(name, "evict")
        uid = (pod.get("metadata") or {}).get("uid")
        body = eviction_body(name, self.names.namespace, self.policy, uid)
        with self.session.lock:
            self.session.pods.harness_evicting(name)
        first = time.monotonic()
        attempts, blocked_at, status, message = 0, None, None, None
        try:
            while True:
                attempts += 1
                status, message = self._post_eviction(name, body)
                if status != BLOCKED:
                    break
                now = time.monotonic()
                blocked_at = now if blocked_at is None else blocked_at
                wait = next_attempt_in(attempts, now - first, retry_s, timeout_s)
                detail: dict[str, Any] = {"status": status, "attempt": attempts}
                detail["message"] = message
                detail["retry_in_s"] = None if wait is None else round(wait, 3)
                self.session.emit(
                    TimelineEvent(time.time(), EventKind.EVICTION_BLOCKED, name, detail)
                )
                if wait is None:
                    break
                time.sleep(wait)
        except BaseException:
            with self.session.lock:
                self.session.pods.harness_delete_failed(name)
            raise
        evicted = status != BLOCKED
        if not evicted or status == 404:
            with self.session.lock:
                self.session.pods.harness_delete_failed(name)
        blocked_s = 0.0 if blocked_at is None else time.monotonic() - blocked_at
        return Eviction(name, evicted, attempts, round(blocked_s, 3), status, message)

    def _post_eviction(self, name: str, body: dict[str, Any]) -> tuple[int, str | None]:
        """One eviction request: (201, None) accepted, (429, why) blocked, (404, why) gone."""
        create = self.api.method(POD, "create", "eviction")
        try:
            raw(
                create,
                name,
                self.names.namespace,
                body,
                _request_timeout=self.api.request_timeout_s,
            )
        except ApiException as exc:
            if exc.status in (BLOCKED, 404):
                return int(exc.status), refusal_message(exc)
            raise BackendError(
                f"kube: cannot evict pod {name}: HTTP {exc.status}: {refusal_message(exc)}"
            ) from None
        except Exception as exc:
            raise retry.api_error(f"evict pod {name}", exc) from None
        return 201, None

    # ----- nodes -------------------------------------------------------------------------------

    def cordon(self, node: str) -> None:
        claim.check_lease(self.session)
        made = nodes.cordon(self.api, node, self.run_id, self.names.namespace)
        with self.session.lock:
            self.session.pods.causes.node_cordoned(node)
        detail = {"node": node, "already_unschedulable": not made}
        self.session.emit(TimelineEvent(time.time(), EventKind.NODE_CORDONED, None, detail))

    def uncordon(self, node: str) -> None:
        if nodes.uncordon(self.api, node, self.run_id):
            self._uncordoned(node)

    def uncordon_all(self) -> None:
        """Every node this run cordoned (teardown); failures are logged, not raised."""
        try:
            for node in nodes.uncordon_run(self.api, self.run_id):
                self._uncordoned(node)
        except BackendError as exc:
            log.warning(
                "kube teardown: cannot uncordon the nodes run %s cordoned: %s", self.run_id, exc
            )

    def _uncordoned(self, node: str) -> None:
        with self.session.lock:
            self.session.pods.causes.node_uncordoned(node)
        detail = {"node": node}
        self.session.emit(TimelineEvent(time.time(), EventKind.NODE_UNCORDONED, None, detail))

    # ----- scale -------------------------------------------------------------------------------

    def scale(self, replicas: int) -> None:
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise BackendError(f"kube: replicas must be a whole number >= 0, got {replicas!r}")
        dep = self._owned_deployment("scaling")
        before = int((dep.get("spec") or {}).get("replicas") or 0)
        with self.session.lock:
            self.session.pods.causes.scaled(before, replicas)
        started = time.time()
        names = self.names
        patch = {"spec": {"replicas": replicas}}
        self.api.patch(DEPLOYMENT, names.deployment, names.namespace, patch, MERGE_PATCH)
        detail = {"from": before, "to": replicas}
        self.session.emit(TimelineEvent(started, EventKind.SCALED, None, detail))

    def patch_deployment(self, patch: dict[str, Any], content_type: str) -> None:
        names = self.names
        self._owned_deployment("restarting")
        self.api.patch(DEPLOYMENT, names.deployment, names.namespace, patch, content_type)

    # ----- crash -------------------------------------------------------------------------------

    def crash(self, name: str) -> None:
        if self.killer is None:
            raise BackendError(CANNOT_CRASH)
        pod = self._owned_pod(name, "crash")
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        found: dict[str, Any] = next(
            (cs for cs in statuses if cs.get("name") == self.container), {}
        )
        container_id = str(found.get("containerID") or "")
        if (found.get("state") or {}).get("running") is None or not container_id:
            raise BackendError(
                f"kube: cannot crash pod {name}: its container {self.container} is not running"
            )
        started = time.time()
        pid = self.killer.kill_container(container_id)
        detail: dict[str, Any] = {"method": METHOD, "container_id": container_id}
        if pid is not None:
            detail["pid"] = pid
        self.session.emit(TimelineEvent(started, EventKind.POD_CRASHED, name, detail))

    # ----- reading what it acts on -------------------------------------------------------------

    def _owned_pod(self, name: str, verb: str) -> dict[str, Any]:
        claim.check_lease(self.session)
        names = self.names
        pod = self.api.read(POD, name, names.namespace)
        if not pod:
            raise BackendError(f"kube: no pod {name!r} in namespace {names.namespace}")
        refused = self.refusal(pod)
        if refused is not None:
            raise BackendError(refused if verb == "delete" else refused.replace("delete", verb, 1))
        return pod

    def _owned_deployment(self, doing: str) -> dict[str, Any]:
        claim.check_lease(self.session)
        names = self.names
        dep = self.api.read(DEPLOYMENT, names.deployment, names.namespace)
        if not dep or not owned(dep, names):
            raise BackendError(
                f"kube: deployment {names.namespace}/{names.deployment} is missing or not the "
                f"harness's; not {doing} it"
            )
        return dep
