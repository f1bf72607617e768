"""What the kube backend waits for, read from the API, and the loop that waits for it.

A check returns ``(done, account)``: whether the condition holds, and a few words on where things
stand, which a timeout quotes. Pods are listed through the harness's labels and kept only if
they carry every one of them (objects.owned). The checks block; the backend runs them in threads.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from typing import Any

from harness.backends.base import Target
from harness.backends.kube.api import Api
from harness.backends.kube.kinds import DEPLOYMENT, NAMESPACE, POD, SERVICE_ACCOUNT
from harness.backends.kube.objects import Names, owned
from harness.backends.kube.rolloutstatus import rollout_state, settled_state, stuck_reason
from harness.errors import BackendError

POLL_S = 0.25  # how often waits re-check the API
Check = Callable[[], tuple[bool, str]]


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


def settled(api: Api, names: Names, image: str, replicas: int) -> tuple[bool, str]:
    """Rolled out, no pod of the order terminating, and every replica Ready."""
    done, account = rolled_out(api, names, image)
    if not done:
        return done, account
    return settled_state(owned_pods(api, names), replicas)


def no_pods_left(api: Api, names: Names) -> tuple[bool, str]:
    left = owned_pods(api, names)
    return not left, f"{len(left)} pods left"


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
