"""The load image on the real local cluster: built, imported, and a pod of it imports locust and
the harness's locust side at the venv's locust version.

The test imports the image under a name of its own (a re-tagged copy of the archive: the same
layers and config) and removes that name at the end, and runs its pod in a namespace it creates
and deletes; the image under its own reference is left alone, since another session (the harness
itself) may be using it. Nothing else in the cluster is touched.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from helpers.images import retagged
from helpers.localkube import kubectl
from helpers.localkube import own_namespace as namespace_of_its_own

from harness.backends.clusters.containerd import Containerd
from harness.backends.clusters.images import normalize_ref, read_archive
from harness.backends.clusters.loadimage import load_image_archive
from harness.backends.clusters.local import LocalCluster, LocalProvisioner, containerd_socket

pytestmark = pytest.mark.cluster


# What a locust pod imports (the locustfile reads its settings from the environment at import).
PROBE = (
    "import harness.load.locustfile, harness.load.distributed, locust, orjson; "
    "print(locust.__version__)"
)
PROBE_ENV = {"DRAINLAB_RECORDS": "/tmp/r", "DRAINLAB_STATUS": "/tmp/s", "DRAINLAB_TRAFFIC": "{}"}


@pytest.fixture
def node(local_cluster: LocalCluster) -> Containerd:
    return Containerd(containerd_socket(), "local cluster")


@pytest.fixture
def own_ref(node: Containerd) -> Iterator[str]:
    """A reference of this test's own for the load image; removed from the node at the end."""
    ref = f"drainlab/h6-test-load:{uuid.uuid4().hex[:10]}"
    yield ref
    full = normalize_ref(ref)
    if full in node.targets():
        node.remove([full])
    assert full not in node.targets()


@pytest.fixture
def own_namespace(local_cluster: LocalCluster) -> Iterator[str]:
    with namespace_of_its_own(local_cluster, "drainlab-t-load") as name:
        yield name


def test_a_pod_of_the_load_image_imports_the_venvs_locust(
    local_cluster: LocalCluster, node: Containerd, own_ref: str, own_namespace: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    archive, ref = load_image_archive(print)
    print(f"load image: {ref} {archive} ({archive.stat().st_size / 1e6:.0f} MB) "
          f"in {time.monotonic() - started:.1f} s")  # fmt: skip
    assert read_archive(archive, "test").refs == (normalize_ref(ref),)
    assert load_image_archive() == (archive, ref)  # cached: the same archive, no build

    mine = retagged(archive, own_ref, tmp_path / "load.tar")
    said: list[str] = []
    assert LocalProvisioner(said.append).load_images([own_ref], mine) == [normalize_ref(own_ref)]
    assert said == [f"local cluster: imported '{normalize_ref(own_ref)}' from {mine}"]
    mine.unlink()

    ns = ["-n", own_namespace]
    kubectl(
        local_cluster, *ns, "run", "load", f"--image={own_ref}", "--image-pull-policy=Never",
        "--restart=Never", *(f"--env={k}={v}" for k, v in PROBE_ENV.items()),
        "--command", "--", "python3", "-c", PROBE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while (phase := pod_phase(local_cluster, own_namespace)) not in ("Succeeded", "Failed"):
        if time.monotonic() > deadline:
            events = kubectl(local_cluster, *ns, "describe", "pod", "load").splitlines()[-12:]
            raise AssertionError(f"the pod is {phase} after 120 s: " + " | ".join(events))
        time.sleep(1)
    logs = kubectl(local_cluster, *ns, "logs", "load")
    assert phase == "Succeeded", logs
    # The venv's version read from its metadata: importing locust here would monkey-patch this
    # process with gevent (locust/__init__.py does), and break every TLS client after it.
    assert logs.splitlines() == [metadata.version("locust")]


def pod_phase(lc: LocalCluster, namespace: str) -> str:
    pod = json.loads(kubectl(lc, "-n", namespace, "get", "pod", "load", "-o", "json"))
    return str(pod.get("status", {}).get("phase", "?"))
