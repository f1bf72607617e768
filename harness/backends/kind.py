"""The kind backend: a kind cluster on this machine's Docker, then the kube backend on it.

Before the first deploy (:meth:`KindBackend.up`):

1. ``kind`` and ``docker`` must be on PATH and ``docker info`` must answer (else a one-line
   BackendError saying which);
2. the cluster ``drainlab`` is reused if ``kind get clusters`` lists it, else created:
   ``kind create cluster --name drainlab --config manifests/kind-config.yaml --wait 120s``
   (one control plane, two workers, the orders' nodePorts mapped to 127.0.0.1);
3. the sample app's image is built (``docker build -t drainlab/sample-app:0.1.0 sample-app``)
   and loaded into the nodes (``kind load docker-image ... --name drainlab``): the pods use it
   with ``imagePullPolicy: IfNotPresent`` and never ask a registry;
4. everything else is the kube backend on context ``kind-drainlab``.

``delete_cluster=True`` deletes the cluster in :meth:`close` (or on leaving ``async with``),
and only if this backend created it. ``teardown`` (once per order) leaves the cluster up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.backends.base import DeploySpec, EventSink, PodInfo, Target
from harness.backends.kube import KubeBackend
from harness.errors import BackendError
from harness.scenario import Kube, Scenario

REPO = Path(__file__).resolve().parents[2]
KIND_CONFIG = REPO / "manifests" / "kind-config.yaml"
SAMPLE_APP_DIR = REPO / "sample-app"
CLUSTER = "drainlab"
INSTALL_KIND = "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"

# Generous: a first `kind create cluster` pulls the node image (hundreds of MB).
CREATE_TIMEOUT_S = 600.0
BUILD_TIMEOUT_S = 900.0
LOAD_TIMEOUT_S = 300.0
PROBE_TIMEOUT_S = 30.0


def _print(line: str) -> None:
    print(line, flush=True)


class KindBackend:
    """The ``Backend`` protocol on a kind cluster; see the module docstring."""

    name = "kind"

    def __init__(
        self,
        kube: Kube,
        *,
        cluster: str = CLUSTER,
        config: Path = KIND_CONFIG,
        app_dir: Path = SAMPLE_APP_DIR,
        build_image: bool = True,
        delete_cluster: bool = False,
        kubeconfig: Path | None = None,
        log_dir: Path | None = None,
        say: Callable[[str], None] = _print,
    ) -> None:
        self._kube_settings = kube
        self.cluster = cluster
        self._config = config
        self._app_dir = app_dir
        self._build_image = build_image
        self._delete_cluster = delete_cluster
        self._kubeconfig = kubeconfig
        self._log_dir = log_dir
        self._say = say
        self.created_cluster = False
        self.kube: KubeBackend | None = None

    @classmethod
    def from_scenario(
        cls,
        scenario: Scenario,
        *,
        delete_cluster: bool = False,
        log_dir: Path | None = None,
    ) -> KindBackend:
        return cls(scenario.kube, delete_cluster=delete_cluster, log_dir=log_dir)

    @property
    def context(self) -> str:
        return f"kind-{self.cluster}"

    async def __aenter__(self) -> KindBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.teardown()
        finally:
            await self.close()

    # ----- bringing the cluster up -------------------------------------------------------------

    async def up(self) -> KubeBackend:
        """Creates or reuses the cluster, builds and loads the image; idempotent."""
        if self.kube is not None:
            return self.kube
        await asyncio.to_thread(self._up)
        assert self.kube is not None
        return self.kube

    def _up(self) -> None:
        self._check_tools()
        image = self._kube_settings.image
        if self.cluster in self._clusters():
            self._say(f"kind: reusing cluster {self.cluster}")
        else:
            if not self._config.is_file():
                raise BackendError(f"kind: cluster config not found: {self._config}")
            self._say(f"kind: creating cluster {self.cluster} (a minute or two the first time)")
            self._run(
                "create the cluster",
                [
                    "kind",
                    "create",
                    "cluster",
                    "--name",
                    self.cluster,
                    "--config",
                    str(self._config),
                    "--wait",
                    "120s",
                    *self._kubeconfig_args(),
                ],
                CREATE_TIMEOUT_S,
            )
            self.created_cluster = True
        if self._build_image:
            if not (self._app_dir / "Dockerfile").is_file():
                raise BackendError(f"kind: no Dockerfile in {self._app_dir}")
            self._say(f"kind: building {image}")
            self._run(
                "build the sample app image",
                ["docker", "build", "-t", image, str(self._app_dir)],
                BUILD_TIMEOUT_S,
            )
        self._say(f"kind: loading {image} into the nodes")
        self._run(
            "load the image",
            ["kind", "load", "docker-image", image, "--name", self.cluster],
            LOAD_TIMEOUT_S,
        )
        settings = dataclasses.replace(self._kube_settings, context=self.context)
        self.kube = KubeBackend(
            settings,
            kubeconfig=self._kubeconfig,
            log_dir=self._log_dir,
        )

    def _kubeconfig_args(self) -> list[str]:
        return ["--kubeconfig", str(self._kubeconfig)] if self._kubeconfig is not None else []

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
        """Runs one command; its stdout, or a BackendError with its last line of output."""
        try:
            done = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
                env=os.environ.copy(),
            )
        except FileNotFoundError:
            raise BackendError(f"kind: cannot {what}: {argv[0]} not found") from None
        except subprocess.TimeoutExpired:
            raise BackendError(
                f"kind: cannot {what}: `{' '.join(argv[:3])}` still running after {timeout_s:g} s"
            ) from None
        if done.returncode != 0:
            lines = [x.strip() for x in (done.stderr + "\n" + done.stdout).splitlines()]
            last = next((x for x in reversed(lines) if x), "no output")
            raise BackendError(
                f"kind: cannot {what}: `{' '.join(argv[:3])}` exited {done.returncode}: {last}"
            )
        return done.stdout

    async def close(self) -> None:
        """Deletes the cluster if ``delete_cluster`` was asked and this backend created it."""
        if not (self._delete_cluster and self.created_cluster):
            return
        await asyncio.to_thread(
            self._run,
            "delete the cluster",
            ["kind", "delete", "cluster", "--name", self.cluster, *self._kubeconfig_args()],
            CREATE_TIMEOUT_S,
        )
        self.created_cluster = False
        self.kube = None

    # ----- the Backend protocol: the kube backend on the kind context --------------------------

    async def deploy(self, spec: DeploySpec, emit: EventSink) -> Target:
        kube = await self.up()
        return await kube.deploy(spec, emit)

    async def list_pods(self) -> list[PodInfo]:
        return await self._need_kube().list_pods()

    async def delete_pod(self, name: str, grace_period_s: float | None = None) -> None:
        await self._need_kube().delete_pod(name, grace_period_s)

    async def rolling_restart(self, max_surge: str = "25%", max_unavailable: str = "25%") -> None:
        await self._need_kube().rolling_restart(max_surge, max_unavailable)

    async def wait_settled(self, timeout_s: float) -> None:
        await self._need_kube().wait_settled(timeout_s)

    async def teardown(self) -> None:
        if self.kube is not None:
            await self.kube.teardown()

    def _need_kube(self) -> KubeBackend:
        if self.kube is None:
            raise BackendError("kind: nothing deployed; call deploy first")
        return self.kube
