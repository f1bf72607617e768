"""The fix on the local real cluster (Kubernetes v1.20): the server version read from it picks
the spelling, its API server takes the patched Deployment in a server-side dry run (and refuses
the `sleep` action, which 1.20 does not know), and the `sleep` check finds the binary in the
sample app's image and not in the pause image."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.namespaces import wait_for_service_account
from kubernetes import client

from harness.appspec import App, Variant
from harness.backends.clusters.local import LocalCluster
from harness.backends.kube.client import server_minor
from harness.backends.kube.sleepcheck import PRESENT, sleep_binary
from harness.fixes.model import FieldChange, Fix
from harness.fixes.patch import render_patch
from harness.fixes.validate import (
    SERVER,
    client_check,
    running_dry_run,
    running_target,
    server_dry_run,
    variant_deployment,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

FIX = Fix(
    variant="close-first",
    change=Variant(prestop_sleep_s=3.0, grace_period_s=9.0),
    fields=(FieldChange("preStop", "sleep 3", "p99 1.29 s + 1 s"),),
    file="fix-close-first.yaml",
)


@pytest.fixture
def made(core: client.CoreV1Api, namespace: str) -> Iterator[str]:
    core.create_namespace({"metadata": {"name": namespace}})
    wait_for_service_account(core, namespace)  # pods are refused until then
    yield namespace


def test_server_dry_run_takes_the_1_20_spelling_and_refuses_the_sleep_action(
    api: client.ApiClient, local_cluster: LocalCluster, made: str, tmp_path: Path
) -> None:
    minor = server_minor(api)
    assert minor == 20
    found = variant_deployment(App(), "close-first", Variant())
    assert found is not None
    deployment, target = found
    verdicts = {}
    for spelled_for in (minor, 31):
        path = tmp_path / f"fix-{spelled_for}.yaml"
        path.write_text(render_patch(FIX, target, spelled_for).text)
        verdict, patched = client_check(deployment, path, target.container)
        assert verdict == "client" and patched is not None  # kubectl's client side takes both
        verdicts[spelled_for] = server_dry_run(
            patched, local_cluster.kubeconfig, local_cluster.context, made
        )
    assert verdicts[20] == SERVER
    assert verdicts[31] is not None and verdicts[31].startswith("server dry run refused it")
    # Nothing was stored.
    apps = client.AppsV1Api(api)
    assert apps.list_namespaced_deployment(made).items == []
    # A namespace that is not there: no dry run, said by None.
    path = tmp_path / "fix-20.yaml"
    _, patched = client_check(deployment, path, target.container)
    assert patched is not None
    assert (
        server_dry_run(patched, local_cluster.kubeconfig, local_cluster.context, made + "x") is None
    )


def _node_image(core: client.CoreV1Api, prefix: str) -> str:
    for node in core.list_node().items:
        for image in node.status.images or []:
            for name in image.names or []:
                if name.startswith(prefix):
                    return str(name)
    pytest.skip(f"no image {prefix}* on the node")


def _running_pod(core: client.CoreV1Api, namespace: str, name: str, image: str) -> None:
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": image,
                        "imagePullPolicy": "Never",
                        "env": [{"name": "SHUTDOWN_ORDER", "value": "naive"}],  # the sample's
                    }
                ],
                "terminationGracePeriodSeconds": 1,
            },
        },
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(name, namespace)
        if pod.status.phase == "Running":
            return
        time.sleep(0.5)
    raise AssertionError(f"pod {name} did not start: {pod.status}")


def test_the_sleep_check_finds_sleep_in_the_sample_image_and_not_in_pause(
    api: client.ApiClient, core: client.CoreV1Api, made: str
) -> None:
    _running_pod(core, made, "with-sleep", _node_image(core, "docker.io/drainlab/sample-app:"))
    _running_pod(core, made, "pause-only", _node_image(core, "registry.k8s.io/pause:"))
    assert sleep_binary(api, made, "with-sleep", "app", 20.0) == PRESENT
    absent = sleep_binary(api, made, "pause-only", "app", 20.0)
    assert absent.startswith("absent: `sleep 0` in pod pause-only"), absent


def test_a_target_runs_patch_is_dry_run_onto_the_running_deployment_and_leaves_it_as_it_is(
    api: client.ApiClient, local_cluster: LocalCluster, made: str, tmp_path: Path
) -> None:
    found = variant_deployment(App(), "close-first", Variant())
    assert found is not None
    deployment = dict(found[0])
    deployment["metadata"] = {"name": "shop", "labels": deployment["metadata"].get("labels")}
    deployment["spec"] = {**deployment["spec"], "replicas": 0}  # the object, no pods
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(made, deployment)
    where = (local_cluster.kubeconfig, local_cluster.context)
    target = running_target("shop", *where, made)
    assert target is not None and (target.deployment, target.container) == ("shop", "app")
    path = tmp_path / "fix.yaml"
    path.write_text(render_patch(FIX, target, 20).text)
    assert running_dry_run("shop", path, *where, made) == SERVER
    path.write_text(render_patch(FIX, target, 31).text)
    assert running_dry_run("shop", path, *where, made).startswith("server dry run refused it")
    left = apps.read_namespaced_deployment("shop", made).spec.template.spec
    assert left.containers[0].lifecycle is None  # nothing was written
    assert running_target("nothing-here", *where, made) is None
