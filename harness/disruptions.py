"""The chaos actions that disrupt pods other than by deleting them (issue 19), played by chaos.py.

Each takes the pods chaos.py picked and returns a ``Disrupted``: what it did (merged into the
action's CHAOS_ACTION detail and kept in the journal) and, if part of it failed, why:

- ``evict``: ``backend.evict_pod`` for the picked pod; detail ``evicted``, ``blocked`` (a
  disruption budget refused it until ``chaos.evict_timeout_s``), ``attempts``, ``blocked_s``,
  ``status`` (the last answer's HTTP status);
- ``drain_node``: as `kubectl drain`: cordon the picked pod's node, then evict every pod of the
  order on it at once, each retried as ``evict`` is; detail ``node``, ``evicted`` and
  ``blocked`` (pod names), ``attempts``. The node stays cordoned until ``chaos.uncordon_after_s``
  (when given), else until the load has stopped (``uncordon_drained``, before the run waits for
  the pods to settle: replacements may need that node); the backend's teardown uncordons too;
- ``scale_down``: ``backend.scale(replicas - chaos.scale_by)``, back to ``replicas`` after
  ``chaos.restore_after_s``; detail ``from``, ``to``; the targets are the pods that started
  terminating at once (the embedded ReplicaSet deletes synchronously; on a cluster the
  controller picks them a moment later and the timeline's ``stopped_by`` names them);
- ``crash``: ``backend.crash_pod`` for the picked pod.

Restores (scale back, uncordon) run in the background so later actions keep their times;
``Later`` holds them for play_chaos to wait for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.backends.base import Backend, Eviction
from harness.errors import ApiUnavailable, HarnessError

if TYPE_CHECKING:  # chaos.py imports this module for its ACTIONS
    from harness.chaos import Chaos, ChaosOutcome

log = logging.getLogger(__name__)

Later = list["asyncio.Task[None]"]


@dataclass
class Disrupted:
    detail: dict[str, Any] = field(default_factory=dict)
    targets: list[str] | None = None  # None: the picked ones
    error: str | None = None


async def evict(backend: Backend, targets: list[str], chaos: Chaos, _: int, __: Later) -> Disrupted:
    outcome = await _evict_one(backend, targets[0], chaos)
    if isinstance(outcome, str):
        return Disrupted({"evicted": False, "blocked": False}, error=outcome)
    detail = {
        "evicted": outcome.evicted,
        "blocked": not outcome.evicted,
        "attempts": outcome.attempts,
        "blocked_s": round(outcome.blocked_s, 3),
        "status": outcome.last_status,
    }
    return Disrupted(detail, error=None if outcome.evicted else f"blocked: {outcome.reason}")


async def drain_node(
    backend: Backend, targets: list[str], chaos: Chaos, _: int, later: Later
) -> Disrupted:
    picked = {p.name: p for p in await backend.list_pods()}.get(targets[0])
    node = picked.node if picked is not None else None
    if node is None:
        return Disrupted({"node": None}, [], f"pod {targets[0]} runs on no node")
    await backend.cordon(node)
    if chaos.uncordon_after_s is not None:
        later.append(_after(chaos.uncordon_after_s, backend.uncordon(node)))
    on_node = [p.name for p in await backend.list_pods() if p.node == node and not p.terminating]
    outcomes = await asyncio.gather(*(_evict_one(backend, n, chaos) for n in on_node))
    evictions = [o for o in outcomes if isinstance(o, Eviction)]
    errors = [o for o in outcomes if isinstance(o, str)]
    blocked = [e.pod for e in evictions if not e.evicted]
    detail = {
        "node": node,
        "evicted": [e.pod for e in evictions if e.evicted],
        "blocked": blocked,
        "attempts": sum(e.attempts for e in evictions),
    }
    if blocked:
        errors.append(f"blocked: {', '.join(blocked)}")
    return Disrupted(detail, on_node, "; ".join(errors) or None)


async def scale_down(
    backend: Backend, _: list[str], chaos: Chaos, replicas: int, later: Later
) -> Disrupted:
    before = {p.name for p in await backend.list_pods() if p.terminating}
    to = max(0, replicas - chaos.scale_by)
    await backend.scale(to)
    later.append(_after(chaos.restore_after_s, backend.scale(replicas)))
    stopped = [p.name for p in await backend.list_pods() if p.terminating and p.name not in before]
    return Disrupted({"from": replicas, "to": to}, stopped)


async def crash(backend: Backend, targets: list[str], _: Chaos, __: int, ___: Later) -> Disrupted:
    await backend.crash_pod(targets[0])
    return Disrupted()


async def uncordon_drained(backend: Backend, journal: Sequence[ChaosOutcome]) -> None:
    """Uncordons every node the journal's drains cordoned (again: uncordoning is idempotent)."""
    nodes = {o.detail.get("node") for o in journal if o.action == "drain_node"}
    for node in sorted(n for n in nodes if isinstance(n, str)):
        await backend.uncordon(node)


async def _evict_one(backend: Backend, name: str, chaos: Chaos) -> Eviction | str:
    try:
        return await backend.evict_pod(name, chaos.evict_retry_s, chaos.evict_timeout_s)
    except ApiUnavailable:
        raise
    except HarnessError as exc:
        log.warning("chaos: evicting pod %s failed: %s", name, exc)
        return f"{name}: {exc}"


def _after(delay_s: float, call: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    async def later() -> None:
        try:
            await asyncio.sleep(delay_s)
        except BaseException:
            call.close()  # cancelled first: close it, or Python warns it was never awaited
            raise
        await call

    return asyncio.ensure_future(later())
