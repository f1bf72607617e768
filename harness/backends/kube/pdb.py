"""The app's PodDisruptionBudget (scenario ``app.pdb``): one object per deployed variant.

``app.pdb`` is ``{min_available: N}`` or ``{max_unavailable: N}`` (an integer, or a percentage
such as "50%"). The budget selects the variant's pods by the harness's labels, carries them
itself (so teardown finds it like the order's other objects: objects.owned) and is named after
the Deployment. Its ownerReference names the Deployment, so the garbage collector removes it with
the Deployment: after teardown, and after a killed run whose Deployment the next run sweeps
(cleanup.sweep_leftovers).

Which API: ``policy/v1`` where the server serves it (1.21+), else ``policy/v1beta1`` (what
v1.20 has); chosen from the server's API discovery like the endpoints API. Pure.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping

from harness.backends.kube.kinds import Kind
from harness.backends.kube.manifests import Obj
from harness.backends.kube.objects import Names
from harness.errors import UsageError

POLICY_V1 = "policy/v1"
POLICY_V1BETA1 = "policy/v1beta1"
_FIELDS = {"min_available": "minAvailable", "max_unavailable": "maxUnavailable"}
_PERCENT = re.compile(r"(100|[1-9]?[0-9])%")


def choose_policy(served: Collection[str]) -> str:
    """The policy group version (PodDisruptionBudget and Eviction) the server serves."""
    return POLICY_V1 if POLICY_V1 in served else POLICY_V1BETA1


def pdb_kind(group_version: str) -> Kind:
    """PodDisruptionBudgets of ``group_version`` (policy/v1 or policy/v1beta1)."""
    return Kind(
        "poddisruptionbudget",
        "poddisruptionbudgets",
        "CustomObjectsApi",
        "namespaced_custom_object",
        group_version=group_version,
    )


def budget(setting: object) -> dict[str, int | str] | None:
    """``app.pdb`` as the object's spec fields (``{"minAvailable": 2}``); None: no budget.

    ``setting`` is the scenario's value: a mapping (or a dataclass with those fields, unset ones
    None) with exactly one of min_available, max_unavailable, each a whole number >= 0 (written
    as a number or its digits) or a percentage; anything else is one UsageError line."""
    if setting is None:
        return None
    if dataclasses.is_dataclass(setting) and not isinstance(setting, type):
        setting = {k: v for k, v in dataclasses.asdict(setting).items() if v is not None}
    if not isinstance(setting, Mapping):
        raise UsageError("app.pdb: expected a mapping: {min_available: N} or {max_unavailable: N}")
    keys = sorted(str(k) for k in setting)
    if len(keys) != 1 or keys[0] not in _FIELDS:
        raise UsageError(
            f"app.pdb: give exactly one of min_available, max_unavailable (got {', '.join(keys)})"
        )
    key = keys[0]
    value = setting[key]
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not (
        (isinstance(value, int) and value >= 0)
        or (isinstance(value, str) and _PERCENT.fullmatch(value))
    ):
        raise UsageError(
            f"app.pdb.{key}: must be a whole number >= 0 or a percentage like 50%, got {value!r}"
        )
    return {_FIELDS[key]: value}


def pdb_object(
    names: Names, spec: Mapping[str, int | str], group_version: str, deployment: Obj
) -> Obj:
    """The variant's budget, owned by ``deployment`` (as the API returned it: its uid)."""
    meta = deployment.get("metadata") or {}
    return {
        "apiVersion": group_version,
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": names.deployment,
            "namespace": names.namespace,
            "labels": dict(names.labels),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta.get("name"),
                    "uid": meta.get("uid"),
                }
            ],
        },
        "spec": {**spec, "selector": {"matchLabels": dict(names.labels)}},
    }
