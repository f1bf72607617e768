"""Is the Deployment rolled out, are its pods settled, and is a pod stuck? Pure checks.

Rolled out is what ``kubectl rollout status`` waits for: the controller has seen the latest
spec (``observedGeneration``), every replica runs the latest template (``updatedReplicas``), no
old replica is left (``replicas``) and all are available. Settled adds: every pod is Ready and
no pod of the order is still shutting down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.backends.kube.stamps import parse_time

# Waiting reasons that will not fix themselves within a run: fail at once, with the reason.
STUCK_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
_IMAGE_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"})
# After a pod's deletionTimestamp (the delete + its grace period) the kubelet sends SIGKILL; the
# slack covers the kubelet's own lag in seeing the deletion and the API's 1 s timestamps.
KILL_SLACK_S = 5.0


def rollout_state(deployment: Mapping[str, Any]) -> tuple[bool, str]:
    """(rolled out, a short account like ``2 of 3 updated, 1 available``)."""
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    meta = deployment.get("metadata") or {}
    replicas = spec.get("replicas")
    want = int(replicas) if replicas is not None else 1
    generation = int(meta.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    done = (
        observed >= generation
        and updated == want
        and total == want
        and available == want
        and ready == want
    )
    account = (
        f"{updated} of {want} updated, {ready} ready, {available} available, {total} in all"
        + ("" if observed >= generation else ", spec change not yet seen by the controller")
    )
    return done, account


def is_ready(pod: Mapping[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def has_ended(pod: Mapping[str, Any]) -> bool:
    """Every container of the pod has terminated (the kubelet reported it): its shutdown is over,
    whether or not the API object is gone yet."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all((cs.get("state") or {}).get("terminated") for cs in statuses)


def past_deadline(pod: Mapping[str, Any], now: float) -> bool:
    """The pod's grace period ran out more than ``KILL_SLACK_S`` ago: by the kubelet's contract
    its containers have been killed, whatever its status still says."""
    deadline = parse_time((pod.get("metadata") or {}).get("deletionTimestamp"))
    return deadline is not None and now > deadline + KILL_SLACK_S


def shutdown_over(pod: Mapping[str, Any], now: float) -> bool:
    """The pod's shutdown, which is what a run measures, is over: the kubelet reported all its
    containers ended, or its grace period ran out (``past_deadline``)."""
    return has_ended(pod) or past_deadline(pod, now)


def settled_state(pods: Sequence[Mapping[str, Any]], replicas: int, now: float) -> tuple[bool, str]:
    """(settled, account): exactly ``replicas`` live pods, all Ready, and every terminating pod's
    shutdown over.

    A terminating pod counts once its shutdown is over (``shutdown_over``). Its API object
    goes when the kubelet has reclaimed it, and on Kubernetes 1.20 that waits for the pod's
    sandbox to be removed, which the kubelet may leave to its once-a-minute container GC
    (kubernetes#92817, #97288): measured on the local cluster, a pod whose container exited at
    12:28:34 was removed at 12:29:40.8. The same regression leaves the status itself behind: in a
    CI run a drained pod whose app had logged its exit 1 s after the drain still counted as
    running 60 s later, its grace period (30 s) long over.
    """
    terminating = [p for p in pods if is_terminating(p)]
    running_down = sum(1 for p in terminating if not shutdown_over(p, now))
    live = [p for p in pods if not is_terminating(p)]
    ready = sum(1 for p in live if is_ready(p))
    done = running_down == 0 and len(live) == replicas and ready == replicas
    ended = len(terminating) - running_down
    account = f"{ready} of {replicas} ready, {len(live)} running, {running_down} terminating"
    if ended:
        account += f" ({ended} more ended or past their grace period, awaiting the kubelet)"
    return done, account


def stuck_reason(pod: Mapping[str, Any], image: str) -> str | None:
    """A one-line reason when a pod cannot start and will not on its own, else None."""
    name = (pod.get("metadata") or {}).get("name", "?")
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason not in STUCK_REASONS:
            continue
        message = " ".join(str(waiting.get("message") or "").split())[:200]
        text = f"pod {name}: {reason}" + (f": {message}" if message else "")
        if reason in _IMAGE_REASONS:
            text += (
                f" (is {image} loaded into the cluster's nodes? kind: `kind load docker-image "
                f"{image} --name <cluster>`; the local cluster imports it itself)"
            )
        if reason == "CrashLoopBackOff":
            last = (cs.get("lastState") or {}).get("terminated") or {}
            if last:
                text += f" (last exit code {last.get('exitCode')}, {last.get('reason')})"
        return text
    return None
