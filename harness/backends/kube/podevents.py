"""Kubernetes Events about the harness's pods → timeline events.

The kubelet reports what it does to a pod as core/v1 Events. The ones kept:

- every Event with a reason in :data:`KEPT` becomes ``kube_event`` (detail: reason, message,
  count, the reporting component);
- ``Killing`` ("Stopping container app") is recorded by the kubelet right before it runs the
  container's preStop hook, or, without a hook, right before it sends SIGTERM (kubelet
  ``killContainer``: event, then hook, then StopContainer). So a pod's first ``Killing`` also
  gives ``prestop_started`` when the pod has a preStop hook, else ``sigterm_sent`` (source
  ``kube_event``). Its time is an upper bound (stamps.py): the Event's ``eventTime`` when set
  (microseconds), else ``lastTimestamp`` (whole seconds) against the watch arrival.
- With a preStop hook, no Event says when the hook ended and SIGTERM followed. When the hook is
  a plain sleep, ``sigterm_due`` (podstate.py) gives the moment the kubelet's rules send it at,
  from that start; it becomes ``sigterm_due`` (derived, marked as such in its detail).
- ``FailedPreStopHook`` also gives ``prestop_ended`` with ``failed: true``.

Events name pods but do not carry their labels, so only Events about pods the pod watch has
seen (the harness's labelled pods) are kept. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.backends.kube.stamps import has_fraction, stamp
from harness.timeline import EventKind, TimelineEvent

# (pod name, when its preStop hook started) → (when SIGTERM was due, how that was derived)
SigtermDue = Callable[[str, float], tuple[float, dict[str, Any]] | None]

KEPT = frozenset(
    {
        "Killing",
        "FailedPreStopHook",
        "FailedPostStartHook",
        "Unhealthy",
        "ExceededGracePeriod",
        "FailedKillPod",
        "BackOff",
        "Failed",
        "ErrImageNeverPull",
    }
)


class EventTracker:
    """Reports each Event once per new ``count`` (the kubelet folds repeats into one Event)."""

    def __init__(
        self,
        has_prestop: Callable[[str], bool | None],
        sigterm_due: SigtermDue | None = None,
    ) -> None:
        self._has_prestop = has_prestop  # pod name → its spec has a preStop hook (None: unknown)
        self._sigterm_due = sigterm_due
        self._counts: dict[str, int] = {}  # Event uid → last count reported
        self._killing_seen: set[str] = set()

    def observe(self, obj: Mapping[str, Any], observed: float, live: bool) -> list[TimelineEvent]:
        involved = obj.get("involvedObject") or {}
        pod = involved.get("name")
        reason = obj.get("reason")
        if involved.get("kind") != "Pod" or not pod or reason not in KEPT:
            return []
        prestop = self._has_prestop(str(pod))
        if prestop is None:
            return []  # not one of the harness's pods
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        count = int(obj.get("count") or 1)
        if self._counts.get(uid, 0) >= count:
            return []
        self._counts[uid] = count
        if not live:
            return []  # history from before the watch started: not part of this run
        when = obj.get("eventTime") if has_fraction(obj.get("eventTime")) else None
        ts, detail = stamp(when or obj.get("lastTimestamp"), observed, live)
        detail.update(
            reason=reason,
            message=obj.get("message"),
            type=obj.get("type"),
            count=count,
            component=(obj.get("source") or {}).get("component") or obj.get("reportingComponent"),
        )
        events = [TimelineEvent(ts, EventKind.KUBE_EVENT, pod, detail)]
        derived = {**detail, "source_event": reason, "source": f"kube_event/{detail['source']}"}
        if reason == "Killing" and pod not in self._killing_seen:
            self._killing_seen.add(pod)
            kind = EventKind.PRESTOP_STARTED if prestop else EventKind.SIGTERM_SENT
            events.append(TimelineEvent(ts, kind, pod, derived))
            due = self._sigterm_due(str(pod), ts) if prestop and self._sigterm_due else None
            if due is not None:
                at, how = due
                # The hook's start is the Killing Event's time, an upper bound like that Event's.
                how = {**how, "source": "derived", "hook_started_source": detail["source"]}
                events.append(TimelineEvent(at, EventKind.SIGTERM_DUE, pod, how))
        elif reason == "FailedPreStopHook":
            events.append(
                TimelineEvent(ts, EventKind.PRESTOP_ENDED, pod, {**derived, "failed": True})
            )
        return events
