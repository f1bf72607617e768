"""Removing what the harness made: one order's objects, its namespace, and what a killed run left.

Only what carries the harness's labels and this run's id is deleted: each object is read again
first, its labels checked, and the delete sent with a UID precondition, so exactly the object
checked goes. Another run's objects are left alone, unless that run is gone (sweep_leftovers,
called while holding the namespace's Lease). The namespace goes only if this run created it.
"""

from __future__ import annotations

import functools
import logging

from harness.backends.kube import nodes
from harness.backends.kube.agentobjects import AGENT_KINDS
from harness.backends.kube.api import Api
from harness.backends.kube.checks import wait_until
from harness.backends.kube.kinds import NAMESPACE, POD, Kind
from harness.backends.kube.objects import (
    LABEL_RUN,
    MANAGED,
    Names,
    app_labels,
    owned,
    run_of,
    selector_of,
)

log = logging.getLogger(__name__)


def delete_owned(api: Api, kind: Kind, names: Names, name: str | None = None) -> bool:
    """Deletes the order's object of ``kind`` (named ``name``, by default as ``names`` says) if it
    is there and carries the labels; True when it asked for a deletion."""
    name = name or names.name_of(kind)
    existing = api.read(kind, name, names.namespace)
    if not existing:
        return False
    if not owned(existing, names):
        log.warning("kube: %s %s lacks the harness's labels; left alone", kind.name, name)
        return False
    uid = (existing.get("metadata") or {}).get("uid")
    body = {"preconditions": {"uid": uid}, "propagationPolicy": "Background"}
    api.delete(kind, name, names.namespace, body)
    return True


def delete_namespace(api: Api, namespace: str, uid: str, run_id: str) -> bool:
    """Deletes the namespace this run created: only if it still has the UID recorded at its
    creation and still carries this run's id (delete preconditions on UID and resourceVersion,
    so exactly the namespace checked goes). True when it asked for the deletion."""
    existing = api.read(NAMESPACE, namespace)
    meta = existing.get("metadata") or {}
    if not existing or meta.get("uid") != uid:
        log.warning("kube: namespace %s is not the one this run made; left alone", namespace)
        return False
    if run_of(existing) != run_id:
        log.warning("kube: namespace %s is now another run's; left alone", namespace)
        return False
    preconditions = {"uid": uid, "resourceVersion": meta.get("resourceVersion")}
    return bool(api.delete(NAMESPACE, namespace, None, {"preconditions": preconditions}))


def sweep_leftovers(api: Api, namespace: str, run_id: str, timeout_s: float) -> list[str]:
    """Removes what runs that were killed (SIGKILL, a crash) left in the namespace, and waits
    until their pods are gone: the new run must not see an old run's pods as its own.

    Call it only while holding the namespace's Lease: then every drainlab object that does not
    carry ``run_id`` belongs to a run that is gone. Returns what it removed ("deployment x").
    Their PodDisruptionBudgets go with their Deployments (pdb.py), the nodes they cordoned are
    uncordoned (nodes.py).
    """
    nodes.sweep_cordons(api, namespace, run_id)
    selector = f"{selector_of(app_labels())},{LABEL_RUN}!={run_id}"
    removed: list[str] = []
    for kind in (*MANAGED, *AGENT_KINDS):
        for obj in api.list(kind, namespace, label_selector=selector).get("items") or []:
            meta = obj.get("metadata") or {}
            labels = meta.get("labels") or {}
            mine = labels.get(LABEL_RUN) == run_id
            if mine or meta.get("namespace") != namespace or not _has(labels, app_labels()):
                continue
            body = {"preconditions": {"uid": meta.get("uid")}, "propagationPolicy": "Background"}
            if api.delete(kind, str(meta.get("name")), namespace, body):
                removed.append(f"{kind.name} {meta.get('name')} (run {run_of(obj) or 'unknown'})")
    if removed:
        log.warning(
            "kube: removing what an earlier run left in namespace %s: %s; it did not finish "
            "its teardown",
            namespace,
            ", ".join(removed),
        )
        wait_until(
            "the earlier runs' pods to go",
            timeout_s,
            functools.partial(_no_pods, api, namespace, selector),
        )
    return removed


def _has(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def _no_pods(api: Api, namespace: str, selector: str) -> tuple[bool, str]:
    left = api.list(POD, namespace, label_selector=selector).get("items") or []
    return not left, f"{len(left)} pods left"
