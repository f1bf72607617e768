"""Teardown's wait for pods to go, without waiting on the kubelet's bookkeeping.

A pod the teardown deleted is gone for the API only once its kubelet has reclaimed it, and on
Kubernetes 1.20.0-1.20.2 that waits for the pod's sandbox to be removed, which the kubelet may
leave to its once-a-minute container GC (kubernetes#97288, fixed in 1.20.3). Measured on the
local cluster (v1.20.2), one order's teardown waited 10-50 s for the app's pods and 10-14 s for
the agent's, every container long exited. A terminating pod whose shutdown is over
(``rolloutstatus.shutdown_over``: every container ended, or the grace period ran out) has nothing
left to stop; deleting its object with a grace period of 0, on its UID so that exactly that pod
goes, is what the kubelet does once it has cleaned up, and it still cleans up after. A pod still
shutting down is never touched: its preStop hook and its drain run to their end.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from harness.backends.kube.api import Api
from harness.backends.kube.kinds import POD
from harness.backends.kube.rolloutstatus import is_terminating, shutdown_over


def reap_ended(api: Api, pods: Sequence[Mapping[str, Any]]) -> int:
    """Removes the objects of the terminating ``pods`` whose shutdown is over; how many.

    The caller lists only pods that are the harness's own (its label selector, or ``owned``)."""
    now = time.time()
    reaped = 0
    for pod in pods:
        meta = pod.get("metadata") or {}
        if is_terminating(pod) and shutdown_over(pod, now) and meta.get("uid"):
            body = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
            api.delete(POD, str(meta.get("name")), meta.get("namespace"), body)
            reaped += 1
    return reaped


def none_left(api: Api, pods: Sequence[Mapping[str, Any]]) -> tuple[bool, str]:
    """A gone-check's answer for ``pods``, the harness's own just listed: done when there are
    none. Those whose shutdown is over are reaped on the way, so the next listing misses them
    (one that a finalizer keeps is still waited for)."""
    if not pods:
        return True, "none left"
    reaped = reap_ended(api, pods)
    account = f"{len(pods)} left: " + ", ".join(
        str((p.get("metadata") or {}).get("name")) for p in pods
    )
    if reaped:
        account += f" ({reaped} of them ended, their objects removed)"
    return False, account
