"""The node's NAT rules on the real local cluster, read from this machine: a Service's endpoints
there are exactly its ready pods' IP:PORTs (every port), and a deleted pod's leave.

In a namespace of its own (deleted at the end): a 3-replica Deployment of the sample app and a
ClusterIP Service with two ports (80 -> 8080, the app; 81 -> 9090, nothing listens: kube-proxy
programs it all the same). The rules are read through LocalProvisioner.read_node_nat, reduced
by natrules.service_endpoints, and watched with the NatPoller the kube session uses.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable

import pytest
from helpers.namespaces import wait_for_service_account
from kubernetes import client

from harness.backends.clusters.local import LocalCluster, LocalProvisioner
from harness.dataplane.hostnat import NatPoller
from harness.dataplane.natrules import service_endpoints

pytestmark = pytest.mark.cluster

IMAGE = "drainlab/sample-app:0.1.0"
NAME = "web"
PORTS = (("http", 80, 8080), ("alt", 81, 9090))
REPLICAS = 3


def wait_for(what: str, check: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"no {what} after {timeout_s:.0f} s"
        time.sleep(0.2)


def create_app(api: client.ApiClient, namespace: str) -> None:
    labels = {"app": NAME}
    container = client.V1Container(
        name="app",
        image=IMAGE,
        image_pull_policy="Never",
        ports=[client.V1ContainerPort(container_port=8080, name="http")],
        env=[
            client.V1EnvVar(name="SHUTDOWN_ORDER", value="naive"),
            client.V1EnvVar(name="PORT", value="8080"),
        ],
        readiness_probe=client.V1Probe(
            http_get=client.V1HTTPGetAction(path="/readyz", port=8080), period_seconds=1
        ),
    )
    pod = client.V1PodSpec(containers=[container], termination_grace_period_seconds=5)
    client.AppsV1Api(api).create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name=NAME),
            spec=client.V1DeploymentSpec(
                replicas=REPLICAS,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels), spec=pod
                ),
            ),
        ),
    )
    client.CoreV1Api(api).create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name=NAME),
            spec=client.V1ServiceSpec(
                selector=labels,
                ports=[
                    client.V1ServicePort(name=n, port=p, target_port=t, protocol="TCP")
                    for n, p, t in PORTS
                ],
            ),
        ),
    )


def ready_pods(core: client.CoreV1Api, namespace: str) -> dict[str, str]:
    """name -> IP of the pods that are ready and not being deleted."""
    pods = core.list_namespaced_pod(namespace, label_selector=f"app={NAME}").items
    return {
        p.metadata.name: p.status.pod_ip
        for p in pods
        if p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    }


def addresses(ips: Iterable[str]) -> frozenset[str]:
    """The Service's endpoints on pods at ``ips``: one per pod and port."""
    return frozenset(f"{ip}:{target}" for ip in ips for _, _, target in PORTS)


def test_a_deleted_pods_endpoints_leave_the_nodes_nat_rules(
    local_cluster: LocalCluster, api: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    wait_for_service_account(core, namespace)
    create_app(api, namespace)
    wait_for(f"{REPLICAS} ready pods", lambda: len(ready_pods(core, namespace)) == REPLICAS, 120)
    pods = ready_pods(core, namespace)
    node = local_cluster.node_name
    provisioner = LocalProvisioner()

    snapshots: queue.Queue[tuple[float, frozenset[str]]] = queue.Queue()
    errors: list[str] = []
    poller = NatPoller(
        lambda: provisioner.read_node_nat(node),
        namespace,
        NAME,
        node,
        lambda _node, _method, ts, seen: snapshots.put((ts, seen)),
        interval_s=0.05,
        on_error=errors.append,
    )

    def next_snapshot(until: float) -> frozenset[str]:
        left = until - time.monotonic()
        assert left > 0, "the NAT rules did not change in time"
        return snapshots.get(timeout=left)[1]

    poller.start()
    try:
        # kube-proxy programs the endpoints on its next sync after they became ready.
        every = addresses(pods.values())
        deadline = time.monotonic() + 30
        while next_snapshot(deadline) != every:
            pass
        text = provisioner.read_node_nat(node)
        assert service_endpoints(text, namespace, NAME) == every
        assert service_endpoints(text, namespace, NAME + "-x") == frozenset()

        victim, victim_ip = sorted(pods.items())[0]
        gone = addresses([victim_ip])
        others = every - gone
        core.delete_namespaced_pod(victim, namespace)
        deadline = time.monotonic() + 10
        while True:
            seen = next_snapshot(deadline)
            if not seen & gone:
                break
        assert others <= seen  # the other pods' endpoints stay routed
    finally:
        poller.stop()
    assert errors == []
    assert poller.failed is None
