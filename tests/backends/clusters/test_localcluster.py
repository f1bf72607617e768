"""The local real cluster runs the sample app as the harness needs it.

On the real single-node Kubernetes (cluster-local/), with the official client: a 2-replica
Deployment of the sample-app image (graceful order, readiness on /readyz, a preStop sleep) gets
ready, its NodePort Service answers on 127.0.0.1 from the pods, the pod logs carry the app's
JSON ``started`` line, and deleting a pod takes its IP out of the Service's Endpoints.
The small tests at the end check the Python layer (the scripts' output read, the provisioner),
no cluster.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.backends.clusters import ClusterTarget, local
from harness.backends.clusters.local import LocalCluster
from harness.backends.kube import KubeBackend
from harness.backends.select import BACKENDS, Choice, choose_backend, make_backend
from harness.errors import BackendError
from harness.scenario import Scenario

IMAGE = "drainlab/sample-app:0.1.0"
APP_PORT = 8080
PRESTOP_SLEEP_S = 5  # longer than any endpoint removal should take, even on a busy machine
T = TypeVar("T")


def wait_until(what: str, check: Callable[[], T | None], timeout_s: float) -> T:
    """Poll ``check`` until it returns something other than None (or False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


def _create_ready(core: client.CoreV1Api, name: str) -> None:
    """Creates the namespace and waits until it admits pods."""
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    def default_token() -> bool:
        # Pods are admitted once the namespace's default service account has its token.
        try:
            sa = core.read_namespaced_service_account("default", name)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return bool(sa.secrets)

    wait_until("the namespace's default service account", default_token, 60)


def _deployment(name: str) -> client.V1Deployment:
    labels = {"app": name}
    container = client.V1Container(
        name="app",
        image=IMAGE,
        image_pull_policy="Never",
        command=["python3", "/app/app.py"],
        ports=[client.V1ContainerPort(container_port=APP_PORT)],
        env=[
            client.V1EnvVar(name="SHUTDOWN_ORDER", value="graceful"),
            client.V1EnvVar(name="PORT", value=str(APP_PORT)),
            client.V1EnvVar(
                name="POD_NAME",
                value_from=client.V1EnvVarSource(
                    field_ref=client.V1ObjectFieldSelector(field_path="metadata.name")
                ),
            ),
        ],
        readiness_probe=client.V1Probe(
            http_get=client.V1HTTPGetAction(path="/readyz", port=APP_PORT),
            period_seconds=1,
            failure_threshold=1,
        ),
        lifecycle=client.V1Lifecycle(
            pre_stop=client.V1LifecycleHandler(
                _exec=client.V1ExecAction(command=["sleep", str(PRESTOP_SLEEP_S)])
            )
        ),
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container], termination_grace_period_seconds=30),
            ),
        ),
    )


def _service(name: str) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1ServiceSpec(
            type="NodePort",
            selector={"app": name},
            ports=[client.V1ServicePort(port=80, target_port=APP_PORT, protocol="TCP")],
        ),
    )


def _get(url: str) -> tuple[int, str, dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=3) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return resp.status, resp.headers.get("X-Served-By", ""), body


def _name(pod: client.V1Pod) -> str:
    assert pod.metadata is not None and pod.metadata.name is not None
    return pod.metadata.name


def _ip(pod: client.V1Pod) -> str:
    assert pod.status is not None and pod.status.pod_ip is not None
    return pod.status.pod_ip


def _ready_ips(core: client.CoreV1Api, namespace: str, name: str) -> set[str]:
    ep = core.read_namespaced_endpoints(name, namespace)
    return {a.ip for s in ep.subsets or [] for a in s.addresses or []}


@pytest.mark.cluster
def test_sample_app_on_the_local_cluster(
    local_cluster: LocalCluster, api: client.ApiClient, namespace: str
) -> None:
    _create_ready(client.CoreV1Api(api), namespace)
    assert local_cluster.kubernetes_version.startswith("v1.")
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    name = "sample-app"
    apps.create_namespaced_deployment(namespace, _deployment(name))
    svc = core.create_namespaced_service(namespace, _service(name))
    assert svc.spec is not None and svc.spec.ports
    node_port = svc.spec.ports[0].node_port
    assert node_port

    def deployment_ready() -> bool:
        d = apps.read_namespaced_deployment_status(name, namespace)
        return d.status is not None and (d.status.ready_replicas or 0) == 2

    wait_until("2 ready replicas", deployment_ready, 120)
    pods = core.list_namespaced_pod(namespace, label_selector=f"app={name}").items
    pod_names = {_name(p) for p in pods}
    assert len(pod_names) == 2

    # The Service answers on loopback, from the pods (kube-proxy may need a sync to catch up).
    url = f"http://{local_cluster.node_host}:{node_port}/"

    def answers() -> tuple[int, str, dict[str, Any]] | None:
        try:
            return _get(url)
        except OSError:
            return None

    status, served_by, body = wait_until(f"an answer from {url}", answers, 30)
    assert status == 200
    assert served_by in pod_names
    assert body["order"] == "graceful"
    # Both pods take traffic once kube-proxy has synced the second endpoint.
    seen = {served_by}
    deadline = time.monotonic() + 15
    while seen != pod_names and time.monotonic() < deadline:
        seen.add(_get(url)[1])
    assert seen == pod_names, f"requests for 15 s reached only {seen} of {pod_names}"

    # Each pod's log carries the app's JSON started line, naming the pod.
    for pod in pod_names:
        log = core.read_namespaced_pod_log(pod, namespace, container="app")
        events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        started = [e for e in events if e.get("event") == "started"]
        assert started, f"no started line in {pod}'s log: {log[:300]!r}"
        assert started[0]["pod"] == pod
        assert started[0]["port"] == APP_PORT

    # Deleting a pod takes its IP out of the Endpoints, while the other one stays.
    victim = sorted(pods, key=_name)[0]
    victim_ip = _ip(victim)
    assert _ready_ips(core, namespace, name) == {_ip(p) for p in pods}
    t0 = time.monotonic()
    core.delete_namespaced_pod(_name(victim), namespace)
    wait_until(
        f"{victim_ip} to leave the Endpoints",
        lambda: victim_ip not in _ready_ips(core, namespace, name),
        10,
    )
    removed_after = time.monotonic() - t0
    assert removed_after < PRESTOP_SLEEP_S, f"endpoint removed only after {removed_after:.2f} s"
    others = {_ip(p) for p in pods} - {victim_ip}
    assert others <= _ready_ips(core, namespace, name)


READY = (
    "drainlab-local: ready: kubeconfig=/var/lib/drainlab-local/kubeconfig context=drainlab-local"
    " version=v1.20.2 node=drainlab-local host=127.0.0.1 started=1"
)


def test_ready_line_gives_the_cluster() -> None:
    cluster = local._parse_ready(["drainlab-local: etcd up", READY])
    assert cluster is not None
    assert str(cluster.kubeconfig) == "/var/lib/drainlab-local/kubeconfig"
    assert (cluster.context, cluster.kubernetes_version) == ("drainlab-local", "v1.20.2")
    assert (cluster.node_host, cluster.node_name, cluster.started) == (
        "127.0.0.1",
        "drainlab-local",
        True,
    )
    assert local._parse_ready(["drainlab-local: down"]) is None
    with pytest.raises(BackendError, match="lacks context"):
        local._parse_ready([READY.replace("context=drainlab-local ", "")])


def test_first_error_line_is_the_reason() -> None:
    lines = [
        "drainlab-local: etcd up",
        "drainlab-local: error: port 6443 is already in use on this machine: LISTEN ...",
        "drainlab-local: error: containerd or the image import failed (see above)",
    ]
    assert local._error_line(lines, "up.sh", 1) == (
        "local cluster: port 6443 is already in use on this machine: LISTEN ..."
    )
    assert local._error_line(["boom", ""], "down.sh", 2) == (
        "local cluster: down.sh failed (exit 2): boom"
    )


def test_not_root_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.system", lambda: "Linux")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    reason = local.unsupported_reason()
    assert reason is not None and "needs root" in reason
    with pytest.raises(BackendError, match="needs root"):
        local.ensure_up()


def test_the_provisioner_hands_the_kube_backend_the_ready_lines_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ready = local._parse_ready([READY])
    assert ready is not None
    seen: list[object] = []

    def ensure_up(progress: object = None) -> LocalCluster:
        seen.append(progress)
        return ready

    monkeypatch.setattr(local, "ensure_up", ensure_up)
    said: list[str] = []
    target = local.LocalProvisioner(said.append).ensure_up()
    assert target == ClusterTarget(ready.kubeconfig, "drainlab-local", "127.0.0.1", started=True)
    assert seen == [said.append]  # the scripts' lines go where the provisioner was told


def test_backend_local_is_the_kube_backend_on_the_local_cluster_brought_up_at_deploy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def ensure_up(progress: object = None) -> LocalCluster:
        raise AssertionError("brought up before the first deploy")

    monkeypatch.setattr(local, "ensure_up", ensure_up)
    backend = make_backend(Choice("local", "test"), Scenario(), tmp_path)
    assert isinstance(backend, KubeBackend) and backend.name == "local"
    assert choose_backend("local", Scenario()).name == "local"
    assert BACKENDS == ("auto", "embedded", "local", "kind", "kube")
