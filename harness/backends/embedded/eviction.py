"""The Eviction API on the embedded backend, as `kubectl drain` meets it.

An eviction is accepted when the scenario's ``app.pdb`` allows one more disruption now
(harness.pdb: healthy pods are the ready ones not being deleted, the expected count is the
Deployment's replicas), and then deletes the pod as a delete call does. A refusal is a 429, one
``eviction_blocked`` event, and is retried every ``retry_s`` as `kubectl drain` retries it, until
the next retry would fall past ``timeout_s`` after the first request. A pod already being
deleted is accepted at once (nothing more to do).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from harness.backends.base import EventSink, Eviction
from harness.backends.embedded.pod import Pod
from harness.errors import BackendError
from harness.pdb import REFUSAL_MESSAGE, REFUSAL_STATUS, Pdb, desired_healthy, eviction_allowed
from harness.timeline import EventKind, TimelineEvent

ACCEPTED_STATUS = 201  # the Eviction subresource's answer when it deletes the pod

# Deletes an accepted pod: the ReplicaSets' delete, with what stopped it.
Delete = Callable[[Pod], None]


def healthy_pods(pods: dict[str, Pod]) -> int:
    """The disruption controller's currentHealthy: Ready pods without a deletion timestamp."""
    return sum(1 for p in pods.values() if p.ready and not p.terminating)


def refusal_message(pdb: Pdb, expected: int, healthy: int) -> str:
    return (
        f"{REFUSAL_MESSAGE} The disruption budget needs {desired_healthy(pdb, expected)} "
        f"healthy pods and has {healthy} currently"
    )


async def evict(
    name: str,
    retry_s: float,
    timeout_s: float,
    *,
    pods: dict[str, Pod],
    pdb: Pdb | None,
    expected: Callable[[], int],
    delete: Delete,
    emit: EventSink,
) -> Eviction:
    """Asks until accepted or out of time; BackendError when the pod does not exist."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    attempts, first_refusal, message = 0, None, ""
    while True:
        pod = pods.get(name)
        if pod is None:
            if attempts == 0:
                raise BackendError(f"no pod named {name!r}")
            return Eviction(name, True, attempts, _since(loop, first_refusal), 404, None)
        attempts += 1
        healthy = healthy_pods(pods)
        if pod.terminating or eviction_allowed(pdb, expected(), healthy, pod.ready):
            if not pod.terminating:
                delete(pod)
            return Eviction(
                name, True, attempts, _since(loop, first_refusal), ACCEPTED_STATUS, None
            )
        assert pdb is not None  # without a budget every eviction is accepted
        if first_refusal is None:
            first_refusal = loop.time()
        message = refusal_message(pdb, expected(), healthy)
        retry = loop.time() + retry_s <= deadline
        detail = {
            "status": REFUSAL_STATUS,
            "attempt": attempts,
            "message": message,
            "retry_in_s": retry_s if retry else None,
        }
        emit(TimelineEvent(time.time(), EventKind.EVICTION_BLOCKED, name, detail))
        if not retry:
            return Eviction(
                name, False, attempts, _since(loop, first_refusal), REFUSAL_STATUS, message
            )
        await asyncio.sleep(retry_s)


def _since(loop: asyncio.AbstractEventLoop, start: float | None) -> float:
    return 0.0 if start is None else loop.time() - start
