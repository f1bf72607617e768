"""The Deployment's ReplicaSets: each revision's desired pod count, kept by creating and deleting.

Revision 0 is the deploy's ReplicaSet; each rolling restart adds the next one and moves the
counts step by step with the Deployment controller's arithmetic (rollingupdate.py). A deleted
pod is replaced at once by its ReplicaSet, and its successor records which pod it replaces.
While the node is cordoned new pods stay unscheduled (Pending, no container) until it is
uncordoned. A scale-down deletes the pods the controller ranks first (victims.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.backends.base import DeploySpec, EventSink
from harness.backends.embedded.addresses import next_pod_host
from harness.backends.embedded.kubelet import Kubelet
from harness.backends.embedded.pod import Pod, PodNames
from harness.backends.embedded.rollingupdate import ReplicaSetState, rollout_step
from harness.backends.embedded.victims import pods_to_delete
from harness.timeline import EventKind, TimelineEvent

# Sleeps until the next change; raises once the deadline (monotonic) has passed or the
# Deployment is gone. Its second argument names the wait in that error.
WaitChange = Callable[[float, str], Awaitable[None]]

NODE = "embedded"  # the one node every embedded pod runs on


class ReplicaSets:
    """The ReplicaSet controller and the Deployment controller of one deployed Deployment."""

    def __init__(
        self,
        spec: DeploySpec,
        pods: dict[str, Pod],
        names: PodNames,
        kubelet: Kubelet,
        *,
        emit: EventSink,
        notify: Callable[[], None],
        wait_change: WaitChange,
    ) -> None:
        self._spec = spec
        self._pods = pods  # in creation order
        self._names = names
        self._kubelet = kubelet
        self._emit = emit
        self._notify = notify
        self._wait_change = wait_change
        self._desired: dict[int, int] = {}  # revision → .spec.replicas
        self._revision = 0
        self._replaces: dict[int, list[str]] = {}  # revision → deleted pods awaiting a successor
        self._closed = False
        self.replicas = spec.replicas  # the Deployment's .spec.replicas, changed by scale
        self.schedulable = True  # False: the one node is cordoned

    def close(self) -> None:
        """The Deployment is torn down: a rolling restart that is still waiting ends."""
        self._closed = True

    def create(self) -> None:
        """The deploy: the first ReplicaSet, with ``spec.replicas`` pods."""
        self._desired[0] = self.replicas
        self.reconcile()

    def delete_pod(
        self, pod: Pod, grace_period_s: float | None, stopped_by: str = "delete"
    ) -> None:
        """The delete call: the kubelet kills ``pod``, and its ReplicaSet creates a successor."""
        self._kubelet.delete(pod, grace_period_s, cause="delete", stopped_by=stopped_by)
        self._replaces.setdefault(pod.revision, []).append(pod.name)
        self.reconcile()

    def reconcile(self) -> None:
        """Each ReplicaSet's pods to its desired count: create at once, delete the surplus."""
        for rev in sorted(set(self._desired) | {p.revision for p in self._pods.values()}):
            want = self._desired.get(rev, 0)
            live = self._live(rev)
            successors = self._replaces.pop(rev, [])
            for _ in range(want - len(live)):
                self._create_pod(rev, successors.pop(0) if successors else None)
            for pod in pods_to_delete(live, len(live) - want):
                stopped_by = "rollout" if rev != self._revision else "scale_down"
                self._kubelet.delete(pod, None, cause="scale_down", stopped_by=stopped_by)
        self._notify()

    def scale(self, replicas: int) -> int:
        """Sets the Deployment's replicas (its newest ReplicaSet's); returns the old count."""
        before, self.replicas = self.replicas, replicas
        self._desired[self._revision] = max(
            0, self._desired.get(self._revision, 0) + replicas - before
        )
        self.reconcile()
        return before

    def set_schedulable(self, schedulable: bool) -> None:
        """Cordon (False) or uncordon (True) the node; uncordoning starts the waiting pods."""
        self.schedulable = schedulable
        if schedulable:
            for pod in list(self._pods.values()):
                if pod.node is None and not pod.terminating:
                    self._start(pod)
        self._notify()

    def _start(self, pod: Pod) -> None:
        pod.node = NODE
        self._emit(TimelineEvent(time.time(), EventKind.POD_SCHEDULED, pod.name, {"node": NODE}))
        self._kubelet.run(pod)

    @property
    def settled(self) -> bool:
        """One ReplicaSet, the newest, with all its replicas ready and no other pod left."""
        pods = list(self._pods.values())
        return (
            len(self._desired) == 1
            and len(pods) == self.replicas
            and all(p.ready and not p.terminating and p.revision == self._revision for p in pods)
        )

    async def rolling_restart(self, surge: int, unavailable: int, timeout_s: float) -> None:
        """Replaces every pod; returns when the rollout is done or a newer one supersedes it.

        ``surge`` and ``unavailable`` are maxSurge and maxUnavailable as pod counts.
        """
        replicas = self.replicas
        self._revision += 1
        rev = self._revision
        self._desired[rev] = 0
        deadline = time.monotonic() + timeout_s
        while self._revision == rev and not self._closed:
            olds = sorted(r for r in self._desired if r != rev)
            new_desired, old_desired = rollout_step(
                replicas,
                surge,
                unavailable,
                ReplicaSetState(self._desired[rev], self._available(rev)),
                [ReplicaSetState(self._desired[r], self._available(r)) for r in olds],
            )
            before = dict(self._desired)
            self._desired[rev] = new_desired
            for r, want in zip(olds, old_desired, strict=True):
                self._desired[r] = want
            self.reconcile()
            for r in olds:
                if self._desired[r] == 0 and not self._live(r):
                    del self._desired[r]
            if len(self._desired) == 1 and self._available(rev) == replicas:
                return
            if self._desired == before:
                # Nothing to do until a pod becomes ready or goes; a change syncs again at once,
                # as the controller resyncs on its own ReplicaSets' updates.
                await self._wait_change(deadline, "rolling restart")

    def _live(self, rev: int) -> list[Pod]:
        return [p for p in self._pods.values() if p.revision == rev and not p.terminating]

    def _available(self, rev: int) -> int:
        return sum(1 for p in self._live(rev) if p.ready)

    def _create_pod(self, rev: int, replaces: str | None) -> None:
        pod = Pod(self._names.next(self._spec.variant), rev, time.time(), next_pod_host(), replaces)
        self._pods[pod.name] = pod
        detail: dict[str, Any] = {"revision": rev}
        if replaces is not None:
            detail["replaces"] = replaces
        self._emit(TimelineEvent(pod.created, EventKind.POD_CREATED, pod.name, detail))
        if self.schedulable:
            self._start(pod)
