"""The data-plane agent's objects: a ConfigMap holding the agent script, a DaemonSet running it.

Both carry the order's labels and run id (objects.py), so teardown and a later run's crash
cleanup find and remove them like the app's (cleanup.py); a component label tells them apart.
The agent's pods carry other labels: neither the app's Service nor the run's pod watch may
select them (they would be taken for the app's pods).

What the agent may do is only what it reads (harness/dataplane/agent.py): ``hostNetwork`` to
reach kube-proxy's metrics at 127.0.0.1:10249, no service account token, never privileged, no
privilege escalation, every capability dropped, and an unprivileged user; only with
``data_plane.read_nat`` it runs as root with NET_ADMIN and NET_RAW added (what ``iptables-save``
needs), still not privileged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.backends.kube.kinds import CONFIG_MAP, DAEMON_SET, Kind
from harness.backends.kube.objects import (
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_ORDER,
    LABEL_RUN,
    MANAGED_BY,
    Names,
)
from harness.dataplane import agent
from harness.dataplane.settings import DataPlane

AGENT_NAME = "drainlab-agent"
LABEL_COMPONENT = "drainlab.dev/component"
CONTAINER = "agent"
MOUNT = "/drainlab-agent"
NOBODY = 65534
# In the order deploy makes them; teardown deletes them in reverse.
AGENT_KINDS: tuple[Kind, ...] = (CONFIG_MAP, DAEMON_SET)
SHIPPED = ("agent.py", "natrules.py")  # the files of harness/dataplane the ConfigMap carries


def agent_name(names: Names) -> str:
    """The ConfigMap's and the DaemonSet's name: one agent per order."""
    return f"{AGENT_NAME}-{names.labels.get(LABEL_ORDER, 'run')}"


def object_labels(names: Names) -> dict[str, str]:
    return {**names.labels, LABEL_COMPONENT: "agent"}


def pod_labels(names: Names) -> dict[str, str]:
    """The agent pods' labels: drainlab's and the run's, never the app's name or order."""
    labels = {LABEL_NAME: AGENT_NAME, LABEL_MANAGED_BY: MANAGED_BY, LABEL_COMPONENT: "agent"}
    if LABEL_RUN in names.labels:
        labels[LABEL_RUN] = names.labels[LABEL_RUN]
    return labels


def pod_selector(names: Names) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(pod_labels(names).items()))


def config_map(names: Names) -> dict[str, Any]:
    folder = Path(agent.__file__).parent
    data = {f: (folder / f).read_text("utf-8") for f in SHIPPED if (folder / f).is_file()}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(names),
        "data": data,
    }


def daemon_set(names: Names, settings: DataPlane, image: str) -> dict[str, Any]:
    """The DaemonSet that runs one agent on every node, watching ``names.service``."""
    command = [
        "python3",
        f"{MOUNT}/agent.py",
        "--namespace",
        names.namespace,
        "--service",
        names.service,
        "--interval-ms",
        f"{settings.interval_ms:g}",
    ]
    if settings.read_nat:
        command.append("--read-nat")
    container = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": [
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        "volumeMounts": [{"name": CONTAINER, "mountPath": MOUNT, "readOnly": True}],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"memory": "128Mi"},
        },
        "securityContext": _security(settings.read_nat),
    }
    labels = pod_labels(names)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(names),
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostNetwork": True,
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 1,
                    # Every node's proxy routes to the Service, tainted nodes' too.
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [container],
                    "volumes": [{"name": CONTAINER, "configMap": {"name": agent_name(names)}}],
                },
            },
        },
    }


def _security(read_nat: bool) -> dict[str, Any]:
    context: dict[str, Any] = {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    if read_nat:
        context["capabilities"]["add"] = ["NET_ADMIN", "NET_RAW"]
        context["runAsUser"] = 0  # iptables-save reads the rules as root with NET_ADMIN
    else:
        context.update(runAsNonRoot=True, runAsUser=NOBODY, runAsGroup=NOBODY)
    return context


def _meta(names: Names) -> dict[str, Any]:
    return {"name": agent_name(names), "namespace": names.namespace, "labels": object_labels(names)}
