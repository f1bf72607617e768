"""The load workers that died mid-run (traffic.workers > 1), from the timeline: for the summary's
``load_worker_deaths`` (each: ``worker``, ``at_s`` into the load, ``code``). Their users sent
nothing after, so the offered load was lower from then on; what they recorded before is counted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.timeline import EventKind, TimelineEvent


def worker_deaths(events: Iterable[TimelineEvent], load_start: float) -> list[dict[str, Any]]:
    return [
        {
            "worker": event.detail.get("worker"),
            "at_s": round(event.ts - load_start, 3),
            "code": event.detail.get("code"),
        }
        for event in events
        if event.kind == EventKind.LOAD_WORKER_DIED
    ]
