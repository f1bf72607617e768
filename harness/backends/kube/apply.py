"""Making one order's objects: its namespace if missing, then create-or-replace of each object.

The namespace a run creates is labelled with its run id and its UID is returned, so that only
that run deletes it, and only that very namespace (cleanup.delete_namespace).

Nothing is replaced that lacks the harness's labels: an object of that name without them is
someone else's, and the deploy stops before changing anything (:func:`refuse_foreign`).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from harness.backends.kube.api import Api
from harness.backends.kube.checks import namespace_gone, namespace_usable, wait_until
from harness.backends.kube.guard import foreign_namespace_refusal
from harness.backends.kube.kinds import NAMESPACE, Kind
from harness.backends.kube.objects import MANAGED, Names, namespace_object, owned
from harness.errors import BackendError


def ensure_namespace(
    api: Api, names: Names, run_id: str, server_minor: int | None, allow_namespace: str | None
) -> str | None:
    """Creates the namespace if it is missing, labelled with ``run_id``; the UID of the
    namespace this call created, None when it was there already (or another run made it
    meanwhile: the create's 409). An existing namespace that is not drainlab's is refused
    unless ``allow_namespace`` names it (guard.foreign_namespace_refusal)."""
    ns = names.namespace
    existing = api.read(NAMESPACE, ns)
    if existing and (existing.get("status") or {}).get("phase") == "Terminating":
        # Left by an earlier teardown that is still finishing: wait, then make a new one.
        gone = functools.partial(namespace_gone, api, ns)
        wait_until(f"namespace {ns} to finish terminating", 120.0, gone)
        existing = {}
    uid = None
    if not existing:
        made = api.create(NAMESPACE, namespace_object(ns, run_id))
        uid = str((made.get("metadata") or {}).get("uid") or "") or None
        if not made:
            existing = api.read(NAMESPACE, ns)  # 409: someone made it meanwhile; not ours
            if not existing:
                raise BackendError(f"kube: namespace {ns} appeared and went while being created")
    if existing:
        refused = foreign_namespace_refusal(existing, allow_namespace)
        if refused is not None:
            raise BackendError(refused)
    # Made just now, by this run or another: pods are refused until its account is there.
    usable = functools.partial(namespace_usable, api, ns, server_minor)
    wait_until(f"namespace {ns}'s default service account", 60.0, usable)
    return uid


def refuse_foreign(api: Api, names: Names) -> None:
    """BackendError if one of the order's names is taken by an object without the harness's
    labels: that object is someone else's. Reads each, before anything is changed."""
    ns = names.namespace
    for kind in MANAGED:
        name = names.name_of(kind)
        current = api.read(kind, name, ns)
        if current and not owned(current, names):
            raise _foreign(kind, name, names)


def apply(api: Api, kind: Kind, body: dict[str, Any], names: Names) -> dict[str, Any]:
    """Creates the object, or replaces it if an object of the harness's is in the way."""
    name = body["metadata"]["name"]
    ns = names.namespace
    made = api.create(kind, body, ns)
    if made:
        return made
    for _ in range(3):
        existing = api.read(kind, name, ns)
        if not existing:
            made = api.create(kind, body, ns)
            if made:
                return made
            continue
        if not owned(existing, names):
            raise _foreign(kind, name, names)
        replaced = api.replace(kind, name, ns, for_replace(kind, body, existing))
        if replaced:
            return replaced
    raise BackendError(f"kube: {kind.name} {ns}/{name} kept changing while being replaced")


def for_replace(kind: Kind, body: dict[str, Any], existing: dict[str, Any]) -> dict[str, Any]:
    """The new object, carrying what a replace must keep from the existing one."""
    update = copy.deepcopy(body)
    meta = existing.get("metadata") or {}
    update["metadata"]["resourceVersion"] = meta.get("resourceVersion")
    spec = existing.get("spec") or {}
    for key in kind.kept_on_replace:
        if spec.get(key):
            update["spec"][key] = spec[key]
    return update


def _foreign(kind: Kind, name: str, names: Names) -> BackendError:
    return BackendError(
        f"kube: {kind.name} {names.namespace}/{name} exists without the harness's labels "
        f"({names.selector}); refusing to replace it"
    )
