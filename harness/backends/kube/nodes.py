"""Cordoning nodes, and giving back exactly what a run cordoned.

A run that cordons a node (``spec.unschedulable: true``, as ``kubectl cordon`` does) marks it
with the label ``drainlab.dev/cordoned-by: <run id>`` and the annotation
``drainlab.dev/cordoned-namespace: <namespace>``, in the same patch. Uncordoning removes both,
and is refused on a node that does not carry the run's mark: a node that was unschedulable before
(an administrator's cordon) is never touched, neither by cordon nor by uncordon.

The marks are what cleans up after a run that could not: teardown uncordons every node labelled
with its run id (:func:`uncordon_run`); a run that was killed leaves its nodes cordoned, and the
next run in the same namespace, holding its Lease (so every other run of that namespace is gone),
uncordons the nodes whose mark names that namespace and another run (:func:`sweep_cordons`,
called by cleanup.sweep_leftovers). Blocking.
"""

from __future__ import annotations

import logging
from typing import Any

from harness.backends.kube.api import GONE_OR_CHANGED, Api
from harness.backends.kube.kinds import NODE
from harness.errors import BackendError

log = logging.getLogger(__name__)

LABEL_CORDONED_BY = "drainlab.dev/cordoned-by"
ANNOTATION_CORDONED_NAMESPACE = "drainlab.dev/cordoned-namespace"
MERGE_PATCH = "application/merge-patch+json"
# The patches carry the resourceVersion read (the decision to patch rests on what was read), and
# the kubelet writes the node's status every few seconds: a patch loses that race now and then
# (409 Conflict, seen in CI), and the answer is to read again and decide again.
CHANGED_ATTEMPTS = 5


def cordoned_by(node: dict[str, Any]) -> str | None:
    """The run id that cordoned ``node``, None when no run did."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    value = labels.get(LABEL_CORDONED_BY)
    return str(value) if value else None


def cordon_patch(run_id: str, namespace: str, resource_version: str | None) -> dict[str, Any]:
    """Marks the node unschedulable and as this run's; fails (409) if it changed since read."""
    return {
        "metadata": {
            "labels": {LABEL_CORDONED_BY: run_id},
            "annotations": {ANNOTATION_CORDONED_NAMESPACE: namespace},
            "resourceVersion": resource_version,
        },
        "spec": {"unschedulable": True},
    }


def uncordon_patch(resource_version: str | None) -> dict[str, Any]:
    """Schedulable again, the run's marks removed (null deletes a key in a merge patch)."""
    return {
        "metadata": {
            "labels": {LABEL_CORDONED_BY: None},
            "annotations": {ANNOTATION_CORDONED_NAMESPACE: None},
            "resourceVersion": resource_version,
        },
        "spec": {"unschedulable": None},
    }


def cordon(api: Api, node: str, run_id: str, namespace: str) -> bool:
    """Cordons ``node`` for ``run_id``; True when this call made it unschedulable, False when
    it already was (this run's cordon, or someone else's: then it stays theirs)."""
    for _ in range(CHANGED_ATTEMPTS):
        current = _read(api, node)
        if (current.get("spec") or {}).get("unschedulable"):
            owner = cordoned_by(current)
            if owner != run_id:
                log.warning(
                    "kube: node %s is already cordoned (%s); left as it is",
                    node,
                    f"by drainlab run {owner}" if owner else "not by drainlab",
                )
            return False
        if _patched(api, node, cordon_patch(run_id, namespace, _version(current)), "cordon"):
            return True
    raise _kept_changing(node, "cordon")


def uncordon(api: Api, node: str, run_id: str) -> bool:
    """Uncordons ``node`` if ``run_id`` cordoned it; True when it did."""
    for _ in range(CHANGED_ATTEMPTS):
        current = api.read(NODE, node)
        if not current or cordoned_by(current) != run_id:
            return False
        if _patched(api, node, uncordon_patch(_version(current)), "uncordon"):
            return True
    raise _kept_changing(node, "uncordon")


def uncordon_run(api: Api, run_id: str) -> list[str]:
    """Uncordons every node ``run_id`` cordoned; the nodes uncordoned."""
    selector = f"{LABEL_CORDONED_BY}={run_id}"
    found = api.list(NODE, label_selector=selector).get("items") or []
    names = [str((n.get("metadata") or {}).get("name")) for n in found]
    return [name for name in names if uncordon(api, name, run_id)]


def sweep_cordons(api: Api, namespace: str, run_id: str) -> list[str]:
    """Uncordons the nodes that gone runs of ``namespace`` left cordoned (call it only while
    holding the namespace's Lease); the nodes uncordoned."""
    swept = []
    try:
        marked = api.list(NODE, label_selector=LABEL_CORDONED_BY).get("items") or []
    except BackendError as exc:  # nodes are not everyone's to list (RBAC): nothing to give back
        log.info("kube: cannot look for nodes left cordoned: %s", exc)
        return []
    for node in marked:
        meta = node.get("metadata") or {}
        owner = cordoned_by(node)
        marked_in = (meta.get("annotations") or {}).get(ANNOTATION_CORDONED_NAMESPACE)
        if owner is None or owner == run_id or marked_in != namespace:
            continue
        if uncordon(api, str(meta.get("name")), owner):
            swept.append(str(meta.get("name")))
    if swept:
        log.warning(
            "kube: uncordoned %s, left cordoned by an earlier run in namespace %s",
            ", ".join(swept),
            namespace,
        )
    return swept


def _read(api: Api, node: str) -> dict[str, Any]:
    current = api.read(NODE, node)
    if not current:
        raise BackendError(f"kube: no node {node!r}")
    return current


def _version(node: dict[str, Any]) -> str | None:
    return (node.get("metadata") or {}).get("resourceVersion")


def _patched(api: Api, node: str, body: dict[str, Any], what: str) -> bool:
    """True when the patch applied; False when the node changed since it was read (409) or
    went (404): the caller reads it again and decides anew."""
    fn = api.request(NODE, "patch", node, body, _content_type=MERGE_PATCH)
    return bool(api.call(f"{what} node {node}", fn, GONE_OR_CHANGED))


def _kept_changing(node: str, what: str) -> BackendError:
    return BackendError(
        f"kube: cannot {what} node {node}: it changed between each of {CHANGED_ATTEMPTS} reads "
        "and the patch that followed"
    )
