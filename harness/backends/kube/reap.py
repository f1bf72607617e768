"""Teardown's waits for pods to go, without waiting on the kubelet's bookkeeping.

A pod the teardown deleted is gone for the API only once its kubelet has reclaimed it, and on
Kubernetes 1.20.0-1.20.2 that waits for the pod's sandbox to be removed, which the kubelet may
leave to its once-a-minute container GC (kubernetes#97288, fixed in 1.20.3). Measured on the
local cluster (v1.20.2), one order's teardown waited 10-50 s for the app's pods and 10-14 s for
the agent's, every container long exited. A terminating pod whose shutdown is over
(``rolloutstatus.shutdown_over``: every container ended, or the grace period ran out) has nothing
left to stop; deleting its object with a grace period of 0, on its UID so that exactly that pod
goes, is what the kubelet does once it has cleaned up, and it still cleans up after. A pod still
shutting down is never touched: its preStop hook and its drain run to their end.

Reaping only saves time, so it is one attempt, never retried: where the API refuses it (no
``delete`` on pods for this user, an API server in trouble), the wait goes on as the kubelet
allows and nothing more is asked of the API for that wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from harness.backends.kube.api import GONE_OR_CHANGED, Api
from harness.backends.kube.kinds import POD
from harness.backends.kube.rolloutstatus import is_terminating, shutdown_over

log = logging.getLogger(__name__)


class Reaper:
    """One gone-wait's reaping. ``gone`` is its check: give it the pods of the harness's own that
    the wait just listed (its label selector, or ``owned``)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.refused: str | None = None  # why the API refused a reap: none is asked again

    def gone(self, pods: Sequence[Mapping[str, Any]]) -> tuple[bool, str]:
        """Done when ``pods`` is empty. Those whose shutdown is over are reaped on the way, so
        the next listing misses them (one that a finalizer keeps is still waited for)."""
        if not pods:
            return True, "none left"
        reaped = self.reap_ended(pods)
        account = f"{len(pods)} left: " + ", ".join(
            str((p.get("metadata") or {}).get("name")) for p in pods
        )
        if reaped:
            account += f" ({reaped} of them ended, their objects removed)"
        return False, account

    def reap_ended(self, pods: Sequence[Mapping[str, Any]]) -> int:
        """Removes the objects of the terminating ``pods`` whose shutdown is over; how many."""
        now = time.time()
        reaped = 0
        for pod in pods:
            meta, over = pod.get("metadata") or {}, is_terminating(pod) and shutdown_over(pod, now)
            if over and meta.get("uid") and not self.refused:
                reaped += self._delete(str(meta.get("name")), meta.get("namespace"), meta["uid"])
        return reaped

    def _delete(self, name: str, namespace: str | None, uid: str) -> bool:
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        try:
            self.api.request(POD, "delete", name, namespace, body=body)()
        except ApiException as exc:
            if exc.status in GONE_OR_CHANGED:
                return False  # already gone, or another pod of that name now
            self._refused(f"HTTP {exc.status} {exc.reason}")
            return False
        except (HTTPError, OSError) as exc:
            self._refused(f"{type(exc).__name__}: {exc}")
            return False
        return True

    def _refused(self, why: str) -> None:
        self.refused = why
        log.info(
            "kube teardown: removing ended pods' objects refused (%s): waiting for the kubelet", why
        )
