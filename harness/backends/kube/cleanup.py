"""Removing what the harness made: one order's objects, its namespace, and what a killed run left.

Only what carries the harness's labels is deleted: each object is read again first, its labels
checked, and the delete sent with a UID precondition, so exactly the object checked goes.
"""

from __future__ import annotations

import functools
import logging

from harness.backends.kube.api import Api
from harness.backends.kube.checks import no_pods_left, wait_until
from harness.backends.kube.kinds import NAMESPACE, Kind
from harness.backends.kube.objects import MANAGED, Names, names_for, namespace_labels, owned
from harness.orders import ORDERS

log = logging.getLogger(__name__)


def delete_owned(api: Api, kind: Kind, names: Names) -> bool:
    """Deletes the order's object of ``kind`` if it is there and carries the labels; True when
    it asked for a deletion."""
    name = names.name_of(kind)
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


def delete_namespace(api: Api, names: Names) -> None:
    """Deletes the namespace if it carries the harness's namespace labels."""
    ns = names.namespace
    existing = api.read(NAMESPACE, ns)
    labels = (existing.get("metadata") or {}).get("labels") or {}
    if not existing or any(labels.get(k) != v for k, v in namespace_labels().items()):
        return
    uid = (existing.get("metadata") or {}).get("uid")
    api.delete(NAMESPACE, ns, None, {"preconditions": {"uid": uid}})


def sweep_leftovers(api: Api, namespace: str, timeout_s: float) -> None:
    """Removes what a run that was killed (SIGKILL, a crash) left of any order, and waits
    until its pods are gone: the new run must not see an old run's pods as its own."""
    for order in ORDERS:
        names = names_for(order, namespace)
        removed = [kind.name for kind in MANAGED if delete_owned(api, kind, names)]
        if not removed:
            continue
        log.warning(
            "kube: removing what an earlier run left in namespace %s (%s of order %s); "
            "it did not finish its teardown",
            names.namespace,
            " and ".join(removed),
            order,
        )
        wait_until(
            f"the earlier run's {order} pods to go",
            timeout_s,
            functools.partial(no_pods_left, api, names),
        )
