"""A user's app as manifests, written by tests: a Deployment and a Service of Python's
http.server (in the sample app's image, which has python3) and a kustomization.

As PID 1 of its container, ``python3 -m http.server`` has no SIGTERM handler, so it ignores
SIGTERM (the kernel drops default-action signals sent to a pid namespace's init): the kubelet
kills it at the end of the grace period (exit code 137). It answers "/" with 200.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

IMAGE = "drainlab/sample-app:0.1.0"


def deployment(name: str = "web", grace_s: int = 8, **pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "their-team", "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "front"}},
                "spec": {
                    "terminationGracePeriodSeconds": grace_s,
                    "containers": [
                        {
                            "name": "server",
                            "image": IMAGE,
                            "command": ["python3", "-m", "http.server", "8080"],
                            "ports": [{"name": "web", "containerPort": 8080}],
                            "env": [{"name": "GREETING", "value": "hi"}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": "web"},
                                "periodSeconds": 1,
                                "failureThreshold": 1,
                            },
                        }
                    ],
                    **pod,
                },
            },
        },
    }


def service(name: str = "web", selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "their-team"},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.0.0.9",
            "selector": {"app": name} if selector is None else selector,
            "ports": [{"port": 80, "targetPort": "web", "nodePort": 31999}],
        },
    }


def write_file(path: Path, *docs: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def write_folder(folder: Path, *docs: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """A kustomize folder: one file per object, and a kustomization listing them (with
    ``extra`` fields, e.g. namePrefix, which only kustomize itself renders)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, doc in enumerate(docs):
        name = f"{i}-{doc['kind'].lower()}.yaml"
        (folder / name).write_text(yaml.safe_dump(doc, sort_keys=False))
        files.append(name)
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    kustomization["resources"] = files  # type: ignore[assignment]
    kustomization.update(extra or {})
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return folder
