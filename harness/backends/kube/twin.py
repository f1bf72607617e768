"""The user's Service and its NodePort "twin": how a ``--target`` run's traffic reaches the pods.

A target run deploys nothing, and it never sends load to one pod through a port-forward: real
clients reach the pods through a Service, so the load does too. The user's Service is found by
its selector (it selects the Deployment's pods: every key of the Service's selector is a label of
the pod template); when several do, ``kube.target_service`` (``--target-service``) names one,
else the run stops with one line listing them. The load goes through a twin: a NodePort Service
in the same namespace with the same selector and ports, labelled as drainlab's and with this
run's id, named ``drainlab-twin-<service>``. It is the one object a target run makes besides its
Lease, and teardown deletes it by UID, only if it still carries this run's id. Pure, but for
:func:`delete_twin` and :func:`sweep_twins` (they take the API).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from harness.backends.kube.api import Api
from harness.backends.kube.kinds import SERVICE
from harness.backends.kube.objects import LABEL_RUN, app_labels, run_of, selector_of
from harness.errors import BackendError

log = logging.getLogger(__name__)

TWIN_PREFIX = "drainlab-twin-"
LABEL_TWIN_OF = "drainlab.dev/twin-of"  # the user's Service the twin copies


def selects(service: Mapping[str, Any], pod_labels: Mapping[str, str]) -> bool:
    """Whether the Service sends traffic to pods carrying ``pod_labels`` (an empty or missing
    selector selects nothing: such a Service's endpoints are managed by hand)."""
    selector = (service.get("spec") or {}).get("selector") or {}
    return bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items())


def pick_service(
    services: Sequence[Mapping[str, Any]],
    pod_labels: Mapping[str, str],
    deployment: str,
    wanted: str | None,
) -> dict[str, Any]:
    """The user's Service for the Deployment's pods, or BackendError (one line) saying why none."""
    matching = [dict(s) for s in services if selects(s, pod_labels) and not _is_twin(s)]
    names = sorted(str((s.get("metadata") or {}).get("name")) for s in matching)
    if wanted is not None:
        for service in matching:
            if (service.get("metadata") or {}).get("name") == wanted:
                return service
        found = f"those that do: {', '.join(names)}" if names else "none does"
        raise BackendError(
            f"kube: service {wanted!r} does not select the pods of deployment/{deployment} "
            f"({found})"
        )
    if not matching:
        raise BackendError(f"kube: deployment/{deployment} has no Service selecting its pods")
    if len(matching) > 1:
        raise BackendError(
            f"kube: several Services select the pods of deployment/{deployment} "
            f"({', '.join(names)}); name one with --target-service (kube.target_service)"
        )
    return matching[0]


def twin_name(service: str) -> str:
    """``drainlab-twin-<service>``, cut to a DNS label's 63 characters."""
    return (TWIN_PREFIX + service)[:63].rstrip("-")


def twin_labels(service: str, run_id: str) -> dict[str, str]:
    return {**app_labels(), LABEL_RUN: run_id, LABEL_TWIN_OF: service[:63].rstrip("-._")}


def twin_object(service: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """A NodePort Service with the user's Service's selector and ports (node ports left to the
    API server), labelled as drainlab's and with ``run_id``."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    name = str(meta.get("name"))
    ports = []
    for port in spec.get("ports") or []:
        copied = {k: port[k] for k in ("name", "protocol", "port", "targetPort") if k in port}
        ports.append(copied)
    if not ports:
        raise BackendError(f"kube: service {meta.get('namespace')}/{name} has no ports")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": twin_name(name),
            "namespace": meta.get("namespace"),
            "labels": twin_labels(name, run_id),
        },
        "spec": {"type": "NodePort", "selector": dict(spec.get("selector") or {}), "ports": ports},
    }


def node_port(twin: Mapping[str, Any]) -> int:
    """The node port of the twin's first port: the one the load goes to."""
    ports = (twin.get("spec") or {}).get("ports") or [{}]
    port = int(ports[0].get("nodePort") or 0)
    if not port:
        name = (twin.get("metadata") or {}).get("name")
        raise BackendError(f"kube: service {name} got no node port")
    return port


def _is_twin(service: Mapping[str, Any]) -> bool:
    labels = (service.get("metadata") or {}).get("labels") or {}
    return LABEL_TWIN_OF in labels


def delete_twin(api: Api, namespace: str, name: str, uid: str, run_id: str) -> bool:
    """Deletes the twin this run made: only the very object (by UID) and only while it carries
    this run's id. True when it asked for the deletion."""
    existing = api.read(SERVICE, name, namespace)
    meta = existing.get("metadata") or {}
    if not existing or meta.get("uid") != uid or run_of(existing) != run_id:
        log.warning(
            "kube: service %s/%s is not the twin this run made; left alone", namespace, name
        )
        return False
    return bool(api.delete(SERVICE, name, namespace, {"preconditions": {"uid": uid}}))


def sweep_twins(api: Api, namespace: str, run_id: str) -> list[str]:
    """Deletes the twins that killed runs left in the namespace; call it only while holding the
    namespace's Lease (then a twin of another run is a gone run's). Returns their names."""
    removed = []
    selector = selector_of(app_labels())
    for obj in api.list(SERVICE, namespace, label_selector=selector).get("items") or []:
        meta = obj.get("metadata") or {}
        owner = run_of(obj)
        if not _is_twin(obj) or owner in (None, run_id) or meta.get("namespace") != namespace:
            continue
        body = {"preconditions": {"uid": meta.get("uid")}}
        if api.delete(SERVICE, str(meta.get("name")), namespace, body):
            removed.append(f"service {meta.get('name')} (run {owner})")
    if removed:
        log.warning("kube: removed what earlier runs left in %s: %s", namespace, ", ".join(removed))
    return removed
