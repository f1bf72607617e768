"""The app's own JSON event lines (its stdout) as timeline events."""

from __future__ import annotations

import json
import math
import time

from harness.timeline import TimelineEvent, app_kind


def app_event(line: str, pod: str) -> TimelineEvent | None:
    """``{"ts", "event", ...}`` → ``app_<event>`` with the other fields as detail, else None.

    The line's own ``ts`` is kept: it is when the app acted, not when we read the pipe. The pod
    is the backend's name for it, whatever the line says.
    """
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    event = data.get("event")
    if not isinstance(event, str) or not event:
        return None
    ts = data.get("ts")
    stamp = (
        float(ts)
        if isinstance(ts, (int, float)) and not isinstance(ts, bool) and math.isfinite(ts)
        else time.time()
    )
    detail = {k: v for k, v in data.items() if k not in ("ts", "event", "pod")}
    return TimelineEvent(stamp, app_kind(event), pod, detail)
