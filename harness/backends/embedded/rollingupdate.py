"""A Deployment's rolling update as pure arithmetic, after the Deployment controller's code.

``resolve_fenceposts`` turns maxSurge/maxUnavailable into pod counts (surge rounds up,
unavailable rounds down, and if both come out 0, unavailable becomes 1). ``rollout_step`` is one
sync of the controller: scale the new ReplicaSet up within the surge, then scale old ones down,
unhealthy pods first, without going below ``replicas - maxUnavailable`` available pods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _count(value: str, replicas: int, round_up: bool) -> int:
    text = str(value).strip()
    if text.endswith("%"):
        digits = text[:-1]
        if not digits.isdigit():
            raise ValueError(f"expected an integer or a percentage like '25%', got {value!r}")
        exact = int(digits) * replicas / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    if not text.isdigit():
        raise ValueError(f"expected an integer or a percentage like '25%', got {value!r}")
    return int(text)


def resolve_fenceposts(max_surge: str, max_unavailable: str, replicas: int) -> tuple[int, int]:
    """(surge, unavailable) as pod counts for ``replicas`` pods."""
    surge = _count(max_surge, replicas, round_up=True)
    unavailable = _count(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        # The Deployment controller does the same, so a rollout can always make progress.
        unavailable = 1
    return surge, unavailable


@dataclass(frozen=True, slots=True)
class ReplicaSetState:
    desired: int  # .spec.replicas
    available: int  # ready pods that are not terminating


def rollout_step(
    replicas: int,
    surge: int,
    unavailable: int,
    new: ReplicaSetState,
    old: list[ReplicaSetState],
) -> tuple[int, list[int]]:
    """One controller sync: the new ReplicaSet's desired count and each old one's (oldest first)."""
    new_desired = _scale_new(replicas, surge, new, old)
    return new_desired, _scale_old(
        replicas, unavailable, ReplicaSetState(new_desired, new.available), old
    )


def _scale_new(replicas: int, surge: int, new: ReplicaSetState, old: list[ReplicaSetState]) -> int:
    if new.desired >= replicas:
        return replicas
    current = new.desired + sum(rs.desired for rs in old)
    room = replicas + surge - current
    if room <= 0:
        return new.desired
    return new.desired + min(room, replicas - new.desired)


def _scale_old(
    replicas: int, unavailable: int, new: ReplicaSetState, old: list[ReplicaSetState]
) -> list[int]:
    desired = [rs.desired for rs in old]
    if sum(desired) == 0:
        return desired
    all_pods = new.desired + sum(desired)
    min_available = replicas - unavailable
    new_unavailable = max(0, new.desired - new.available)
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return desired
    # First the old pods that are not available anyway: removing them costs no availability.
    scaled = 0
    for i, rs in enumerate(old):
        if scaled >= max_scaled_down:
            break
        unhealthy = max(0, desired[i] - rs.available)
        cut = min(max_scaled_down - scaled, unhealthy)
        desired[i] -= cut
        scaled += cut
    # Then available ones, as far as the minimum availability allows.
    available = new.available + sum(rs.available for rs in old)
    budget = available - min_available
    scaled = 0
    for i in range(len(old)):
        if scaled >= budget:
            break
        cut = min(desired[i], budget - scaled)
        desired[i] -= cut
        scaled += cut
    return desired
