"""A kind cluster on this machine's Docker, for the kube backend.

:meth:`KindProvisioner.ensure_up`:

1. ``kind`` and ``docker`` must be on PATH and ``docker info`` must answer (else a one-line
   BackendError saying which);
2. the cluster ``drainlab`` is reused if ``kind get clusters`` lists it, else created:
   ``kind create cluster --name drainlab --config manifests/kind-config.yaml --wait 120s``
   (one control plane, two workers, the orders' nodePorts mapped to 127.0.0.1);
3. the sample app's image is built (``docker build -t drainlab/sample-app:0.1.0 sample-app``)
   and loaded into the nodes (``kind load docker-image ... --name drainlab``): the pods use it
   with ``imagePullPolicy: IfNotPresent`` and never ask a registry;
4. the target is context ``kind-drainlab``; everything else is the kube backend's.

:meth:`KindProvisioner.load_images` then loads the app's own images before the deploy: each of
``app.images`` from this machine's Docker (``kind load docker-image IMAGE --name drainlab``; build
or pull it there first), and ``app.image_archive`` (``kind load image-archive FILE``).

The cluster is left up at the end: the next run reuses it (``kind delete cluster --name
drainlab`` removes it).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.clusters import ClusterTarget, print_progress
from harness.backends.clusters.images import normalize_ref, read_archive
from harness.backends.clusters.tool import run_tool
from harness.errors import BackendError
from harness.packaged import kind_config_path, sample_app_path
from harness.scenario import Kube

KIND_CONFIG = kind_config_path()
SAMPLE_APP_DIR = sample_app_path().parent
CLUSTER = "drainlab"
INSTALL_KIND = "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"

# Generous: a first `kind create cluster` pulls the node image (hundreds of MB).
CREATE_TIMEOUT_S = 600.0
BUILD_TIMEOUT_S = 900.0
LOAD_TIMEOUT_S = 300.0
PROBE_TIMEOUT_S = 30.0


@dataclass
class KindProvisioner:
    """The ``ClusterProvisioner`` for kind; see the module docstring."""

    image: str  # built from app_dir and loaded into the nodes
    node_host: str  # where the nodePorts answer (kind-config.yaml maps them to 127.0.0.1)
    cluster: str = CLUSTER
    config: Path = KIND_CONFIG
    app_dir: Path = SAMPLE_APP_DIR
    build_image: bool = True
    kubeconfig: Path | None = None  # None: KUBECONFIG or ~/.kube/config, as kind itself does
    say: Callable[[str], None] = print_progress
    name: str = field(default="kind", init=False)
    _target: ClusterTarget | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(cls, kube: Kube) -> KindProvisioner:
        return cls(image=kube.image, node_host=kube.node_host or "127.0.0.1")

    @property
    def context(self) -> str:
        return f"kind-{self.cluster}"

    def ensure_up(self) -> ClusterTarget:
        """Creates or reuses the cluster, builds and loads the image; idempotent."""
        if self._target is None:
            self._target = self._up()
        return self._target

    def _up(self) -> ClusterTarget:
        self._check_tools()
        created = False
        if self.cluster in self._clusters():
            self.say(f"kind: reusing cluster {self.cluster}")
        else:
            if not self.config.is_file():
                raise BackendError(f"kind: cluster config not found: {self.config}")
            self.say(f"kind: creating cluster {self.cluster} (a minute or two the first time)")
            self._run(
                "create the cluster",
                [
                    "kind",
                    "create",
                    "cluster",
                    "--name",
                    self.cluster,
                    "--config",
                    str(self.config),
                    "--wait",
                    "120s",
                    *self._kubeconfig_args(),
                ],
                CREATE_TIMEOUT_S,
            )
            created = True
        if self.build_image:
            if not (self.app_dir / "Dockerfile").is_file():
                raise BackendError(f"kind: no Dockerfile in {self.app_dir}")
            self.say(f"kind: building {self.image}")
            self._run(
                "build the sample app image",
                ["docker", "build", "-t", self.image, str(self.app_dir)],
                BUILD_TIMEOUT_S,
            )
        self.say(f"kind: loading {self.image} into the nodes")
        self._run(
            "load the image",
            ["kind", "load", "docker-image", self.image, "--name", self.cluster],
            LOAD_TIMEOUT_S,
        )
        return ClusterTarget(self.kubeconfig, self.context, self.node_host, started=created)

    def load_images(self, images: Sequence[str], archive: Path | None) -> list[str]:
        """Loads the app's images into the nodes (see the module docstring); returns them."""
        carried = read_archive(archive, "kind") if archive is not None else None
        self._check_tools()
        loaded: list[str] = []
        if carried is not None:
            self.say(f"kind: loading {archive} into the nodes")
            self._run(
                f"load the image archive {archive}",
                ["kind", "load", "image-archive", str(carried.path), "--name", self.cluster],
                LOAD_TIMEOUT_S,
            )
            loaded.extend(carried.refs)
        for image in images:
            self.say(f"kind: loading {image} into the nodes")
            self._run(
                f"load the image {image}",
                ["kind", "load", "docker-image", image, "--name", self.cluster],
                LOAD_TIMEOUT_S,
            )
            loaded.append(normalize_ref(image))
        return list(dict.fromkeys(loaded))

    def _kubeconfig_args(self) -> list[str]:
        return ["--kubeconfig", str(self.kubeconfig)] if self.kubeconfig is not None else []

    def _check_tools(self) -> None:
        if shutil.which("kind") is None:
            raise BackendError(f"kind: `kind` is not on PATH (install it: {INSTALL_KIND})")
        if shutil.which("docker") is None:
            raise BackendError("kind: `docker` is not on PATH (kind runs its nodes in Docker)")
        self._run(
            "reach the Docker engine (is it running?)",
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            PROBE_TIMEOUT_S,
        )

    def _clusters(self) -> list[str]:
        out = self._run("list clusters", ["kind", "get", "clusters"], PROBE_TIMEOUT_S)
        return [line.strip() for line in out.splitlines() if line.strip()]

    def _run(self, what: str, argv: Sequence[str], timeout_s: float) -> str:
        return run_tool("kind", what, argv, timeout_s)
