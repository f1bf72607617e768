"""Chaos as data: a schedule of actions played against any Backend, seeded so a run repeats.

The plan is pure (``due_times``, ``pick_targets``); ``play_chaos`` is the only part that waits,
calls the backend and writes the timeline. Every action is one EventKind.CHAOS_ACTION event
``{"action", "targets"}`` and one ``ChaosOutcome`` in the returned journal, also when it found
nothing to act on or the backend refused (then ``error`` says why, a warning is logged and the
run goes on). Only an API that keeps failing through every retry (``ApiUnavailable``) ends it.

Targets are picked among pods that are not already terminating, ordered by creation (then name),
so the same seed, schedule and backend behaviour pick the same pods:

- ``delete_random``: one pod, ``rng.choice`` among the ready ones (any, when none is ready);
- ``delete_named``: ``pod`` is an index into that list ("0" is the oldest) or a pod's name;
- ``delete_all``: every pod;
- ``rolling_restart``: every pod, replaced by the backend's rollout; the rollout runs in the
  background so later actions keep their times, and play_chaos waits for it before returning;
- ``evict``, ``crash``: one pod as ``delete_random`` picks it; ``drain_node``: that pod's node;
  ``scale_down``: no pod (the ReplicaSet controller picks). These disruptions (disruptions.py)
  run in the background too, and their CHAOS_ACTION event, stamped when they began, is written
  when they end, with what they did in its detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from harness import disruptions
from harness.backends.base import Backend, EventSink, PodInfo
from harness.errors import ApiUnavailable, HarnessError, ScenarioError, shown
from harness.pdb import is_int_or_percent
from harness.settings import DAY_S
from harness.timeline import EventKind, TimelineEvent

log = logging.getLogger(__name__)

Picked = tuple[list[str], str | None]  # the targets, and why there are none


@dataclass
class Chaos:
    """The scenario's ``chaos:`` section."""

    action: str = "delete_random"  # a key of ACTIONS
    start_after_s: float = 3.0  # first action this long after load starts
    every_s: float = 2.0
    count: int = 5  # how many actions; ignored when ``at_s`` is given
    at_s: list[float] = field(default_factory=list)  # explicit offsets from load start
    pod: str | None = None  # for delete_named: the pod's index ("0") or name
    grace_period_s: float | None = None  # override of the pod's grace period for deletes
    max_surge: str = "25%"
    max_unavailable: str = "25%"
    # The disruption actions (disruptions.py)
    scale_by: int = 1  # scale_down: replicas - scale_by
    restore_after_s: float = 5.0  # scale_down: back to the deployed replicas this much later
    evict_retry_s: float = 5.0  # evict, drain_node: a refused eviction is retried this often
    evict_timeout_s: float = 30.0  # and given up this long after the first request
    uncordon_after_s: float | None = None  # drain_node: None: the node stays cordoned to teardown


# The most actions one order may schedule: at one a second that is close to three hours of
# deletions, more than any run needs. A larger count is a typo (an extra zero), refused before
# any offset is computed: the schedule is a list, and 1e8 offsets would take gigabytes.
MAX_ACTIONS = 10_000


def planned_actions(chaos: Chaos) -> int:
    """How many actions the schedule holds, without building it."""
    return len(chaos.at_s) if chaos.at_s else max(0, chaos.count)


def chaos_problems(c: Chaos, duration_s: float, count_schedule: bool) -> list[str]:
    """The chaos section's problems beyond its numbers' bounds (scenario.BOUNDS checks those);
    ``count_schedule``: the scenario has no other problem, so its numbers are finite and the
    schedule can be counted against ``duration_s``."""
    problems: list[str] = []
    if c.action not in ACTIONS:
        problems.append(f"chaos.action: unknown {shown(c.action)} (known: {', '.join(ACTIONS)})")
    elif ACTIONS[c.action].needs_pod and not c.pod:
        problems.append(f"chaos.pod: {c.action} needs the pod's index or name")
    if len(c.at_s) > MAX_ACTIONS:
        problems.append(f"chaos.at_s: {len(c.at_s)} offsets, at most {MAX_ACTIONS}")
    if any(not 0 <= x <= DAY_S for x in c.at_s):
        problems.append(f"chaos.at_s: offsets must be >= 0 and <= {DAY_S:g}")
    if count_schedule and not problems:  # the numbers are finite and bounded: count, never build
        late = actions_from(c, duration_s)
        if late:
            problems.append(
                f"chaos: {late} of {planned_actions(c)} actions fall at or after the end of "
                f"the run (duration_s={duration_s:g}, last at {last_offset(c):g} s); "
                "raise duration_s or lower count/every_s"
            )
    for pct_key in ("max_surge", "max_unavailable"):
        if not is_int_or_percent(getattr(c, pct_key)):
            problems.append(f"chaos.{pct_key}: expected an integer or a percentage like '25%'")
    return problems


