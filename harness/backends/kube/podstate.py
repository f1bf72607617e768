"""Pod objects, as a watch delivers them, → the pod lifecycle events of the timeline.

Pure: feed it each version of each pod with the time it arrived; it remembers what it has
already reported, so a repeated or relisted version reports nothing twice. Which field feeds
which event (times per stamps.py):

============================  ==================================================================
pod_created                   first sight of the pod; ``metadata.creationTimestamp``
pod_scheduled                 condition ``PodScheduled`` True; its ``lastTransitionTime``
pod_network_ready             condition ``PodReadyToStartContainers`` (or its 1.25-1.27 name
                              ``PodHasNetwork``) True, its ``lastTransitionTime``, on clusters
                              that report it; otherwise (v1.20 has neither) the first version
                              that carries ``status.podIP``, at its arrival time: the kubelet
                              reports the IP once the sandbox and its network are up (never
                              later than a container start reported with it: that came after)
pod_container_started         ``containerStatuses[].state.running.startedAt``, once per
                              container instance (``containerID``)
pod_ready / pod_not_ready     condition ``Ready`` turning True / turning False after True;
                              its ``lastTransitionTime``
delete_requested              only for deletions the harness did not make itself (evictions,
                              scale-downs, rollouts, others'; ``stopped_by``: stopcause.py):
                              first version with ``deletionTimestamp``; the request time is
                              ``deletionTimestamp - deletionGracePeriodSeconds`` (the API sets
                              the timestamp to the end of the grace period). The harness's own
                              delete calls are stamped by the backend at the call.
container_restarted           ``restartCount`` rose; the new instance's ``startedAt``
exited                        ``state.terminated`` (or ``lastState.terminated`` after a restart):
                              ``exitCode``, ``reason``; ``finishedAt``. With reason
                              ``ContainerStatusUnknown`` the kubelet made the state up (code 137,
                              no finishedAt): code is None then, the time is the arrival.
                              ``ended_by`` reads the code: "exit" (below 128: the process exited
                              by itself), "signal" (128 + n: signal n ended it, ``signal_name``;
                              143 is SIGTERM's default action, an app with no handler),
                              "sigkill" (137), "oom_killed" (137 with reason ``OOMKilled``),
                              "unknown"
killed                        the same, when ``exitCode`` is 137 (128 + SIGKILL), real and not
                              the OOM killer's: the kubelet's kill at the end of the grace
                              period; ``grace_deadline``: the pod's ``deletionTimestamp`` (the end
                              of that period) when it was being deleted
============================  ==================================================================

``sigterm_due`` answers, for a pod whose preStop hook is a plain sleep (``exec`` of ``sleep N``,
directly or through ``sh -c``, or the ``sleep`` action), when the kubelet's rules send SIGTERM
once the hook started: start + N, or the end of the grace period (``deletionTimestamp``) if that
comes first (the kubelet runs the hook for at most the grace period). Any other hook takes a time
nobody can know from outside, so there is no answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.backends.kube.stamps import parse_time, stamp, stamp_time
from harness.backends.kube.stopcause import StopCauses, template_hash
from harness.backends.kube.termination import ended_by, prestop_sleep_s, prestops
from harness.timeline import EventKind, TimelineEvent

# A terminated state the kubelet reports when it could not find the container any more (seen on
# v1.20 when a deleted pod's container had already been removed): exitCode 137 with this reason,
# no finishedAt. It says the container is gone, not how it ended.
UNKNOWN_END_REASONS = frozenset({"ContainerStatusUnknown"})
NETWORK_CONDITIONS = ("PodReadyToStartContainers", "PodHasNetwork")


@dataclass(frozen=True, slots=True)
class LogTarget:
    """A container instance whose log should be followed (it is running or has run)."""

    pod: str
    container: str
    container_id: str


@dataclass
class Update:
    events: list[TimelineEvent] = field(default_factory=list)
    follow: list[LogTarget] = field(default_factory=list)


@dataclass
class _Pod:
    has_prestop: bool = False
    prestop_sleep_s: float | None = None  # the hook's duration, when it is a plain sleep
    grace_deadline: str | None = None  # metadata.deletionTimestamp, once deleted
    scheduled: bool = False
    network: bool = False
    ready: bool | None = None
    deleting: bool = False
    started: set[str] = field(default_factory=set)  # container IDs reported started
    ended: set[str] = field(default_factory=set)  # container IDs reported terminated
    followed: set[str] = field(default_factory=set)
    running: dict[str, str] = field(default_factory=dict)  # container → current container ID
    restarts: dict[str, int] = field(default_factory=dict)  # container → its restartCount
    node: str | None = None  # spec.nodeName, once scheduled
    replaces: str | None = None
    gone: bool = False


def _conditions(pod: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    status = pod.get("status") or {}
    return {c.get("type", ""): c for c in status.get("conditions") or []}


class PodTracker:
    """Remembers every pod it has seen and turns each new version into timeline events."""

    def __init__(self) -> None:
        self._pods: dict[str, _Pod] = {}
        self._harness_deletes: set[str] = set()
        self._awaiting_successor: list[str] = []
        self.causes = StopCauses()  # what the harness did: why pods go that it did not delete

    # ----- what the backend tells it ------------------------------------------------------------

    def harness_deleting(self, name: str) -> None:
        """The harness is about to delete ``name``: its delete call is the delete_requested."""
        self._harness_deletes.add(name)
        # The ReplicaSet makes one new pod per deleted one: the next new pod replaces this one.
        self._awaiting_successor.append(name)

    def harness_delete_failed(self, name: str) -> None:
        """The harness's delete or eviction of ``name`` did not happen."""
        self._harness_deletes.discard(name)
        self.causes.eviction_failed(name)
        if name in self._awaiting_successor:
            self._awaiting_successor.remove(name)

    def harness_evicting(self, name: str) -> None:
        """The harness asks for ``name``'s eviction; the ReplicaSet will replace it."""
        self.causes.evicting_pod(name)
        self._awaiting_successor.append(name)

    # ----- what it answers ---------------------------------------------------------------------

    def known(self, name: str) -> bool:
        return name in self._pods

    def has_prestop(self, name: str) -> bool | None:
        pod = self._pods.get(name)
        return None if pod is None else pod.has_prestop

    def sigterm_due(self, name: str, hook_started: float) -> tuple[float, dict[str, Any]] | None:
        """When SIGTERM is due for ``name`` whose preStop hook started at ``hook_started``, and
        how that was derived; None unless the hook is a plain sleep (see the module doc)."""
        pod = self._pods.get(name)
        if pod is None or pod.prestop_sleep_s is None:
            return None
        due = hook_started + pod.prestop_sleep_s
        detail: dict[str, Any] = {
            "derived_from": f"preStop started + its sleep of {pod.prestop_sleep_s:g} s",
            "prestop_sleep_s": pod.prestop_sleep_s,
            "capped_by_grace": False,
        }
        deadline = parse_time(pod.grace_deadline) if pod.grace_deadline else None
        if deadline is not None:
            detail["grace_deadline"] = pod.grace_deadline
            if deadline < due:
                due = deadline
                detail["capped_by_grace"] = True
                detail["derived_from"] = "the end of the grace period (metadata.deletionTimestamp)"
        return due, detail

    def running_instance(self, name: str, container: str) -> str | None:
        """The container ID currently running in ``name``'s ``container``, if any."""
        pod = self._pods.get(name)
        if pod is None or pod.gone:
            return None
        return pod.running.get(container)

    # ----- the pod versions --------------------------------------------------------------------

    def observe(self, obj: Mapping[str, Any], observed: float, live: bool) -> Update:
        """One version of one pod; ``live``: seen as a change by a running watch."""
        meta = obj.get("metadata") or {}
        name = str(meta.get("name") or "")
        update = Update()
        if not name:
            return update
        pod = self._pods.get(name)
        if pod is None:
            pod = self._first_sight(name, obj, observed, live, update)
        pod.node = (obj.get("spec") or {}).get("nodeName") or pod.node  # drain: stopcause.py
        if not meta.get("deletionTimestamp"):
            self.causes.pod_seen(template_hash(meta), parse_time(meta.get("creationTimestamp")))
        self._scheduled(name, pod, obj, observed, live, update)
        self._network(name, pod, obj, observed, live, update)
        self._containers(name, pod, obj, observed, live, update)
        self._readiness(name, pod, obj, observed, live, update)
        self._deletion(name, pod, meta, observed, live, update)
        return update

    def gone(self, obj: Mapping[str, Any]) -> None:
        """The pod object was removed from the API."""
        name = str((obj.get("metadata") or {}).get("name") or "")
        pod = self._pods.get(name)
        if pod is not None:
            pod.gone = True
            pod.running.clear()

    def forget_missing(self, present: set[str]) -> None:
        """After a relist: the pods not listed are gone."""
        for name, pod in self._pods.items():
            if name not in present:
                pod.gone = True
                pod.running.clear()

    # ----- one step each -----------------------------------------------------------------------

    def _first_sight(
        self, name: str, obj: Mapping[str, Any], observed: float, live: bool, update: Update
    ) -> _Pod:
        meta = obj.get("metadata") or {}
        hooks = prestops(obj)
        sleeps = {prestop_sleep_s(h) for h in hooks}
        # One container with a plain sleep: its duration. Several hooks: SIGTERM goes to each
        # container after its own, so no one moment is known.
        sleep = sleeps.pop() if len(hooks) == 1 and len(sleeps) == 1 else None
        pod = _Pod(has_prestop=bool(hooks), prestop_sleep_s=sleep)
        self._pods[name] = pod
        if live and self._awaiting_successor and not meta.get("deletionTimestamp"):
            pod.replaces = self._awaiting_successor.pop(0)
        ts, detail = stamp(meta.get("creationTimestamp"), observed, live)
        update.events.append(TimelineEvent(ts, EventKind.POD_CREATED, name, detail))
        return pod

    def _scheduled(
        self, name: str, pod: _Pod, obj: Mapping[str, Any], observed: float, live: bool, u: Update
    ) -> None:
        cond = _conditions(obj).get("PodScheduled")
        if pod.scheduled or cond is None or cond.get("status") != "True":
            return
        pod.scheduled = True
        ts, detail = stamp(cond.get("lastTransitionTime"), observed, live)
        node = (obj.get("spec") or {}).get("nodeName")
        detail.update(field="PodScheduled", node=node)
        u.events.append(TimelineEvent(ts, EventKind.POD_SCHEDULED, name, detail))

    def _network(
        self, name: str, pod: _Pod, obj: Mapping[str, Any], observed: float, live: bool, u: Update
    ) -> None:
        if pod.network:
            return
        conditions = _conditions(obj)
        reported = [conditions[t] for t in NETWORK_CONDITIONS if t in conditions]
        if reported:
            cond = reported[0]
            if cond.get("status") != "True":
                return
            ts, detail = stamp(cond.get("lastTransitionTime"), observed, live)
            detail["field"] = cond.get("type")
        else:
            ip = (obj.get("status") or {}).get("podIP")
            if not ip:
                return
            ts, detail = observed, {"source": "watch", "observed": round(observed, 6)}
            detail.update(field="status.podIP", ip=ip)
            # v1.20 reports the IP in the same update as a started container; the sandbox's
            # network came first, so that start (if its bound is tighter) bounds this too.
            starts = [
                stamp(
                    ((cs.get("state") or {}).get("running") or {}).get("startedAt"), observed, live
                )
                for cs in (obj.get("status") or {}).get("containerStatuses") or []
                if (cs.get("state") or {}).get("running")
            ]
            earliest = min((s[0] for s in starts), default=observed)
            if earliest < ts:
                ts = earliest
                detail["bounded_by"] = "pod_container_started"
        pod.network = True
        u.events.append(TimelineEvent(ts, EventKind.POD_NETWORK_READY, name, detail))

    def _containers(
        self, name: str, pod: _Pod, obj: Mapping[str, Any], observed: float, live: bool, u: Update
    ) -> None:
        status = obj.get("status") or {}
        meta = obj.get("metadata") or {}
        deletion_grace = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp"):
            pod.grace_deadline = str(meta["deletionTimestamp"])
        for cs in status.get("containerStatuses") or []:
            container = str(cs.get("name") or "")
            restarts = int(cs.get("restartCount") or 0)
            # The instance before a restart: its end is only in lastState.
            last = (cs.get("lastState") or {}).get("terminated")
            if last:
                self._ended(name, pod, container, last, restarts - 1, observed, live, u, None)
            state = cs.get("state") or {}
            running = state.get("running")
            terminated = state.get("terminated")
            cid = str(cs.get("containerID") or "")
            before = pod.restarts.get(container)
            pod.restarts[container] = max(restarts, before or 0)
            if before is not None and restarts > before:  # restarts before the run are no news
                ts, detail = stamp((running or {}).get("startedAt"), observed, live)
                detail.update(container=container, restart_count=restarts)
                u.events.append(TimelineEvent(ts, EventKind.CONTAINER_RESTARTED, name, detail))
            if running is not None and cid:
                pod.running[container] = cid
                if cid not in pod.started:
                    pod.started.add(cid)
                    ts, detail = stamp(running.get("startedAt"), observed, live)
                    detail.update(container=container, restart_count=restarts, container_id=cid)
                    u.events.append(
                        TimelineEvent(ts, EventKind.POD_CONTAINER_STARTED, name, detail)
                    )
            if terminated is not None:
                pod.running.pop(container, None)
                self._ended(
                    name, pod, container, terminated, restarts, observed, live, u, deletion_grace
                )
            if (running is not None or terminated is not None) and cid and cid not in pod.followed:
                pod.followed.add(cid)
                u.follow.append(LogTarget(name, container, cid))

    def _ended(
        self,
        name: str,
        pod: _Pod,
        container: str,
        terminated: Mapping[str, Any],
        restarts: int,
        observed: float,
        live: bool,
        u: Update,
        deletion_grace: Any,
    ) -> None:
        cid = str(terminated.get("containerID") or f"{container}#{restarts}")
        if cid in pod.ended:
            return
        pod.ended.add(cid)
        code = terminated.get("exitCode")
        reason = terminated.get("reason")
        ts, detail = stamp(terminated.get("finishedAt"), observed, live)
        detail.update(container=container, code=code, reason=reason, restart_count=max(0, restarts))
        if reason in UNKNOWN_END_REASONS:
            # Made up by the kubelet, not seen: the code it gives (137) is not the exit code.
            detail.update(code=None, reported_code=code, message=terminated.get("message"))
        if terminated.get("signal"):
            detail["signal"] = terminated.get("signal")
        detail.update(ended_by(detail["code"], reason))
        u.events.append(TimelineEvent(ts, EventKind.EXITED, name, detail))
        if detail["ended_by"] == "sigkill":
            killed = dict(detail)
            if deletion_grace is not None:
                killed["grace_period_s"] = deletion_grace
            if pod.grace_deadline is not None:
                killed["grace_deadline"] = pod.grace_deadline
            u.events.append(TimelineEvent(ts, EventKind.KILLED, name, killed))

    def _readiness(
        self, name: str, pod: _Pod, obj: Mapping[str, Any], observed: float, live: bool, u: Update
    ) -> None:
        cond = _conditions(obj).get("Ready")
        if cond is None:
            return
        ready = cond.get("status") == "True"
        previous, pod.ready = pod.ready, ready
        if ready == bool(previous):
            return  # no change, or not ready from the start (nothing to report yet)
        ts, detail = stamp(cond.get("lastTransitionTime"), observed, live)
        detail["field"] = "Ready"
        if ready:
            if pod.replaces is not None:
                detail["replaces"] = pod.replaces
            u.events.append(TimelineEvent(ts, EventKind.POD_READY, name, detail))
        else:
            detail.update(reason=cond.get("reason"), message=cond.get("message"))
            u.events.append(TimelineEvent(ts, EventKind.POD_NOT_READY, name, detail))

    def _deletion(
        self,
        name: str,
        pod: _Pod,
        meta: Mapping[str, Any],
        observed: float,
        live: bool,
        u: Update,
    ) -> None:
        deletion = meta.get("deletionTimestamp")
        if pod.deleting or not deletion:
            return
        pod.deleting = True
        if name in self._harness_deletes:
            return  # the backend stamped it at the call
        grace = meta.get("deletionGracePeriodSeconds")
        end = parse_time(deletion)
        requested = end - float(grace) if end is not None and grace is not None else None
        ts, detail = stamp_time(requested, False, observed, live)
        detail.update(
            field="metadata.deletionTimestamp",
            deletion_timestamp=deletion,
            grace_period_s=grace,
            cause="not_the_harness",
            stopped_by=self.causes.stopped_by(name, pod.node, template_hash(meta)),
        )
        u.events.append(TimelineEvent(ts, EventKind.DELETE_REQUESTED, name, detail))
