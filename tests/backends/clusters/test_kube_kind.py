"""The kind provisioner's commands and errors, with fake `kind` and `docker` executables on PATH
(the ``fakes`` fixture, conftest.py: no Docker engine here)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from harness.backends.clusters.kind import KindProvisioner
from harness.backends.kube import KubeBackend
from harness.errors import BackendError
from harness.scenario import Kube


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _kind(tmp_path: Path, **kwargs: object) -> KindProvisioner:
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    (app / "Dockerfile").write_text("FROM scratch\n")
    config = tmp_path / "kind-config.yaml"
    config.write_text("kind: Cluster\n")
    said: list[str] = []
    return KindProvisioner(
        image="drainlab/sample-app:0.1.0",
        node_host="127.0.0.1",
        config=config,
        app_dir=app,
        say=said.append,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_fresh_machine_creates_builds_loads_then_uses_the_kind_context(
    fakes: Path, tmp_path: Path
) -> None:
    kind = _kind(tmp_path)
    target = kind.ensure_up()
    config, app = tmp_path / "kind-config.yaml", tmp_path / "app"
    assert _calls(fakes) == [
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        ["kind", "get", "clusters"],
        [
            "kind",
            "create",
            "cluster",
            "--name",
            "drainlab",
            "--config",
            str(config),
            "--wait",
            "120s",
        ],
        ["docker", "build", "-t", "drainlab/sample-app:0.1.0", str(app)],
        ["kind", "load", "docker-image", "drainlab/sample-app:0.1.0", "--name", "drainlab"],
    ]
    assert target.started
    assert target.context == "kind-drainlab"
    assert kind.ensure_up() is target  # idempotent: nothing runs again
    assert len(_calls(fakes)) == 5


def test_an_existing_cluster_is_reused(
    fakes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLUSTERS", "other,drainlab")
    target = _kind(tmp_path).ensure_up()
    verbs = [c[:3] for c in _calls(fakes)]
    assert ["kind", "create", "cluster"] not in verbs
    assert ["kind", "load", "docker-image"] in verbs
    assert not target.started


def test_the_repo_kind_config_is_the_default(fakes: Path) -> None:
    kind = dataclasses.replace(
        KindProvisioner.from_settings(Kube()), build_image=False, say=lambda _: None
    )
    kind.ensure_up()
    create = next(c for c in _calls(fakes) if c[1] == "create")
    config = Path(create[create.index("--config") + 1])
    assert config.name == "kind-config.yaml" and config.parent.name == "manifests"
    assert not any(c[:2] == ["docker", "build"] for c in _calls(fakes))


def test_no_kind_on_path_is_one_line(fakes: Path, tmp_path: Path) -> None:
    (fakes.parent / "bin" / "kind").unlink()
    with pytest.raises(BackendError) as err:
        _kind(tmp_path).ensure_up()
    assert str(err.value).startswith("kind: `kind` is not on PATH")
    assert "\n" not in str(err.value)


def test_no_docker_on_path_is_one_line(fakes: Path, tmp_path: Path) -> None:
    (fakes.parent / "bin" / "docker").unlink()
    with pytest.raises(BackendError) as err:
        _kind(tmp_path).ensure_up()
    assert str(err.value).startswith("kind: `docker` is not on PATH")


def test_no_docker_engine_says_so_with_dockers_own_words(
    fakes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "docker info")
    monkeypatch.setenv(
        "FAKE_FAIL_MESSAGE", "Cannot connect to the Docker daemon. Is the docker daemon running?"
    )
    with pytest.raises(BackendError) as err:
        _kind(tmp_path).ensure_up()
    text = str(err.value)
    assert "reach the Docker engine" in text and "Is the docker daemon running?" in text
    assert "\n" not in text
    assert _calls(fakes) == [["docker", "info", "--format", "{{.ServerVersion}}"]]


def test_a_failed_load_names_the_step_and_kinds_last_line(
    fakes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "kind load")
    monkeypatch.setenv("FAKE_FAIL_MESSAGE", "ERROR: image not present locally")
    with pytest.raises(BackendError) as err:
        _kind(tmp_path).ensure_up()
    assert str(err.value) == (
        "kind: cannot load the image: `kind load docker-image` exited 1: "
        "ERROR: image not present locally"
    )


def test_a_kubeconfig_goes_to_create_and_into_the_target(fakes: Path, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    target = _kind(tmp_path, kubeconfig=kubeconfig).ensure_up()
    create = next(c for c in _calls(fakes) if c[:2] == ["kind", "create"])
    assert create[-2:] == ["--kubeconfig", str(kubeconfig)]
    assert target.kubeconfig == kubeconfig


PROD_ONLY = """apiVersion: v1
kind: Config
current-context: prod-eu
clusters:
- name: prod
  cluster: {server: "https://10.0.0.1:6443"}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: prod-eu
  context: {cluster: prod, user: u}
"""


def test_the_kube_backend_brings_the_cluster_up_then_uses_its_target(
    fakes: Path, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(PROD_ONLY)
    kind = _kind(tmp_path, kubeconfig=kubeconfig)
    backend = KubeBackend(Kube(context="prod-eu"), cluster=kind)
    with pytest.raises(BackendError) as err:
        asyncio.run(backend.connect())
    # The target's kubeconfig and context replaced the settings' (this one lacks kind's).
    assert (
        str(err.value) == "kube: no context 'kind-drainlab' in the kubeconfig; available: prod-eu"
    )
    assert ["kind", "load", "docker-image"] in [c[:3] for c in _calls(fakes)]
    assert backend.settings.context == "kind-drainlab"
    assert backend.name == "kind"


def test_protocol_calls_before_deploy_are_one_line_errors(fakes: Path, tmp_path: Path) -> None:
    backend = KubeBackend(Kube(), cluster=_kind(tmp_path))
    with pytest.raises(BackendError, match="nothing deployed"):
        asyncio.run(backend.list_pods())
    assert _calls(fakes) == []  # the cluster is brought up at the first deploy, not before
