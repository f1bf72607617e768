"""The app's readiness as the deploy waits for it: the path its readiness probe asks, and, when
the probe never passes, what it answered (from the kubelet's ``Unhealthy`` Events).

The deploy checks the Service on the path of the app container's HTTP readiness probe ("/" when
it has none, or not an HTTP one). Pods whose containers have run for longer than the probe can
take to pass, and are still not ready, end the deploy with one line such as
``readiness never passed: GET /readyz -> 404 on all 3 pods``. Pure.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.backends.kube.stamps import parse_time

_STATUS = re.compile(r"statuscode: (\d+)")
_REFUSED = ("connection refused", "context deadline exceeded", "connection reset", "no route")
READINESS_FAILED = "Readiness probe failed:"


def readiness_path(container: Mapping[str, Any]) -> str:
    """The path the container's readiness probe asks, "/" if it asks none."""
    probe = container.get("readinessProbe") or {}
    path = (probe.get("httpGet") or {}).get("path")
    return str(path) if path else "/"


def probe_patience_s(container: Mapping[str, Any], base_s: float) -> float:
    """How long after its container started a pod may stay unready before the deploy gives up:
    ``base_s`` after the readiness probe's initial delay and after the startup probe's own
    allowance (period x failureThreshold), if there is one."""
    readiness = container.get("readinessProbe") or {}
    startup = container.get("startupProbe") or {}
    allowance = float(readiness.get("initialDelaySeconds") or 0)
    if startup:
        allowance += float(startup.get("initialDelaySeconds") or 0) + float(
            startup.get("periodSeconds") or 10
        ) * float(startup.get("failureThreshold") or 3)
    return allowance + base_s


def short_answer(message: str) -> str:
    """What one ``Readiness probe failed: ...`` message says the app answered, in a few words."""
    text = message.removeprefix(READINESS_FAILED).strip()
    status = _STATUS.search(text)
    if status:
        return status.group(1)
    for what in _REFUSED:
        if what in text:
            return "timeout" if what == "context deadline exceeded" else what
    return " ".join(text.split())[:80] or "failed"


def last_answers(events: Iterable[Mapping[str, Any]], pods: Iterable[str]) -> dict[str, str]:
    """Each pod's latest readiness failure, in a few words (pods with none left out)."""
    wanted = set(pods)
    latest: dict[str, tuple[float, str]] = {}
    for event in events:
        involved = event.get("involvedObject") or {}
        pod = involved.get("name")
        message = str(event.get("message") or "")
        if pod not in wanted or event.get("reason") != "Unhealthy":
            continue
        if not message.startswith(READINESS_FAILED):
            continue
        when = parse_time(event.get("lastTimestamp") or event.get("eventTime")) or 0.0
        if pod not in latest or when >= latest[pod][0]:
            latest[pod] = (when, short_answer(message))
    return {pod: answer for pod, (_, answer) in latest.items()}


def never_ready(
    pods: Sequence[Mapping[str, Any]], now: float, patience_s: float
) -> list[str] | None:
    """The names of the pods when every one of them has run its container for longer than
    ``patience_s`` and is still not ready; None while one of them may still become ready."""
    if not pods:
        return None
    names = []
    for pod in pods:
        status = pod.get("status") or {}
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        ):
            return None
        started = [
            parse_time(((cs.get("state") or {}).get("running") or {}).get("startedAt"))
            for cs in status.get("containerStatuses") or []
        ]
        first = min((s for s in started if s is not None), default=math.inf)
        if now - first <= patience_s:
            return None
        names.append(str((pod.get("metadata") or {}).get("name")))
    return names


def failure_line(path: str, pods: Sequence[str], answers: Mapping[str, str]) -> str:
    """``readiness never passed: GET /readyz -> 404 on all 3 pods`` (or per answer)."""
    counts = Counter(answers.get(pod, "no probe result reported") for pod in pods)
    if len(counts) == 1:
        (answer,) = counts
        where = f"all {len(pods)} pods" if len(pods) > 1 else "the pod"
        return f"readiness never passed: GET {path} -> {answer} on {where}"
    parts = [f"{answer} on {n} pod{'s' if n > 1 else ''}" for answer, n in counts.most_common()]
    return f"readiness never passed: GET {path} -> " + ", ".join(parts)
