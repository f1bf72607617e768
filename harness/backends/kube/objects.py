"""What a run's objects are called and labelled, and the rules by which it owns them.

The objects themselves are the app's manifests (manifests.py), varied (variant.py) and adapted
to these names and labels (adapt.py); for the sample app they equal what
``manifests/overlays/<order>`` renders with kustomize (tests/backends/kube/test_kube_objects.py).

Every object carries the harness's labels, and the run's id (``drainlab.dev/run-id``): the
harness selects on all of them, and refuses to touch anything that lacks them (see :func:`owned`),
so two runs never see, replace or delete each other's objects. The namespace a run creates
carries its run id too: that run is its owner (apply.py, cleanup.py).
"""

from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.backends.kube.kinds import DEPLOYMENT, SERVICE, Kind

APP_NAME = "drainlab-sample"
MANAGED_BY = "drainlab"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_ORDER = "drainlab.dev/order"
LABEL_RUN = "drainlab.dev/run-id"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # what `kubectl rollout restart` sets

# The objects of an order, in the order deploy makes them; teardown deletes them in this order.
MANAGED: tuple[Kind, ...] = (DEPLOYMENT, SERVICE)

# One fixed nodePort per order, so kind's extraPortMappings can reach it (manifests/kind-config.yaml
# maps exactly these). An order not listed gets a nodePort chosen by the API server.
NODE_PORTS: dict[str, int] = {
    "naive": 30081,
    "close-first": 30082,
    "prestop": 30083,
    "graceful": 30084,
}


@dataclass(frozen=True, slots=True)
class Names:
    """What the objects of one order are called, and the labels that select them."""

    namespace: str
    deployment: str
    service: str
    labels: dict[str, str]  # on every object and pod of this order

    @property
    def selector(self) -> str:
        """The label selector (``k=v,k=v``) used on every list, watch and delete."""
        return selector_of(self.labels)

    def name_of(self, kind: Kind) -> str:
        """The name of the order's object of ``kind`` (one of MANAGED, or its budget: pdb.py)."""
        by_kind = {DEPLOYMENT.name: self.deployment, SERVICE.name: self.service}
        return by_kind.get(kind.name, self.deployment)


def names_for(
    variant: str,
    namespace: str,
    run_id: str | None = None,
    deployment: str = APP_NAME,
    service: str = APP_NAME,
) -> Names:
    """One variant's names and labels: ``<deployment>-<variant>`` and ``<service>-<variant>``,
    the manifests' names (the sample app's: drainlab-sample). ``run_id`` None only for the
    manifests users apply themselves (manifests/): every object a run makes carries its run id."""
    variant = in_object_names(variant)
    labels = {**app_labels(), LABEL_ORDER: variant}
    if run_id is not None:
        labels[LABEL_RUN] = run_id
    return Names(
        namespace=namespace,
        deployment=f"{deployment}-{variant}",
        service=f"{service}-{variant}",
        labels=labels,
    )


def in_object_names(variant: str) -> str:
    """A variant's name as object names and label values spell it: a fix's variant
    ``<variant>+fix`` (harness.verify) becomes ``<variant>-fix`` and a matrix cell's
    ``<variant>@<action>`` (harness.matrix) ``<variant>-<action>`` with '-' for '_', since
    neither may hold '+', '@' or '_'. Files and reports keep the variant's own name."""
    return re.sub(r"[^a-z0-9-]", "-", variant)


def new_run_id(stem: str | None = None) -> str:
    """A run id, unique across machines: ``stem`` (the run folder's name) and 6 random hex
    digits, fit for a label value (63 characters at most, alphanumeric at both ends)."""
    suffix = secrets.token_hex(3)
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", stem or "")[: 63 - len(suffix) - 1].strip("-._")
    return f"{cleaned}-{suffix}" if cleaned else suffix


def app_labels() -> dict[str, str]:
    """What every object of every run carries: leftovers of any run are found by these."""
    return {LABEL_NAME: APP_NAME, LABEL_MANAGED_BY: MANAGED_BY}


def selector_of(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def run_of(obj: Mapping[str, Any]) -> str | None:
    """The run id an object carries, None if it carries none."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    run = labels.get(LABEL_RUN)
    return str(run) if run else None


def namespace_labels(run_id: str | None = None) -> dict[str, str]:
    labels = {LABEL_MANAGED_BY: MANAGED_BY}
    if run_id is not None:
        labels[LABEL_RUN] = run_id
    return labels


def owned(obj: Mapping[str, Any], names: Names) -> bool:
    """True when ``obj`` is in the harness's namespace and carries every one of its labels."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if meta.get("namespace") != names.namespace:
        return False
    return all(labels.get(k) == v for k, v in names.labels.items())


def namespace_object(namespace: str, run_id: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": namespace_labels(run_id)},
    }


def now_iso() -> str:
    """Now, as a restart annotation says it (UTC, whole seconds)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def restart_patch(now_iso: str, max_surge: str, max_unavailable: str) -> dict[str, Any]:
    """A strategic-merge patch that restarts every pod, as ``kubectl rollout restart`` does.

    Changing a pod-template annotation makes a new ReplicaSet; the rollout limits come along.
    """
    return {
        "spec": {
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {
                    "maxSurge": _int_or_percent(max_surge),
                    "maxUnavailable": _int_or_percent(max_unavailable),
                },
            },
            "template": {"metadata": {"annotations": {RESTARTED_AT: now_iso}}},
        }
    }


def _int_or_percent(value: str) -> int | str:
    # IntOrString: "25%" stays a string, "1" must be sent as the integer 1.
    text = str(value).strip()
    return text if text.endswith("%") else int(text)
