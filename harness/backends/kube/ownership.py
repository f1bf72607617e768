"""Which pods belong to a Deployment, by their owner references: pod → ReplicaSet → Deployment.

A ``--target`` run deletes pods it did not make, so a matching label is not proof enough (any
pod may carry the same labels). A pod is the Deployment's when its controller reference names a
ReplicaSet whose UID is the one read now and whose own controller reference is the Deployment,
by the Deployment's UID. The pod is re-read before each delete and checked so
(:func:`owner_refusal`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.backends.kube.api import Api
from harness.backends.kube.kinds import Kind

REPLICASET = Kind("replicaset", "replicasets", "AppsV1Api", "namespaced_replica_set")


def controller_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The object's controller reference (the one with ``controller: true``), None if none."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def controlled_by(obj: Mapping[str, Any], kind: str, uid: str) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("kind") == kind and ref.get("uid") == uid


def replicaset_uids(replicasets: Iterable[Mapping[str, Any]], deployment_uid: str) -> set[str]:
    """The UIDs of the ReplicaSets that the Deployment controls."""
    return {
        str((rs.get("metadata") or {}).get("uid"))
        for rs in replicasets
        if controlled_by(rs, "Deployment", deployment_uid)
    }


def owned_by(pod: Mapping[str, Any], replicaset_uids_: set[str]) -> bool:
    ref = controller_ref(pod)
    return (
        ref is not None and ref.get("kind") == "ReplicaSet" and ref.get("uid") in replicaset_uids_
    )


def owner_refusal(
    api: Api, pod: Mapping[str, Any], deployment: str, deployment_uid: str
) -> str | None:
    """Why ``pod`` (as just read) may not be deleted for deployment/``deployment``, else None.

    Reads the ReplicaSet its controller reference names and checks that it is that very object
    (its UID) and that the Deployment (its UID) controls it.
    """
    meta = pod.get("metadata") or {}
    where = f"{meta.get('namespace')}/{meta.get('name')}"
    refusing = f"kube: refusing to delete pod {where}: it is not owned by deployment/{deployment}"
    ref = controller_ref(pod)
    if ref is None or ref.get("kind") != "ReplicaSet":
        kind = "no controller" if ref is None else f"controller {ref.get('kind')}/{ref.get('name')}"
        return f"{refusing} ({kind})"
    replicaset = api.read(REPLICASET, str(ref.get("name")), str(meta.get("namespace")))
    rs_meta = replicaset.get("metadata") or {}
    if not replicaset or rs_meta.get("uid") != ref.get("uid"):
        return f"{refusing} (its ReplicaSet {ref.get('name')} is gone or replaced)"
    if not controlled_by(replicaset, "Deployment", deployment_uid):
        owner = controller_ref(replicaset)
        whose = "no controller" if owner is None else f"{owner.get('kind')}/{owner.get('name')}"
        return f"{refusing} (its ReplicaSet {ref.get('name')} belongs to {whose})"
    return None
