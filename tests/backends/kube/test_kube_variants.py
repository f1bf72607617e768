"""A variant applied to a user's rendered Deployment (variant.py), and both objects adapted to
drainlab's namespace, names, labels and NodePort (adapt.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers.kubeobjects import objects_of
from helpers.userapp import deployment, service, write_file

from harness.appspec import ProbeChange, Variant
from harness.backends.base import DeploySpec
from harness.backends.kube.adapt import KIND_NODE_PORTS, DeployableApp
from harness.backends.kube.manifests import AppManifests, Obj, load
from harness.backends.kube.objects import LABEL_ORDER, LABEL_RUN, names_for, owned
from harness.backends.kube.variant import varied
from harness.errors import UsageError

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")
VARIANTS = ("current", "prestop", "tuned")


def _app(tmp_path: Path, variants: tuple[str, ...] = VARIANTS, **pod: Any) -> DeployableApp:
    path = write_file(tmp_path / "app.yaml", deployment(**pod), service())
    return DeployableApp(load(path), None, variants, sample=False)


def _container(dep: Obj) -> Obj:
    containers: list[Obj] = dep["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "server")


def _manifests(tmp_path: Path) -> AppManifests:
    return load(write_file(tmp_path / "app.yaml", deployment(), service()))


def test_the_objects_go_to_drainlabs_namespace_under_drainlabs_names_and_labels(
    tmp_path: Path,
) -> None:
    app = _app(tmp_path)
    names = app.names("prestop", "drainlab-x", "run-1")
    dep, svc = objects_of(DeploySpec("prestop", replicas=2), names, app)
    assert (dep["metadata"]["name"], svc["metadata"]["name"]) == ("web-prestop", "web-prestop")
    for obj in (dep, svc):
        assert obj["metadata"]["namespace"] == "drainlab-x"  # not their-team
        assert owned(obj, names)
    template = dep["spec"]["template"]["metadata"]["labels"]
    assert template == {"app": "web", "tier": "front", **names.labels}  # theirs kept, ours added
    assert dep["spec"]["selector"]["matchLabels"] == {"app": "web", **names.labels}
    assert svc["spec"]["selector"] == {"app": "web", **names.labels}
    assert names.labels[LABEL_RUN] == "run-1" and names.labels[LABEL_ORDER] == "prestop"
    assert dep["spec"]["replicas"] == 2
    assert _container(dep)["imagePullPolicy"] == "IfNotPresent"
    assert svc["spec"]["type"] == "NodePort"
    assert "clusterIP" not in svc["spec"]
    assert "nodePort" not in svc["spec"]["ports"][0]  # not on kind: the API server chooses


def test_on_kind_variants_take_the_mapped_nodeports_by_their_place(tmp_path: Path) -> None:
    app = _app(tmp_path)
    for i, variant in enumerate(VARIANTS):
        _, svc = objects_of(DeploySpec(variant), app.names(variant, "d", "r"), app, on_kind=True)
        assert svc["spec"]["ports"][0]["nodePort"] == KIND_NODE_PORTS[i]


def test_more_variants_than_kinds_mapped_ports_is_one_line(tmp_path: Path) -> None:
    many = tuple(f"v{i}" for i in range(len(KIND_NODE_PORTS) + 1))
    app = _app(tmp_path, many)
    with pytest.raises(UsageError, match="kind reaches 4 variants"):
        objects_of(DeploySpec("v4"), app.names("v4", "d", "r"), app, on_kind=True)


def test_the_sample_apps_orders_keep_their_fixed_nodeports_and_names() -> None:
    names = names_for("close-first", "drainlab", "r")
    dep, svc = objects_of(DeploySpec("close-first"), names)
    assert dep["metadata"]["name"] == svc["metadata"]["name"] == "drainlab-sample-close-first"
    assert svc["spec"]["ports"][0]["nodePort"] == 30082


def test_env_merges_by_name_and_args_replace(tmp_path: Path) -> None:
    change = Variant(env={"GREETING": "hello", "EXTRA": "1"}, args=["--bind", "0.0.0.0"])
    container = _container(varied(_manifests(tmp_path), "v", change))
    assert container["env"] == [
        {"name": "GREETING", "value": "hello"},
        {"name": "EXTRA", "value": "1"},
    ]
    assert container["args"] == ["--bind", "0.0.0.0"]


def test_prestop_is_an_exec_hook_and_zero_removes_it(tmp_path: Path) -> None:
    app = _manifests(tmp_path)
    slept = _container(varied(app, "v", Variant(prestop_sleep_s=2.5)))
    assert slept["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "2.5"]}}}
    own = _container(varied(app, "v", Variant(prestop_command=["/bin/drain", "now"])))
    assert own["lifecycle"]["preStop"] == {"exec": {"command": ["/bin/drain", "now"]}}
    with_hook = AppManifests(app.source, varied(app, "v", Variant(prestop_sleep_s=3)), app.service)
    assert "lifecycle" not in _container(varied(with_hook, "v", Variant(prestop_sleep_s=0)))


def test_grace_is_rounded_up_and_probe_changes_land_on_the_probe(tmp_path: Path) -> None:
    change = Variant(
        grace_period_s=4.2,
        readiness=ProbeChange(path="/ready", period_s=0.5, timeout_s=2.1, failure_threshold=3),
    )
    dep = varied(_manifests(tmp_path), "v", change)
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 5
    probe = _container(dep)["readinessProbe"]
    assert probe["httpGet"] == {"path": "/ready", "port": "web"}
    assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"]) == (1, 3, 3)


def test_a_change_to_a_probe_the_container_lacks_is_one_line(tmp_path: Path) -> None:
    change = Variant(liveness=ProbeChange(period_s=2))
    with pytest.raises(UsageError, match=r"variants\.v\.liveness: the app container has no such"):
        varied(_manifests(tmp_path), "v", change)
    with pytest.raises(UsageError, match=r"startup\.success_threshold: must be 1"):
        varied(_manifests(tmp_path), "v", Variant(startup=ProbeChange(success_threshold=2)))


@needs_kubectl
def test_a_strategic_merge_patch_merges_containers_by_name(tmp_path: Path) -> None:
    patch = tmp_path / "graceful.yaml"
    patch.write_text(
        "spec:\n  template:\n    spec:\n      terminationGracePeriodSeconds: 3\n"
        "      containers:\n        - name: server\n          env:\n"
        "            - {name: SHUTDOWN_DELAY, value: '3'}\n"
    )
    dep = varied(_manifests(tmp_path), "tuned", Variant(patch=str(patch), env={"B": "2"}))
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 3
    env = {e["name"]: e["value"] for e in _container(dep)["env"]}
    assert env == {"GREETING": "hi", "SHUTDOWN_DELAY": "3", "B": "2"}  # patch, then the variant
    assert _container(dep)["command"] == ["python3", "-m", "http.server", "8080"]  # kept


@needs_kubectl
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("spec: {template: {spec: {containers: [{image: y}]}}}\n", "merge key: name"),
        ("spec: {template: {spec: {$patch: delete}}}\n", "has no containers"),
        ("- not a mapping\n", "is not a YAML mapping"),
        ("spec: {template: 3}\n", "does not apply"),
    ],
)
def test_a_patch_that_does_not_apply_is_one_line(tmp_path: Path, text: str, problem: str) -> None:
    patch = tmp_path / "bad.yaml"
    patch.write_text(text)
    with pytest.raises(UsageError) as caught:
        varied(_manifests(tmp_path), "tuned", Variant(patch=str(patch)))
    line = str(caught.value)
    assert line.startswith("variants.tuned.patch") and problem in line and "\n" not in line
