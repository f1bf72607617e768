"""A user's app.manifests: rendered into exactly one Deployment and one Service, or one line
naming the manifests and the problem (exit 2) before anything is created."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.paths import REPO
from helpers.userapp import deployment, service, write_file, write_folder

from harness.backends.kube import manifests
from harness.cli import main
from harness.errors import UsageError

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH")


def test_a_yaml_file_gives_its_deployment_and_service(tmp_path: Path) -> None:
    app = manifests.load(write_file(tmp_path / "app.yaml", deployment(), service()))
    assert app.deployment["metadata"]["name"] == "web"
    assert app.service["metadata"]["name"] == "web"


def test_a_plain_kustomization_is_read_without_kubectl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_folder(tmp_path / "k", deployment(), service())
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    app = manifests.load(folder)
    assert app.deployment["kind"] == "Deployment" and app.service["kind"] == "Service"


def test_the_sample_apps_base_is_its_deployment_and_service_and_a_namespace_is_ignored() -> None:
    app = manifests.load(REPO / "manifests" / "base")
    assert app.deployment["metadata"]["name"] == "drainlab-sample"
    assert manifests.app_container(app.deployment, app.service)["name"] == "app"


@needs_kubectl
def test_a_kustomization_with_transformers_is_rendered_by_kubectl(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "k", deployment(), service(), extra={"namePrefix": "team-"})
    app = manifests.load(folder)
    assert app.deployment["metadata"]["name"] == "team-web"
    assert app.service["metadata"]["name"] == "team-web"


def test_a_kustomization_that_needs_kubectl_without_it_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_folder(tmp_path / "k", deployment(), service(), extra={"namePrefix": "a-"})
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UsageError, match="needs kubectl on PATH"):
        manifests.load(folder)


def _other(kind: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}}


def _no_containers() -> dict[str, Any]:
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"] = []
    return dep


@pytest.mark.parametrize(
    ("docs", "problem"),
    [
        ([service()], "found 0 Deployment(s) and 1 Service(s)"),
        ([deployment(), deployment("b"), service()], "found 2 Deployment(s) and 1 Service(s)"),
        ([deployment()], "found 1 Deployment(s) and 0 Service(s)"),
        ([deployment(), service(), _other("ConfigMap")], "found ConfigMap"),
        (
            [deployment(), service(selector={"app": "other"})],
            "selector app=other matches no pod template label set",
        ),
        ([deployment(), service(selector={})], "has no selector"),
        ([_no_containers(), service()], "Deployment web has no containers"),
        ([{**deployment(), "apiVersion": "extensions/v1beta1"}, service()], "must be apps/v1"),
    ],
)
def test_manifests_that_are_not_one_deployment_and_one_service_are_one_line(
    tmp_path: Path, docs: list[dict[str, Any]], problem: str
) -> None:
    path = write_file(tmp_path / "app.yaml", *docs)
    with pytest.raises(UsageError) as caught:
        manifests.load(path)
    line = str(caught.value)
    assert line.startswith(f"app.manifests: {path}: ") and problem in line
    assert "\n" not in line


def test_missing_manifests_and_a_folder_without_kustomization_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or folder"):
        manifests.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"needs a kustomization\.yaml"):
        manifests.load(tmp_path / "empty")
    (tmp_path / "bad.yaml").write_text("a: [\n")
    with pytest.raises(UsageError, match="not YAML"):
        manifests.load(tmp_path / "bad.yaml")


def test_the_app_container_is_the_one_the_service_targets_by_port_name() -> None:
    dep = deployment()
    sidecar = {"name": "proxy", "image": "p", "ports": [{"name": "admin", "containerPort": 9}]}
    dep["spec"]["template"]["spec"]["containers"].insert(0, sidecar)
    assert manifests.app_container(dep, service())["name"] == "server"
    numbered = service()
    numbered["spec"]["ports"][0]["targetPort"] = 8080
    assert manifests.app_container(dep, numbered)["name"] == "proxy"  # the first


def _errors(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """`harness ARGS` in this process: its exit code and the lines it wrote to stderr."""
    code = main(list(args))
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def _scenario(tmp_path: Path, app: dict[str, Any], **more: Any) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({"app": app, **more}))
    return path


@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_manifests_are_one_line_exit_2_at_validate_and_before_a_run_starts(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_file(tmp_path / "app.yaml", deployment(), deployment("b"), service())
    scenario = _scenario(tmp_path, {"manifests": "app.yaml"})
    out = tmp_path / "reports"
    args = (
        ["validate", str(scenario)]
        if command == "validate"
        else ["run", "--backend", "kube", "--scenario", str(scenario), "--out", str(out)]
    )
    code, lines = _errors(capsys, *args)
    assert code == 2 and len(lines) == 1, lines
    assert f"app.manifests: {tmp_path / 'app.yaml'}: must render exactly one Deployment" in lines[0]
    assert not out.exists()  # before the run folder, before any cluster is asked


@needs_kubectl
def test_a_patch_that_does_not_apply_is_one_line_before_a_run_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_file(tmp_path / "app.yaml", deployment(), service())
    (tmp_path / "patch.yaml").write_text("spec:\n  template:\n    spec:\n      containers: 3\n")
    variants = {"tuned": {"patch": "patch.yaml"}}
    scenario = _scenario(tmp_path, {"manifests": "app.yaml"}, variants=variants)
    out = tmp_path / "reports"
    code, lines = _errors(
        capsys, "run", "--backend", "kind", "--scenario", str(scenario), "--out", str(out)
    )
    assert code == 2 and len(lines) == 1, lines
    assert "variants.tuned.patch" in lines[0] and "patch.yaml" in lines[0]
    assert not out.exists()


def test_a_dry_run_lists_the_adapted_objects_of_a_users_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_file(tmp_path / "app.yaml", deployment(), service())
    variants = {"current": {}, "prestop": {"prestop_sleep_s": 3}}
    scenario = _scenario(tmp_path, {"manifests": "app.yaml"}, variants=variants, replicas=2)
    out = tmp_path / "reports"
    code = main(
        ["run", "--dry-run", "--backend", "kind", "--scenario", str(scenario), "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0 and not out.exists()
    assert f"app: {tmp_path / 'app.yaml'}" in printed
    assert "variant current: create Deployment drainlab/web-current" in printed
    assert "variant prestop: create Service drainlab/web-prestop" in printed
    assert "NodePort 30081" in printed and "NodePort 30082" in printed
    assert "2 replicas" in printed and "app=web" in printed
