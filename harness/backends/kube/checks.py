"""What the kube backend waits for, read from the API, and the loop that waits for it.

A check returns ``(done, account)``: whether the condition holds, and a few words on where things
stand, which a timeout quotes. Pods are listed through the harness's labels and kept only if
they carry every one of them (objects.owned). The checks block; the backend runs them in threads.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.backends.base import PodInfo, Target
from harness.backends.kube import readiness, reap, retry
from harness.backends.kube.api import Api
from harness.backends.kube.kinds import DEPLOYMENT, EVENT, NAMESPACE, POD, SERVICE_ACCOUNT
from harness.backends.kube.objects import Names, owned
from harness.backends.kube.rolloutstatus import (
    is_ready,
    is_terminating,
    rollout_state,
    settled_state,
    stuck_reason,
)
from harness.backends.kube.stamps import parse_time
from harness.errors import BackendError

POLL_S = 0.25  # how often waits re-check the API
Check = Callable[[], tuple[bool, str]]


@dataclass(frozen=True, slots=True)
class Patience:
    """How long the backend keeps trying: each API call (retry.py), and each wait, in seconds."""

    policy: retry.RetryPolicy = retry.DEFAULT_POLICY
    deploy_s: float = 300.0  # every replica Ready and the Service answering
    rollout_s: float = 600.0  # a rolling restart rolled out
    # Pods and namespace gone (teardown only warns); leftovers swept. Kubernetes 1.20.0-1.20.2's
    # kubelet takes up to a minute more than the grace period to remove a pod (kubernetes#97288;
    # rolloutstatus.py): 60 s was too short for the agent's pods (grace period 1 s) in CI. The
    # gone-waits reap pods whose shutdown is over (reap.py), so this bounds a shutdown that runs.
    teardown_s: float = 180.0
    # How long every pod may run unready before the deploy gives up on its readiness probe
    # (after the probe's initial delay and any startup probe's allowance; readiness.py).
    readiness_s: float = 60.0


DEFAULT_PATIENCE = Patience()


def wait_until(what: str, timeout_s: float, check: Check) -> None:
    """Re-checks every POLL_S until ``check`` is done; BackendError quoting it after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, account = check()
        if done:
            return
        if time.monotonic() >= deadline:
            raise BackendError(f"kube: {what} not done after {timeout_s:g} s: {account}")
        time.sleep(POLL_S)


def owned_pods(api: Api, names: Names) -> list[dict[str, Any]]:
    """The order's pods (terminating ones included), as the API lists them."""
    body = api.list(POD, names.namespace, label_selector=names.selector)
    return [p for p in body.get("items") or [] if owned(p, names)]


def pod_infos(api: Api, names: Names) -> list[PodInfo]:
    """The order's pods (terminating ones included), oldest first."""
    infos = [
        PodInfo(
            name=str((pod.get("metadata") or {}).get("name")),
            ready=is_ready(pod),
            terminating=is_terminating(pod),
            created=parse_time((pod.get("metadata") or {}).get("creationTimestamp")),
            node=(pod.get("spec") or {}).get("nodeName"),
        )
        for pod in owned_pods(api, names)
    ]
    return sorted(infos, key=lambda p: (p.created or 0.0, p.name))


def rolled_out(api: Api, names: Names, image: str) -> tuple[bool, str]:
    """Whether the Deployment is rolled out; BackendError at once if a pod is stuck for good."""
    dep = api.read(DEPLOYMENT, names.deployment, names.namespace)
    if not dep:
        raise BackendError(f"kube: deployment {names.namespace}/{names.deployment} is gone")
    done, account = rollout_state(dep)
    if not done:
        for pod in owned_pods(api, names):
            reason = stuck_reason(pod, image)
            if reason is not None:
                raise BackendError(f"kube: {reason}")
    return done, account


def ready_in_time(
    api: Api, names: Names, container: Mapping[str, Any], readiness_s: float
) -> tuple[bool, str]:
    """Rolled out (running ``container``'s image); BackendError saying what the readiness probes
    answered once every pod has run unready for longer than its probe can take to pass
    (readiness.py)."""
    done, account = rolled_out(api, names, str(container.get("image")))
    if done:
        return done, account
    pods = [p for p in owned_pods(api, names) if not is_terminating(p)]
    patience = readiness.probe_patience_s(container, readiness_s)
    unready = readiness.never_ready(pods, time.time(), patience)
    if unready is None:
        return done, account
    events = api.list(EVENT, names.namespace).get("items") or []
    answers = readiness.last_answers(events, unready)
    line = readiness.failure_line(readiness.readiness_path(container), unready, answers)
    raise BackendError(f"kube: {line}")


def settled(api: Api, names: Names, image: str, replicas: int) -> tuple[bool, str]:
    """Rolled out, no pod of the order terminating, and every replica Ready."""
    done, account = rolled_out(api, names, image)
    if not done:
        return done, account
    return settled_state(owned_pods(api, names), replicas, time.time())


def no_pods_left(api: Api, names: Names, reaper: reap.Reaper) -> tuple[bool, str]:
    return reaper.gone(owned_pods(api, names))


def namespace_gone(api: Api, namespace: str) -> tuple[bool, str]:
    existing = api.read(NAMESPACE, namespace)
    return not existing, "still terminating" if existing else "gone"


def namespace_usable(api: Api, namespace: str, server_minor: int | None) -> tuple[bool, str]:
    """Pods are admitted once the default service account exists (and, before 1.24, its
    token secret: the admission plugin refuses pods until the token controller made it)."""
    sa = api.read(SERVICE_ACCOUNT, "default", namespace)
    if not sa:
        return False, "no default service account yet"
    needs_secret = server_minor is not None and server_minor < 24
    if needs_secret and not sa.get("secrets"):
        return False, "default service account has no token yet"
    return True, "ready"


def answers(target: Target, path: str) -> tuple[bool, str]:
    """Whether the Service answers ``path`` at the target as a kubelet probe passes (200-399),
    as the load will reach it."""
    conn = http.client.HTTPConnection(target.host, target.port, timeout=2.0)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        status = conn.getresponse().status
    except OSError as exc:
        return False, f"not answering ({exc.strerror or exc})"
    finally:
        conn.close()
    return 200 <= status < 400, f"answered HTTP {status}"
