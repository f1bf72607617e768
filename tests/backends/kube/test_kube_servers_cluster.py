"""Debian's nginx and lighttpd, apps not written for drainlab, through `harness run --backend
local` on the real local cluster, from a manifests folder and an image archive
(tests/helpers/images.py).

Known behaviour, so known verdicts: SIGTERM is nginx's fast shutdown and lighttpd's immediate
one (SIGQUIT and SIGINT are their graceful ones), so as they are ("current") they exit while the
Service still routes new connections to them, and those are refused; with a preStop sleep
("prestop") the endpoint is gone from every node's rules before SIGTERM, and nothing fails.
New connections per request: nginx closes idle keep-alive connections at any shutdown, fast or
graceful, so keep-alive clients race it whatever the variant (see the embedded proof).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.e2e import run_harness
from helpers.images import test_image
from helpers.userapp import write_folder

from harness.backends.clusters.local import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def _server(name: str, image: str) -> list[dict[str, Any]]:
    """A Deployment and a Service of test image ``name``: port 8080, ready when / answers."""
    labels = {"app": name}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 20,
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": "http"},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    return [deployment, service]


@pytest.mark.parametrize("server", ["nginx", "lighttpd"])
def test_server_drops_on_its_sigterm_shutdown_and_a_prestop_variant_drops_nothing(
    local_cluster: LocalCluster,
    tmp_path: Path,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    server: str,
) -> None:
    archive, ref = test_image(server)
    write_folder(tmp_path / "k8s", *_server(server, ref))
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "app": {"manifests": "k8s", "image_archive": str(archive)},
                "variants": {"current": {}, "prestop": {"prestop_sleep_s": 3}},
                "replicas": 3,
                "duration_s": 16,
                "traffic": {"users": 6, "keepalive": False, "requests": [{"path": "/"}]},
                # Two deletions of three replicas: a pod never deleted always serves, however
                # slowly a busy node starts the replacements (else the last ready pod may go:
                # no_ready_replica, the scenario's outage, not the app's).
                "chaos": {"count": 2, "start_after_s": 2, "every_s": 6},
                "gate": {"order": "prestop"},
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(local_cluster.kubeconfig))
    args = ["--backend", "local", "--namespace", namespace, "--scenario", str(scenario)]
    _, summary = run_harness([*args, "--gate", "prestop"], tmp_path / "out", timeout_s=600)
    results = summary["orders"]
    print(f"\n{server} on the local cluster:", json.dumps(
        {v: {k: r[k] for k in ("requests", "failed", "failures_by_class", "failures_by_phase")}
         for v, r in results.items()}
    ))  # fmt: skip
    assert list(results) == ["current", "prestop"]
    for variant, result in results.items():
        assert result["deletions"] == 2 and result["requests"] > 300, (variant, result)
    current, prestop = results["current"], results["prestop"]
    assert current["failed"] > 0, current  # new connections refused while the endpoint goes
    refused = current["failures_by_class"].get("connection_refused", 0)
    assert refused > 0, current["failures_by_class"]
    assert prestop["failed"] == 0, prestop["failures_by_class"]
    assert summary["gate"]["ok"] is True, summary["gate"]
