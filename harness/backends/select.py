"""Choosing a backend: an explicit name, or `auto` (a given context, else kind, else embedded)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import Backend
from harness.backends.clusters import ClusterProvisioner
from harness.backends.clusters.kind import KindProvisioner
from harness.backends.clusters.local import LocalProvisioner
from harness.errors import HarnessError, UsageError
from harness.load.traffic import CLUSTER
from harness.scenario import Kube, Scenario

Factory = Callable[[Scenario, Path], Backend]  # the scenario, and the run's logs/ folder


def _embedded(scenario: Scenario, log_dir: Path) -> Backend:
    from harness.backends.embedded import EmbeddedBackend

    return EmbeddedBackend.from_scenario(scenario, log_dir=log_dir)


def _kube_on(cluster: Callable[[Kube], ClusterProvisioner] | None) -> Factory:
    """The kube backend, on a cluster the harness brings up itself or (None) on a given context."""

    def make(scenario: Scenario, log_dir: Path) -> Backend:
        # Imported here, so that embedded runs never import the kubernetes client.
        from harness.backends.kube import KubeBackend

        provisioner = cluster(scenario.kube) if cluster is not None else None
        if scenario.kube.target is not None:  # a running Deployment: nothing deployed
            from harness.backends.kube.target import TargetBackend

            return TargetBackend.from_scenario(scenario, cluster=provisioner, log_dir=log_dir)
        return KubeBackend.from_scenario(scenario, cluster=provisioner, log_dir=log_dir)

    return make


# Every --backend there is (but auto): a new backend is a module under backends/ and an entry here.
FACTORIES: dict[str, Factory] = {
    "embedded": _embedded,
    "local": _kube_on(LocalProvisioner.from_settings),
    "kind": _kube_on(KindProvisioner.from_settings),
    "kube": _kube_on(None),
}
BACKENDS = ("auto", *FACTORIES)


@dataclass(frozen=True, slots=True)
class Choice:
    name: str  # one of BACKENDS but auto
    why: str


def choose_backend(requested: str, scenario: Scenario) -> Choice:
    """Resolves `auto`; explicit names are taken as given (they fail later with a clear reason)."""
    if requested not in BACKENDS:
        raise UsageError(f"unknown backend {requested!r} (choose from {', '.join(BACKENDS)})")
    choice = _resolve(requested, scenario)
    if scenario.traffic.source == CLUSTER and choice.name == "embedded":
        raise UsageError(
            f"traffic.from: cluster needs a cluster (--backend local, kind or kube); the "
            f"embedded backend has none (chosen: {choice.why})"
        )
    if scenario.traffic.source == CLUSTER and scenario.kube.target is not None:
        raise UsageError(
            "traffic.from: cluster with kube.target would put load pods beside your Deployment; "
            "send the load from this machine (traffic.from: host)"
        )
    return choice


def _resolve(requested: str, scenario: Scenario) -> Choice:
    if requested != "auto":
        return Choice(requested, "asked for on the command line")
    if scenario.kube.context:
        return Choice("kube", f"kubeconfig context {scenario.kube.context!r} was given")
    docker_ok, reason = _docker_and_kind_usable()
    if docker_ok:
        return Choice("kind", "Docker and kind are usable here")
    return Choice("embedded", f"no kubeconfig context given and {reason}")


def _docker_and_kind_usable() -> tuple[bool, str]:
    if shutil.which("kind") is None:
        return False, "no `kind` on PATH"
    if shutil.which("docker") is None:
        return False, "no `docker` on PATH"
    try:
        probe = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False, "`docker info` did not answer"
    if probe.returncode != 0:
        return False, "no Docker engine is running (`docker info` failed)"
    return True, ""


def make_backend(choice: Choice, scenario: Scenario, run_dir: Path) -> Backend:
    """The backend for ``choice``; a provisioned cluster is brought up at its first deploy."""
    if choice.name not in FACTORIES:
        raise HarnessError(f"backend {choice.name!r} is not available")
    return FACTORIES[choice.name](scenario, run_dir / "logs")