def schedule_offsets(chaos: Chaos) -> list[float]:
    """Seconds from load start at which the actions fire, in order (at most MAX_ACTIONS)."""
    planned = planned_actions(chaos)
    if planned > MAX_ACTIONS:
        raise ScenarioError(f"chaos: {planned} actions planned, at most {MAX_ACTIONS}")
    if chaos.at_s:
        return sorted(chaos.at_s)
    return [chaos.start_after_s + i * chaos.every_s for i in range(planned)]


def actions_from(chaos: Chaos, end_s: float) -> int:
    """How many actions fall at or after ``end_s``, counted without building the schedule (the
    regular schedule's offsets only grow, so they are the last ones)."""
    if chaos.at_s:
        return sum(1 for offset in chaos.at_s if offset >= end_s)
    count, start, every = max(0, chaos.count), chaos.start_after_s, chaos.every_s
    if count == 0 or not every > 0:
        return count if count and start >= end_s else 0
    ratio = (end_s - start) / every  # may overflow to inf with a tiny every_s
    first = 0 if ratio <= 0 else count if ratio >= count else math.ceil(ratio)
    # ``start + i * every`` as the schedule computes it: step past rounding at the boundary.
    while first > 0 and start + (first - 1) * every >= end_s:
        first -= 1
    while first < count and start + first * every < end_s:
        first += 1
    return count - first


def last_offset(chaos: Chaos) -> float | None:
    """The last action's offset, None for an empty schedule."""
    if chaos.at_s:
        return max(chaos.at_s)
    return chaos.start_after_s + (chaos.count - 1) * chaos.every_s if chaos.count > 0 else None


@dataclass
class ChaosOutcome:
    offset_s: float  # planned, from load start
    ts: float  # unix seconds when the action was taken
    action: str
    targets: list[str] = field(default_factory=list)
    error: str | None = None  # why the action did nothing or failed in part
    detail: dict[str, object] = field(default_factory=dict)  # what a disruption action did


def due_times(offsets: list[float], t0: float) -> list[float]:
    """Unix times at which the actions fire, in order."""
    return [t0 + offset for offset in sorted(offsets)]


def eligible(pods: list[PodInfo]) -> list[PodInfo]:
    """Pods an action may pick: not terminating, oldest first (ties by name, for repeatability)."""
    alive = [p for p in pods if not p.terminating]
    return sorted(alive, key=lambda p: (p.created if p.created is not None else 0.0, p.name))


def _one_serving(candidates: list[PodInfo], rng: random.Random, _: str | None) -> Picked:
    # A serving pod when there is one: deleting a replacement that is still starting (it never
    # had an endpoint) says nothing about shutdown, and short intervals would hit one.
    serving = [p for p in candidates if p.ready]
    return [rng.choice(serving or candidates).name], None


def _every(candidates: list[PodInfo], _rng: random.Random, _ref: str | None) -> Picked:
    return [p.name for p in candidates], None


def _none(_candidates: list[PodInfo], _rng: random.Random, _ref: str | None) -> Picked:
    return [], None  # the backend's controller picks (scale_down)


def _named(candidates: list[PodInfo], _: random.Random, pod_ref: str | None) -> Picked:
    ref = (pod_ref or "").strip()
    if ref.isdigit():
        index = int(ref)
        if index >= len(candidates):
            return [], f"no pod at index {index} ({len(candidates)} not terminating)"
        return [candidates[index].name], None
    if any(p.name == ref for p in candidates):
        return [ref], None
    return [], f"no pod named {ref!r} that is not already terminating"


Disruption = Callable[
    [Backend, list[str], "Chaos", int, disruptions.Later],
    Coroutine[Any, Any, disruptions.Disrupted],
]


@dataclass(frozen=True, slots=True)
class Action:
    """One kind of chaos: how it picks its pods, and what the backend does to them."""

    pick: Callable[[list[PodInfo], random.Random, str | None], Picked]
    rollout: bool = False  # True: backend.rolling_restart replaces them; False: each is deleted
    needs_pod: bool = False  # the scenario must name the pod (chaos.pod)
    disrupt: Disruption | None = None  # not a deletion: what disruptions.py does instead
    needs_pods: bool = True  # False: it acts without pods of its own picking (scale_down)


# Every chaos action there is: a new one is an entry here (and, if it needs one, a Backend verb).
ACTIONS: dict[str, Action] = {
    "delete_random": Action(_one_serving),
    "delete_named": Action(_named, needs_pod=True),
    "delete_all": Action(_every),
    "rolling_restart": Action(_every, rollout=True),
    "evict": Action(_one_serving, disrupt=disruptions.evict),
    "drain_node": Action(_one_serving, disrupt=disruptions.drain_node),
    "scale_down": Action(_none, disrupt=disruptions.scale_down, needs_pods=False),
    "crash": Action(_one_serving, disrupt=disruptions.crash),
}


