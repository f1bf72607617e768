"""The objects of load sent from inside the cluster (traffic.from: cluster): a locust master pod,
N worker pods, and the Service through which the workers reach the master.

The Service carries the order's labels and run id (objects.py), so teardown and a later run's
crash cleanup find and remove it like the app's (cleanup.py); the pods are owned by it
(ownerReferences), so they go with it. The pods carry other labels than the app's: neither the
app's Service nor the run's pod watch may select them. Workers prefer distinct nodes
(anti-affinity), so that each node's proxy is seen by its own clients.

Each pod runs ``python3 -m locust`` with drainlab's locustfile from the load image; its settings
come in its environment (harness.load.config), and its record and status lines go to its stdout
(the container log), from where the harness reads them (loadpods.py).
"""

from __future__ import annotations

from typing import Any

from harness.backends.kube.agentobjects import LABEL_COMPONENT
from harness.backends.kube.objects import (
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_ORDER,
    LABEL_RUN,
    MANAGED_BY,
    Names,
)

LOAD_NAME = "drainlab-load"
MASTER_PORT = 5557
CONTAINER = "locust"
LOCUSTFILE = "/opt/drainlab/harness/load/locustfile.py"  # where the load image has the harness
STDOUT = "/dev/stdout"  # records and status lines: the container log, read by the harness
NOBODY = 65534


def service_name(names: Names) -> str:
    return f"{LOAD_NAME}-{names.labels.get(LABEL_ORDER, 'run')}"[:63].rstrip("-")


def master_name(names: Names) -> str:
    return f"{service_name(names)}-master"[:63]


def worker_name(names: Names, worker: int) -> str:
    return f"{service_name(names)}-w{worker}"[:63]


def pod_labels(names: Names, role: str) -> dict[str, str]:
    """The load pods' labels: drainlab's and the run's, never the app's name or order."""
    labels = {LABEL_NAME: LOAD_NAME, LABEL_MANAGED_BY: MANAGED_BY, LABEL_COMPONENT: f"load-{role}"}
    if LABEL_RUN in names.labels:
        labels[LABEL_RUN] = names.labels[LABEL_RUN]
    return labels


def pods_selector(names: Names, any_run: bool = False) -> str:
    """Every load pod of the run (master and workers), or of any run."""
    labels = {LABEL_NAME: LOAD_NAME, LABEL_MANAGED_BY: MANAGED_BY}
    if LABEL_RUN in names.labels and not any_run:
        labels[LABEL_RUN] = names.labels[LABEL_RUN]
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def service(names: Names) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(names),
            "namespace": names.namespace,
            "labels": {**names.labels, LABEL_COMPONENT: "load"},
        },
        "spec": {
            "type": "ClusterIP",
            "selector": pod_labels(names, "master"),
            "ports": [{"name": "locust", "port": MASTER_PORT, "targetPort": MASTER_PORT}],
        },
    }


def pod(
    names: Names,
    owner: dict[str, Any],
    image: str,
    arguments: list[str],
    env: dict[str, str],
    worker: int | None,
    stop_timeout_s: int,
) -> dict[str, Any]:
    """A master (``worker`` None) or worker pod, owned by the load Service ``owner``."""
    role = "master" if worker is None else "worker"
    meta = owner.get("metadata") or {}
    container = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", "-m", "locust", "-f", LOCUSTFILE, *arguments],
        "env": [
            *({"name": k, "value": v} for k, v in sorted(env.items())),
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
        "securityContext": {
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": NOBODY,
            "runAsGroup": NOBODY,
        },
    }
    if worker is None:
        container["ports"] = [{"containerPort": MASTER_PORT, "name": "locust"}]
    spec: dict[str, Any] = {
        "restartPolicy": "Never",  # a worker that dies is a death, not a new worker
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # Users finish their request within the stop-timeout; then locust exits on its own.
        "terminationGracePeriodSeconds": stop_timeout_s + 10,
        "containers": [container],
    }
    if worker is not None:
        spec["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": pod_labels(names, "worker")},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": master_name(names) if worker is None else worker_name(names, worker),
            "namespace": names.namespace,
            "labels": pod_labels(names, role),
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": meta.get("name"),
                    "uid": meta.get("uid"),
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }
