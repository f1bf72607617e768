"""The app's images on the real local cluster: imported into its containerd, and served by a pod.

Each test names its images uniquely (a re-tagged copy of the test image, tests/helpers/images.py)
and removes them at the end, and works in a namespace of its own that it creates and deletes with
kubectl; nothing else in the cluster is touched.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.images import hollow_docker_save, oci_layout, retagged, test_image
from helpers.localkube import kubectl
from helpers.localkube import own_namespace as namespace_of_its_own
from helpers.paths import REPO

from harness.backends.clusters.containerd import Containerd
from harness.backends.clusters.images import normalize_ref
from harness.backends.clusters.local import LocalCluster, LocalProvisioner, containerd_socket
from harness.errors import BackendError

pytestmark = pytest.mark.cluster

NETNS = "/run/netns/drainlab-local"


@pytest.fixture
def node(local_cluster: LocalCluster) -> Containerd:
    return Containerd(containerd_socket(), "local cluster")


@pytest.fixture
def own_ref(node: Containerd) -> Iterator[str]:
    """An image reference of this test's own; removed from the node at the end."""
    ref = f"drainlab/h6-test-nginx:{uuid.uuid4().hex[:10]}"
    yield ref
    full = normalize_ref(ref)
    digest = node.targets().get(full)
    if digest is None:
        return
    node.remove([full])
    left = node.targets()
    assert full not in left
    # The image ID the CRI added went too, unless another name (another test's) still uses it.
    if not any(d == digest and not r.startswith("sha256:") for r, d in left.items()):
        assert digest not in left.values()


@pytest.fixture
def own_namespace(local_cluster: LocalCluster) -> Iterator[str]:
    with namespace_of_its_own(local_cluster, "drainlab-t-img") as name:
        yield name


def test_the_nginx_archive_is_imported_and_listed(
    node: Containerd, own_ref: str, tmp_path: Path
) -> None:
    archive, _ = test_image("nginx")
    mine = retagged(archive, own_ref, tmp_path / "nginx.tar")
    said: list[str] = []
    refs = LocalProvisioner(said.append).load_images([own_ref], mine)
    assert refs == [normalize_ref(own_ref)]
    assert normalize_ref(own_ref) in node.images()
    assert said == [f"local cluster: imported '{normalize_ref(own_ref)}' from {mine}"]


def test_an_archive_ctr_refuses_is_one_line_and_leaves_no_image(
    node: Containerd, own_ref: str, tmp_path: Path
) -> None:
    broken = hollow_docker_save(tmp_path / "broken.tar", [own_ref])
    with pytest.raises(BackendError) as err:
        LocalProvisioner(lambda _: None).load_images([], broken)
    text = str(err.value)
    assert text.startswith(
        f"local cluster: cannot import {broken}: `ctr images import` exited 1: "
    ), text
    assert "\n" not in text
    assert normalize_ref(own_ref) not in node.images()


def test_an_image_the_node_lacks_is_one_line_before_any_import(
    node: Containerd, own_ref: str
) -> None:
    with pytest.raises(BackendError) as err:
        LocalProvisioner(lambda _: None).load_images([own_ref], None)
    assert str(err.value) == (
        f"local cluster: image {own_ref!r} is not in the node's containerd and it cannot pull; "
        "name an archive that holds it in app.image_archive"
    )


@pytest.mark.parametrize(
    ("name", "layout", "paths"),
    [("nginx", retagged, ("/", "/slow")), ("http-server", oci_layout, ("/",))],
    ids=["nginx-docker-save", "http-server-oci-layout"],
)
def test_a_pod_of_the_test_image_serves(
    local_cluster: LocalCluster,
    own_ref: str,
    own_namespace: str,
    tmp_path: Path,
    name: str,
    layout: Callable[[Path, str, Path], Path],
    paths: tuple[str, ...],
) -> None:
    archive, _ = test_image(name)
    # Named in full: an OCI layout's names are kept as written (images.py).
    loaded = layout(archive, normalize_ref(own_ref), tmp_path / "i.tar")
    LocalProvisioner(lambda _: None).load_images([], loaded)
    ns = ["-n", own_namespace]
    kubectl(
        local_cluster, *ns, "run", "web", f"--image={own_ref}", "--image-pull-policy=Never",
        "--restart=Never", "--port=8080",
    )  # fmt: skip
    try:
        kubectl(local_cluster, *ns, "wait", "--for=condition=Ready", "pod/web", "--timeout=120s",
                timeout=150)  # fmt: skip
    except AssertionError as exc:
        events = kubectl(local_cluster, *ns, "describe", "pod", "web").splitlines()[-12:]
        raise AssertionError(f"{exc}; the pod: " + " | ".join(events)) from None
    ip = kubectl(local_cluster, *ns, "get", "pod", "web", "-o", "jsonpath={.status.podIP}")
    answers = {}
    for path in paths:
        out = subprocess.run(
            ["nsenter", f"--net={NETNS}", "--", "curl", "-sS", "-o", "/dev/null", "-w",
             "%{http_code} %{time_total}", f"http://{ip}:8080{path}"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
        code, seconds = out.split()
        answers[path] = (int(code), float(seconds))
    print(f"{name} pod {ip}: {answers}")
    assert answers["/"][0] == 200
    if "/slow" in answers:
        assert answers["/slow"][0] == 200 and answers["/slow"][1] >= 0.5  # 16 KiB at 16 KiB/s
    logs = kubectl(local_cluster, *ns, "logs", "web")
    assert '"GET / HTTP/1.1" 200' in logs  # the access log, on the container's output


def test_harness_run_with_an_archive_the_node_refuses_stops_before_deploying(
    local_cluster: LocalCluster, node: Containerd, own_ref: str, tmp_path: Path
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("app:\n  image_archive: broken.tar\n")
    hollow_docker_save(tmp_path / "broken.tar", [own_ref])
    namespace = f"drainlab-t-img-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--backend", "local", "--scenario", str(scenario),
         "--namespace", namespace, "--out", str(tmp_path / "out"),
         "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(
        f"harness: error: local cluster: cannot import {tmp_path / 'broken.tar'}: "
        "`ctr images import` exited 1: "
    )
    # Nothing deployed, nothing imported (other tests may share the cluster: only ours count).
    assert f"namespace/{namespace}\n" not in kubectl(
        local_cluster, "get", "namespaces", "-o", "name"
    )
    assert normalize_ref(own_ref) not in node.images()
