"""When did it happen? One rule for every timeline event taken from an API object.

API timestamps (creationTimestamp, a condition's lastTransitionTime, a container's startedAt and
finishedAt, an Event's lastTimestamp) are whole seconds, truncated: the moment lies in
``[t, t + 1)``. The moment a watch delivered the change is precise but late by however long the
change took to reach the API and us (for container starts and exits, up to the kubelet's 1 s
relist period). So:

- a change seen live by a watch gets the earliest known upper bound,
  ``min(arrival, api_time + 1)``: ``source`` is ``"watch"`` when that is the arrival time, or
  ``"api_ceil"`` when it is the end of the API's second. Either way it is never before the
  change itself, so a container that exits after a delete call is never stamped before it.
- a change that had already happened when the harness first saw the object (a relist, an
  object older than the watch) gets the API time itself: ``source`` is ``"api"``.
- a change with no API time (a pod's IP appearing, an endpoint coming and going) gets the
  arrival time: ``source`` is ``"watch"``.

The detail keeps ``api_time`` and ``observed`` (arrival) so either can be used later.
Microsecond API times (an Event's ``eventTime``) are kept as they are, with no rounding up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

API_RESOLUTION_S = 1.0


def parse_time(value: Any) -> float | None:
    """RFC 3339 (``2026-11-24T19:40:00Z``, optionally with fractions) → unix seconds, or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes at most 6 fractional digits; the API sends up to 9.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def has_fraction(value: Any) -> bool:
    return isinstance(value, str) and "." in value


def stamp(api_value: Any, observed: float, live: bool) -> tuple[float, dict[str, Any]]:
    """The event time and its provenance, from an API timestamp string and the arrival time."""
    return stamp_time(parse_time(api_value), has_fraction(api_value), observed, live)


def stamp_time(
    api_time: float | None, precise: bool, observed: float, live: bool
) -> tuple[float, dict[str, Any]]:
    """:func:`stamp` for a time already parsed; ``precise``: it has sub-second resolution."""
    if api_time is None:
        return observed, {"source": "watch", "observed": round(observed, 6)}
    detail: dict[str, Any] = {"api_time": api_time, "observed": round(observed, 6)}
    if precise or not live:
        return api_time, {"source": "api", **detail}
    ceiling = api_time + API_RESOLUTION_S
    if observed <= ceiling:
        return observed, {"source": "watch", **detail}
    return ceiling, {"source": "api_ceil", **detail}
