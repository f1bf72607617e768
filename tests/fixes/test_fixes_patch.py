"""fix-<v>.yaml: spelled for the server version, and a patch kubectl takes (client side, the
real kubectl: the one on PATH and the v1.20 one the local cluster is built with)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.appspec import App, ProbeChange, Variant
from harness.fixes.model import FieldChange, Fix, Unfixable
from harness.fixes.patch import Target, prestop_spelling, render_patch
from harness.fixes.validate import client_check, variant_deployment

KUBECTL_120 = Path("/var/cache/drainlab/kubernetes-v1.20.2/bin/kubectl")
FIX = Fix(
    variant="close-first",
    change=Variant(prestop_sleep_s=3.0, grace_period_s=9.0),
    fields=(FieldChange("preStop", "sleep 3", "p99 1.29 s + 1 s"),),
    file="fix-close-first.yaml",
)
TARGET = Target(deployment="shop", container="web")


def _container(body: dict[str, Any]) -> dict[str, Any]:
    containers = body["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_a_1_20_server_gets_exec_of_sleep() -> None:
    patch = render_patch(FIX, TARGET, 20)
    body = yaml.safe_load(patch.text)
    assert _container(body)["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", "3"]}}
    assert body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 9
    assert body["metadata"] == {"name": "shop"} and body["kind"] == "Deployment"
    assert "kubectl patch deployment shop --patch-file fix-close-first.yaml" in patch.text
    assert "- path: fix-close-first.yaml" in patch.text  # the kustomize spelling
    assert "`sleep` binary in the image: not checked" in patch.text


@pytest.mark.parametrize("minor", [30, 33, 34, 35])
def test_a_1_30_or_later_server_gets_the_sleep_action(minor: int) -> None:
    patch = render_patch(FIX, TARGET, minor)
    assert _container(yaml.safe_load(patch.text))["lifecycle"]["preStop"] == {
        "sleep": {"seconds": 3}
    }
    assert patch.spelling == "sleep action" and "sleep binary" not in patch.text


def test_1_29_is_the_last_minor_with_exec_and_unknown_says_why() -> None:
    assert prestop_spelling(29)[0] == "exec sleep"
    spelling, why = prestop_spelling(None)
    assert spelling == "exec sleep" and "server version unknown" in why and "1.30" in why


def test_a_handler_the_container_has_is_removed_in_the_same_patch() -> None:
    target = Target(deployment="shop", container="web", handlers=frozenset({"httpGet"}))
    pre_stop = _container(yaml.safe_load(render_patch(FIX, target, 31).text))["lifecycle"]
    assert pre_stop["preStop"] == {"sleep": {"seconds": 3}, "httpGet": None}


def test_readiness_and_unfixable_are_in_the_file() -> None:
    fix = Fix(
        variant="naive",
        change=Variant(readiness=ProbeChange(period_s=1.0, failure_threshold=1)),
        fields=(FieldChange("readinessProbe", "periodSeconds 1, failureThreshold 1", "2 s"),),
        unfixable=(Unfixable("the app exits with requests in flight", "8 requests cut"),),
        partial=True,
        file="fix-naive.yaml",
    )
    patch = render_patch(fix, TARGET, None)
    body = yaml.safe_load(patch.text)
    assert _container(body)["readinessProbe"] == {"periodSeconds": 1, "failureThreshold": 1}
    assert "partial" in patch.text.splitlines()[0]
    assert "# not fixed by this patch: the app exits with requests in flight (8 requests cut)" in (
        patch.text
    )


def _kubectl(which: Path | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if which is None:
        return
    if not which.exists():
        pytest.skip(f"{which} is not on this machine")
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "kubectl").symlink_to(which)
    monkeypatch.setenv("PATH", f"{folder}:{Path(shutil.which('kubectl') or '/').parent}")


@pytest.mark.parametrize(("kubectl", "minor"), [(None, 20), (None, 31), (KUBECTL_120, 20)])
def test_kubectl_client_side_takes_the_patch_onto_the_sample_deployment(
    kubectl: Path | None, minor: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("no kubectl on PATH")
    _kubectl(kubectl, monkeypatch, tmp_path)
    found = variant_deployment(App(), "prestop", Variant(prestop_sleep_s=5.0))
    assert found is not None
    deployment, target = found
    assert (target.deployment, target.container) == ("drainlab-sample", "app")
    assert target.handlers == {"exec"}  # the prestop variant has an exec sleep already
    path = tmp_path / "fix-prestop.yaml"
    path.write_text(render_patch(FIX, target, minor).text)
    verdict, patched = client_check(deployment, path, target.container)
    assert verdict == "client", verdict
    assert patched is not None
    app = next(c for c in patched["spec"]["template"]["spec"]["containers"] if c["name"] == "app")
    expected = {"sleep": {"seconds": 3}} if minor >= 30 else {"exec": {"command": ["sleep", "3"]}}
    assert app["lifecycle"]["preStop"] == expected  # the old exec is gone, not merged into it
    assert patched["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 9


def test_client_side_refuses_a_preStop_with_two_handlers(tmp_path: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("no kubectl on PATH")
    found = variant_deployment(App(), "prestop", Variant(prestop_sleep_s=5.0))
    assert found is not None
    deployment, target = found
    forgetful = Target(deployment=target.deployment, container=target.container)  # no handlers
    path = tmp_path / "fix.yaml"
    path.write_text(render_patch(FIX, forgetful, 31).text)
    verdict, patched = client_check(deployment, path, target.container)
    assert patched is None and "2 handlers (exec, sleep)" in verdict


def test_the_exec_status_says_whether_sleep_ran() -> None:
    from harness.backends.kube.sleepcheck import PRESENT, sleep_verdict

    assert sleep_verdict('{"metadata":{},"status":"Success"}', "p") == PRESENT
    assert sleep_verdict('{"status":"Failure","reason":"NonZeroExitCode"}', "p") == PRESENT
    missing = (
        '{"status":"Failure","message":"OCI runtime exec failed: exec: \\"sleep\\": '
        'executable file not found in $PATH"}'
    )
    assert sleep_verdict(missing, "p").startswith("absent: `sleep 0` in pod p: OCI runtime")
    assert sleep_verdict("", "p").startswith("not checked")
