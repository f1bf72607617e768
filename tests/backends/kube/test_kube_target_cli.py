"""``harness run --target``: what the command line refuses in one line (exit 2) before anything
runs, and what ``--dry-run`` says a target run would make and delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.fakekube import FakeApi

from harness.backends.kube import target
from harness.backends.kube.kinds import NAMESPACE
from harness.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--target", "web", "--namespace", "shop"],
            "--target: expected deployment/NAME, got 'web'",
        ),
        (["--target", "deployment/web"], "--target needs --namespace NS"),
        (
            ["--target", "deployment/web", "--namespace", "shop", "--backend", "embedded"],
            "--target tests a Deployment on a cluster: use --backend kube",
        ),
        (
            ["--target", "deployment/web", "--namespace", "kube-system", "--backend", "local"],
            "refusing namespace 'kube-system': it is a system namespace",
        ),
        (
            ["--target", "deployment/web", "--namespace", "default", "--backend", "kube"],
            "refusing namespace 'default': it is a system namespace",
        ),
        (
            ["--target", "deployment/web", "--namespace", "shop", "--variants", "naive"],
            "--variants: 'naive' is not a variant of this scenario (variants: current)",
        ),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_a_bad_target_is_one_line_and_exit_2(
    args: list[str],
    message: str,
    dry_run: bool,
    capsys: pytest.CaptureFixture[str],
    tmp_path: object,
) -> None:
    extra = ["--dry-run"] if dry_run else ["--out", str(tmp_path)]
    assert main(["run", *args, *extra]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"harness: error: {message}")
    assert captured.err.count("\n") == 1 and captured.err.endswith("\n")
    assert captured.out == ""


def test_the_dry_run_names_the_twin_the_lease_and_the_owner_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["run", "--backend", "local", "--target", "deployment/web", "--namespace", "shop"]
    assert main([*argv, "--target-service", "web", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run of target deployment/web on the local backend: nothing is changed" in out
    assert "deploy nothing" in out
    assert "create Service shop/drainlab-twin-web (NodePort" in out
    assert "drainlab.dev/twin-of=web" in out and "by UID" in out
    assert "create Lease shop/drainlab-run" in out
    assert "delete only pods owned by deployment/web (pod -> ReplicaSet -> Deployment" in out


def test_the_dry_run_says_a_rolling_restart_changes_the_users_deployment(
    capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    from pathlib import Path

    scenario = Path(str(tmp_path)) / "s.yaml"
    scenario.write_text("chaos: {action: rolling_restart, count: 1}\n")
    argv = ["run", "--backend", "kind", "--target", "deployment/web", "--namespace", "shop"]
    assert main([*argv, "--scenario", str(scenario), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "patch deployment/web's pod template annotation" in out
    assert "this changes your Deployment" in out


def test_a_missing_target_on_a_context_is_one_line_before_any_run_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeApi()
    fake.put(NAMESPACE, {"metadata": {"name": "shop"}})
    fake.calls.clear()
    monkeypatch.setattr(target, "connect", lambda *_: None)
    monkeypatch.setattr(target, "Api", lambda *_, **__: fake)
    monkeypatch.setattr(target, "check_context", lambda *_: "a fake")
    out = tmp_path / "reports"
    argv = ["run", "--backend", "kube", "--target", "deployment/gone", "--namespace", "shop"]
    assert main([*argv, "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert err == "harness: error: kube: deployment/gone does not exist in namespace shop\n"
    assert not out.exists()  # no run folder: nothing ran
    assert fake.writes() == []
