"""The timeline, sorted once and indexed by (pod, kind), so every later lookup is a bisect."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.timeline import TimelineEvent


@dataclass(frozen=True, slots=True)
class TimelineIndex:
    events: list[TimelineEvent]  # every event, by ts; equal times keep their file order
    pods: list[str]  # each pod once, in the order it first appears
    by_pod: dict[str, list[TimelineEvent]] = field(default_factory=dict)  # a pod's own events
    times: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (pod, kind) -> ts
    first_detail: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def first(self, pod: str, kind: str) -> float | None:
        ts = self.times.get((pod, kind))
        return ts[0] if ts else None

    def last(self, pod: str, kind: str) -> float | None:
        ts = self.times.get((pod, kind))
        return ts[-1] if ts else None

    def first_at_or_after(self, pod: str, kind: str, t: float) -> float | None:
        ts = self.times.get((pod, kind))
        if not ts:
            return None
        i = bisect_left(ts, t)
        return ts[i] if i < len(ts) else None


def index_timeline(timeline: Iterable[TimelineEvent]) -> TimelineIndex:
    # sorted() is stable, so events stamped with the same time keep the order they were written
    # in, which is the order the backend saw them (an "added" before a "removed" stays so).
    events = sorted(timeline, key=lambda e: e.ts)
    by_pod: dict[str, list[TimelineEvent]] = {}
    times: dict[tuple[str, str], list[float]] = {}
    first_detail: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        if event.pod is None:
            continue
        own = by_pod.get(event.pod)
        if own is None:
            by_pod[event.pod] = [event]
        else:
            own.append(event)
        key = (event.pod, event.kind)
        bucket = times.get(key)
        if bucket is None:
            times[key] = [event.ts]
            first_detail[key] = event.detail
        else:
            bucket.append(event.ts)
    # dicts keep insertion order, so by_pod's keys are the pods in order of first appearance
    return TimelineIndex(
        events=events, pods=list(by_pod), by_pod=by_pod, times=times, first_detail=first_detail
    )
