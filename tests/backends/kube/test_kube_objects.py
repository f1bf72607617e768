"""The objects the kube backend applies for the sample app equal what `kubectl kustomize`
renders from manifests/overlays/<order>.

The harness deploys the sample app as any app: its shipped base (manifests/base), varied by the
order's built-in variant and adapted (adapt.py); users apply manifests/overlays/<order> with
kubectl. They must not drift: compared here object by object (env as a mapping, since its
order does not matter to Kubernetes), for every order.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml
from helpers.kubeobjects import deployment_object, service_object
from helpers.paths import REPO

from harness.appspec import Variant
from harness.backends.base import DeploySpec
from harness.backends.kube.objects import (
    NODE_PORTS,
    RESTARTED_AT,
    names_for,
    namespace_object,
    owned,
    restart_patch,
)
from harness.backends.kube.variant import grace_seconds
from harness.orders import DEFAULT_ORDERS
from harness.scenario import Scenario

MANIFESTS = REPO / "manifests"
KUBECTL = shutil.which("kubectl")


def _normalise(obj: dict[str, Any]) -> dict[str, Any]:
    """Env lists become mappings: their order means nothing to Kubernetes."""
    if obj.get("kind") == "Deployment":
        for container in obj["spec"]["template"]["spec"]["containers"]:
            container["env"] = {
                e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])
            }
    return obj


def _rendered(order: str) -> dict[str, dict[str, Any]]:
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", str(MANIFESTS / "overlays" / order)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {doc["kind"]: _normalise(doc) for doc in yaml.safe_load_all(out) if doc}


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH")
@pytest.mark.parametrize("order", DEFAULT_ORDERS)
def test_python_objects_equal_kustomize_overlay(order: str) -> None:
    rendered = _rendered(order)
    names = names_for(order, "drainlab")
    built = {
        "Namespace": namespace_object("drainlab"),
        "Deployment": _normalise(
            deployment_object(Scenario().deploy_spec(order), names, Scenario().kube.image)
        ),
        "Service": service_object(order, names),
    }
    assert set(rendered) == set(built)
    for kind, obj in built.items():
        assert rendered[kind] == obj, f"{kind} of {order} differs from the kustomize overlay"


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH")
def test_only_the_prestop_overlay_has_a_prestop_exec_sleep() -> None:
    for order in DEFAULT_ORDERS:
        container = _rendered(order)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
        if order == "prestop":
            hook = container["lifecycle"]["preStop"]
            assert hook == {"exec": {"command": ["sleep", "5"]}}, "exec sleep, never httpGet"
        else:
            assert "lifecycle" not in container


def test_kind_config_maps_every_order_nodeport_on_localhost() -> None:
    config = yaml.safe_load((MANIFESTS / "kind-config.yaml").read_text())
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    roles = [n["role"] for n in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    mappings = config["nodes"][0]["extraPortMappings"]
    assert {m["containerPort"] for m in mappings} == set(NODE_PORTS.values())
    for m in mappings:
        assert m["hostPort"] == m["containerPort"]  # Target is (node_host, nodePort)
        assert m["listenAddress"] == "127.0.0.1"
    for order in DEFAULT_ORDERS:
        port = service_object(order, names_for(order, "drainlab"))["spec"]["ports"][0]
        assert port["nodePort"] == NODE_PORTS[order]


def test_every_object_carries_every_label_and_the_selector_names_them_all() -> None:
    names = names_for("graceful", "ns1")
    dep = deployment_object(Scenario().deploy_spec("graceful"), names, "img:1")
    svc = service_object("graceful", names)
    for obj in (dep, svc):
        assert owned(obj, names)
    assert dep["spec"]["template"]["metadata"]["labels"] == names.labels
    assert dep["spec"]["selector"]["matchLabels"] == names.labels
    assert svc["spec"]["selector"] == names.labels
    assert names.selector == (
        "app.kubernetes.io/managed-by=drainlab,app.kubernetes.io/name=drainlab-sample,"
        "drainlab.dev/order=graceful"
    )


def test_owned_needs_every_label_and_the_namespace() -> None:
    names = names_for("naive", "ns1")
    good = {"metadata": {"namespace": "ns1", "labels": dict(names.labels)}}
    assert owned(good, names)
    other_ns = {"metadata": {"namespace": "ns2", "labels": dict(names.labels)}}
    assert not owned(other_ns, names)
    for key in names.labels:
        labels = dict(names.labels)
        del labels[key]
        assert not owned({"metadata": {"namespace": "ns1", "labels": labels}}, names)
    other_order = {**names.labels, "drainlab.dev/order": "graceful"}
    assert not owned({"metadata": {"namespace": "ns1", "labels": other_order}}, names)


def test_spec_values_reach_the_pod_template() -> None:
    spec = DeploySpec(
        variant="prestop",
        replicas=5,
        change=Variant(
            env={"SHUTDOWN_ORDER": "prestop", "DRAIN_TIMEOUT": "7"},
            prestop_sleep_s=2.5,
            grace_period_s=12.2,
        ),
    )
    dep = deployment_object(spec, names_for("prestop", "x"), "img:2")
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert dep["spec"]["replicas"] == 5
    assert pod["terminationGracePeriodSeconds"] == 13  # rounded up, never less than asked
    assert container["image"] == "img:2"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "2.5"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DRAIN_TIMEOUT"] == "7" and env["SHUTDOWN_ORDER"] == "prestop"
    assert env["PORT"] == "8080"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_unknown_order_gets_an_api_chosen_nodeport() -> None:
    svc = service_object("graceful-quiet", names_for("graceful-quiet", "x"))
    assert "nodePort" not in svc["spec"]["ports"][0]


def test_grace_seconds_rounds_up_to_whole_seconds() -> None:
    assert grace_seconds(30.0) == 30
    assert grace_seconds(0.2) == 1
    assert grace_seconds(4.01) == 5


def test_restart_patch_sets_the_annotation_and_int_or_percent_limits() -> None:
    patch = restart_patch("2026-01-01T00:00:00Z", "1", "25%")
    assert patch["spec"]["template"]["metadata"]["annotations"] == {
        RESTARTED_AT: "2026-01-01T00:00:00Z"
    }
    assert patch["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": "25%"}
    with pytest.raises(ValueError):
        restart_patch("t", "many", "1")