def pick_targets(
    action: str, pods: list[PodInfo], rng: random.Random, pod_ref: str | None = None
) -> Picked:
    """The pods an action applies to, and why it applies to none (None when it has targets)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown chaos action {action!r}")
    candidates = eligible(pods)
    if not candidates and ACTIONS[action].needs_pods:
        return [], "no pod that is not already terminating"
    return ACTIONS[action].pick(candidates, rng, pod_ref)


async def play_chaos(
    backend: Backend,
    chaos: Chaos,
    offsets: list[float],
    rng: random.Random,
    emit: EventSink,
    t0: float,
    replicas: int | None = None,
) -> list[ChaosOutcome]:
    """Plays every action at ``t0 + offset``; returns the journal once all of them are done.

    ``replicas``: the deployed count scale_down starts from and restores (None: the pods that
    are not terminating when it acts). Cancelled, it cancels what it started in the background
    and returns nothing more (the timeline has it all).
    """
    journal: list[ChaosOutcome] = []
    background: list[tuple[ChaosOutcome, asyncio.Task[None]]] = []
    later: disruptions.Later = []  # restores: scale back, uncordon
    try:
        for offset, due in zip(sorted(offsets), due_times(offsets, t0), strict=True):
            await asyncio.sleep(max(0.0, due - time.time()))
            outcome = ChaosOutcome(offset, time.time(), chaos.action)
            journal.append(outcome)
            pods = await backend.list_pods()
            outcome.targets, outcome.error = pick_targets(chaos.action, pods, rng, chaos.pod)
            action = ACTIONS[chaos.action]
            if action.disrupt is not None and outcome.error is None:
                deployed = replicas if replicas is not None else len(eligible(pods))
                task = asyncio.ensure_future(
                    _disrupt(backend, chaos, action.disrupt, outcome, deployed, later, emit)
                )
                background.append((outcome, task))
                continue
            emit(_action_event(outcome))
            if not outcome.targets:
                continue
            if action.rollout:
                task = asyncio.ensure_future(
                    backend.rolling_restart(chaos.max_surge, chaos.max_unavailable)
                )
                background.append((outcome, task))
                continue
            errors = []
            for name in outcome.targets:
                try:
                    await backend.delete_pod(name, chaos.grace_period_s)
                except ApiUnavailable:
                    raise  # the API is gone for good: the run cannot go on
                except HarnessError as exc:
                    errors.append(f"{name}: {exc}")
                    log.warning("chaos: deleting pod %s failed: %s", name, exc)
            outcome.error = "; ".join(errors) or None
        for outcome, task in background:
            try:
                await task
            except ApiUnavailable:
                raise
            except HarnessError as exc:
                outcome.error = str(exc)
                log.warning("chaos: %s failed: %s", outcome.action, exc)
        for restore in later:
            try:
                await restore
            except ApiUnavailable:
                raise
            except HarnessError as exc:
                log.warning("chaos: restoring after %s failed: %s", chaos.action, exc)
    finally:
        for task in [t for _, t in background] + later:
            if not task.done():
                task.cancel()
            # Retrieve every task's end, so none is reported as an exception never looked at.
            with contextlib.suppress(asyncio.CancelledError, HarnessError):
                await task
    return journal


def _action_event(outcome: ChaosOutcome) -> TimelineEvent:
    detail: dict[str, object] = {
        "action": outcome.action,
        "targets": list(outcome.targets),
        "offset_s": outcome.offset_s,
        **outcome.detail,
    }
    if outcome.error is not None:
        detail["error"] = outcome.error
    return TimelineEvent(outcome.ts, EventKind.CHAOS_ACTION, None, detail)


async def _disrupt(
    backend: Backend,
    chaos: Chaos,
    disrupt: Disruption,
    outcome: ChaosOutcome,
    replicas: int,
    later: disruptions.Later,
    emit: EventSink,
) -> None:
    """One disruption action; its CHAOS_ACTION event, stamped when it began, once it ends."""
    try:
        done = await disrupt(backend, list(outcome.targets), chaos, replicas, later)
        if done.targets is not None:
            outcome.targets = done.targets
        outcome.detail, outcome.error = done.detail, done.error
    except ApiUnavailable:
        outcome.error = "the API is unavailable"
        raise
    except HarnessError as exc:
        outcome.error = str(exc)
        log.warning("chaos: %s failed: %s", outcome.action, exc)
    except asyncio.CancelledError:
        outcome.error = "cancelled before it ended"
        raise
    finally:
        emit(_action_event(outcome))
