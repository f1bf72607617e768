"""Why a deploy never got all its pods ready, in one line: what each probe last answered.

``readiness never passed: GET /readyz -> 404 on all 3 pods``; pods that got different answers
are named (``-> 404 on web-bcdfg; connection refused on web-hjklm``); a pod still waiting for
its startup probe says so (``startup never passed: ...``); a container that keeps exiting is
shown with its restarts and the last lines of its log instead, which say more than a refused
connection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.backends.embedded.pod import Pod
from harness.backends.embedded.probe import describe_probe
from harness.backends.embedded.probes import READINESS, STARTUP, Probes

NOT_PROBED = "no answer yet"  # the probe has not run (initial delay, or no container yet)


def why_not_ready(pods: Sequence[Pod], probes: Probes, log_tail: Callable[[str], str]) -> str:
    """The reasons of the pods in ``pods`` that are neither ready nor terminating; "" if none."""
    waiting = [pod for pod in pods if not pod.ready and not pod.terminating]
    # log tail -> the crashing pods that show it (most often the same for all)
    crashing: dict[str, list[Pod]] = {}
    for pod in waiting:
        if pod.restarts or pod.probes is None:
            crashing.setdefault(log_tail(pod.name), []).append(pod)
    parts = [
        f"{_where([p.name for p in same], len(pods))} not ready, "
        f"{max(p.restarts for p in same)} restarts{tail}"
        for tail, same in crashing.items()
    ]
    # (probe, answer) -> the pods that got it, in the pods' order
    answers: dict[tuple[str, str], list[str]] = {}
    for pod in waiting:
        if pod.restarts or pod.probes is None:
            continue
        gate = STARTUP if not pod.probes.startup_passed else READINESS
        last = pod.probes.last.get(gate)
        key = (gate, last.answer if last is not None else NOT_PROBED)
        answers.setdefault(key, []).append(pod.name)
    by_probe: dict[str, list[str]] = {}
    for (gate, answer), names in answers.items():
        by_probe.setdefault(gate, []).append(f"{answer} on {_where(names, len(pods))}")
    for gate, found in by_probe.items():
        probe = getattr(probes, gate)
        parts.append(f"{gate} never passed: {describe_probe(probe)} -> {'; '.join(found)}")
    return "; ".join(parts)


def _where(names: list[str], of: int) -> str:
    return f"all {of} pods" if len(names) == of > 1 else ", ".join(names)
