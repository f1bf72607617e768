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

from collections.abc import Collection, Mapping

from harness.backends.kube.kinds import Kind
from harness.backends.kube.manifests import Obj
from harness.backends.kube.objects import Names
from harness.pdb import Pdb

POLICY_V1 = "policy/v1"
POLICY_V1BETA1 = "policy/v1beta1"


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


def budget(setting: Pdb | None) -> dict[str, int | str] | None:
    """``app.pdb`` (validated by harness.pdb.pdb_problems with the scenario) as the object's spec
    fields, ``{"minAvailable": 2}``; None: no budget. A whole number is sent as a number: the
    API refuses a string that is not a percentage."""
    if setting is None:
        return None
    if setting.min_available is not None:
        field, value = "minAvailable", setting.min_available.strip()
    else:
        assert setting.max_unavailable is not None  # pdb_problems refuses a budget with neither
        field, value = "maxUnavailable", setting.max_unavailable.strip()
    return {field: int(value) if value.isdigit() else value}


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
