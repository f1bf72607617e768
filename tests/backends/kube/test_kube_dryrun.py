"""`harness run --dry-run` prints what would be created and deleted and touches nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from helpers.fakekube import FakeApi
from helpers.kubeobjects import deployment_object

from harness.backends.base import DeploySpec
from harness.backends.kube import plan
from harness.backends.kube.client import Connection
from harness.backends.kube.kinds import DEPLOYMENT, LEASE, NAMESPACE, NODE
from harness.backends.kube.lease import LEASE_NAME, lease_object
from harness.backends.kube.objects import names_for, namespace_object
from harness.cli import main


@pytest.fixture
def nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """No process may start and no cluster be reached unless a test allows it."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a dry run started or connected: {args[:1]}")

    monkeypatch.setattr("subprocess.Popen", refuse)
    monkeypatch.setattr(plan, "connect", refuse)


def _fake_cluster(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    fake.conn = Connection(api=None, context="kind-dev", server="https://127.0.0.1:4444")  # type: ignore[attr-defined]
    fake.put(NODE, {"metadata": {"name": "n"}, "spec": {"providerID": "kind://docker/dev/n"}})
    monkeypatch.setattr(plan, "connect", lambda *a: fake.conn)  # type: ignore[attr-defined]
    monkeypatch.setattr(plan, "Api", lambda conn, **kw: fake)
    return fake


@pytest.mark.parametrize("backend", ["kind", "local", "embedded"])
def test_a_dry_run_starts_nothing_and_makes_no_run_folder(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], nothing_runs: None
) -> None:
    """Finding: the dry-run code was unreachable from the CLI."""
    out = tmp_path / "reports"
    code = main(["run", "--dry-run", "--backend", backend, "--orders", "naive", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and not out.exists()
    if backend == "embedded":
        assert "start 3 app processes" in printed and "SHUTDOWN_ORDER=naive" in printed
    else:
        assert "Deployment drainlab/drainlab-sample-naive" in printed
        assert "Service drainlab/drainlab-sample-naive" in printed
        assert "drainlab.dev/run-id=" in printed and "Namespace drainlab" in printed
        assert "not read in a dry run" in printed


def test_a_dry_run_on_a_context_reads_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake_cluster(monkeypatch)
    fake.put(NAMESPACE, namespace_object("drainlab", "run-gone"))
    names = names_for("naive", "drainlab", "run-gone")
    fake.put(DEPLOYMENT, deployment_object(DeploySpec("naive"), names, "img"))
    fake.calls.clear()
    out = tmp_path / "reports"
    code = main(
        ["run", "--dry-run", "--backend", "kube", "--context", "kind-dev", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0 and not out.exists()
    assert fake.writes() == []
    assert "a kind cluster on this machine" in printed
    assert "namespace drainlab exists (made by run run-gone)" in printed
    assert "delete what a gone run left: deployment drainlab/drainlab-sample-naive" in printed


def test_a_dry_run_says_which_run_holds_the_namespace(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake_cluster(monkeypatch)
    fake.put(NAMESPACE, namespace_object("drainlab", "run-a"))
    fake.put(LEASE, lease_object("drainlab", "run-a", time.time()))
    fake.calls.clear()
    code = main(["run", "--dry-run", "--backend", "kube", "--context", "kind-dev"])
    out = capsys.readouterr().out
    assert code == 0 and fake.writes() == []
    assert f"in use by run run-a (it holds the Lease {LEASE_NAME}" in out
    assert "stop if it is renewed" in out


def test_a_dry_run_is_refused_where_the_run_would_be(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake_cluster(monkeypatch)
    fake.put(NAMESPACE, {"metadata": {"name": "team-x"}})
    fake.calls.clear()
    code = main(
        ["run", "--dry-run", "--backend", "kube", "--context", "kind-dev", "--namespace", "team-x"]
    )
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1 and "--allow-namespace team-x" in err
    assert fake.writes() == []


@pytest.mark.parametrize(
    ("settings", "rights"),
    [({}, "capabilities added: none"), ({"read_nat": True}, "NET_ADMIN and NET_RAW")],
)
def test_a_dry_run_names_the_data_plane_agent_and_what_it_may_do(
    settings: dict[str, Any],
    rights: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    nothing_runs: None,
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"data_plane: {settings}\n")
    args = ["run", "--dry-run", "--backend", "local", "--orders", "naive", "--scenario"]
    assert main([*args, str(scenario), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    (agent,) = [
        line for line in printed.splitlines() if "DaemonSet drainlab/drainlab-agent" in line
    ]
    assert rights in agent and "no service account token, not privileged" in agent
    assert "read the node's NAT rules from this machine" in printed


def test_a_dry_run_without_the_agent_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], nothing_runs: None
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("data_plane: {agent: false, host_nat: false}\n")
    args = ["run", "--dry-run", "--backend", "local", "--orders", "naive", "--scenario"]
    assert main([*args, str(scenario), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert "agent" not in printed and "NAT" not in printed
