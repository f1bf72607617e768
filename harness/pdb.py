"""PodDisruptionBudgets as the disruption controller and the Eviction API compute them.

The scenario's ``app.pdb`` is ``{min_available: N}`` or ``{max_unavailable: N}`` (an integer or a
percentage like "50%"). The disruption controller (pkg/controller/disruption) turns it into a
desired number of healthy pods against the expected count (the Deployment's replicas):

- ``min_available``: that number, a percentage rounded up (``GetScaledValueFromIntOrPercent``
  with roundUp true);
- ``max_unavailable``: expected minus that number, the percentage rounded up as well;

and ``disruptionsAllowed = currentHealthy - desiredHealthy`` (never below 0), where healthy pods
are the Ready ones not being deleted. The Eviction API refuses with 429 when no disruption is
allowed, except for a pod that is not Ready itself while the budget is met (policy/v1's
``IfHealthyBudget`` for unhealthy pods: evicting it costs no healthy pod).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.errors import shown

REFUSAL_STATUS = 429
REFUSAL_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."


@dataclass
class Pdb:
    """The scenario's ``app.pdb``: exactly one of the two keys, as a PodDisruptionBudget has."""

    min_available: str | None = None  # an integer or a percentage ("50%")
    max_unavailable: str | None = None


def scaled(value: str, expected: int) -> int:
    """An IntOrString against ``expected``: an integer as it is, a percentage rounded up."""
    text = value.strip()
    if text.endswith("%"):
        return math.ceil(int(text[:-1]) * expected / 100)
    return int(text)


def desired_healthy(pdb: Pdb, expected: int) -> int:
    if pdb.min_available is not None:
        return scaled(pdb.min_available, expected)
    assert pdb.max_unavailable is not None  # pdb_problems refuses a budget with neither
    return max(0, expected - scaled(pdb.max_unavailable, expected))


def disruptions_allowed(pdb: Pdb, expected: int, healthy: int) -> int:
    """``status.disruptionsAllowed``: healthy pods beyond the desired ones."""
    return max(0, healthy - desired_healthy(pdb, expected))


def eviction_allowed(pdb: Pdb | None, expected: int, healthy: int, pod_ready: bool) -> bool:
    """Whether the Eviction API accepts evicting one pod now (False: a 429)."""
    if pdb is None:
        return True
    if not pod_ready and healthy >= desired_healthy(pdb, expected):
        return True  # an unhealthy pod while the budget holds: no healthy pod is lost
    return disruptions_allowed(pdb, expected, healthy) > 0


def is_int_or_percent(value: str) -> bool:
    """An IntOrString as a scenario gives it: "2" or "25%" (surrounding blanks allowed)."""
    text = str(value).strip()
    digits = text[:-1] if text.endswith("%") else text
    return digits.isascii() and digits.isdigit()  # not "²" or "١٢", which int() refuses


def pdb_problems(pdb: Pdb | None) -> list[str]:
    """The ``app.pdb`` section's problems, one line each."""
    if pdb is None:
        return []
    given = [v for v in (pdb.min_available, pdb.max_unavailable) if v is not None]
    if len(given) != 1:
        return ["app.pdb: give exactly one of min_available and max_unavailable"]
    key = "min_available" if pdb.min_available is not None else "max_unavailable"
    if not is_int_or_percent(given[0]):
        return [
            f"app.pdb.{key}: expected an integer or a percentage like '50%', got {shown(given[0])}"
        ]
    if given[0].strip().endswith("%") and int(given[0].strip()[:-1]) > 100:
        return [f"app.pdb.{key}: a percentage must be at most 100%, got {given[0]}"]
    return []
