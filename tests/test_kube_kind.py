"""The kind backend's commands and errors, with fake `kind` and `docker` executables on PATH.

No Docker engine here: each fake is a real executable script that records its argv (one JSON
line per call) and answers as the environment tells it to (clusters present, a failing step).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from harness.backends.kind import KindBackend
from harness.errors import BackendError
from harness.scenario import Kube

FAKE = f"""#!{sys.executable}
import json, os, sys
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([name, *args]) + "\\n")
fail = os.environ.get("FAKE_FAIL", "")
if fail and " ".join([name, *args]).startswith(fail):
    sys.stderr.write("step one\\n" + os.environ.get("FAKE_FAIL_MESSAGE", "failed") + "\\n")
    sys.exit(1)
if args[:2] == ["get", "clusters"]:
    for cluster in filter(None, os.environ.get("FAKE_CLUSTERS", "").split(",")):
        print(cluster)
    if not os.environ.get("FAKE_CLUSTERS"):
        sys.stderr.write("No kind clusters found.\\n")
if args[:1] == ["info"]:
    print("27.0.1")
"""


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only fake `kind` and `docker`; returns the argv log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kind", "docker"):
        script = bin_dir / tool
        script.write_text(FAKE)
        script.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    log.touch()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.delenv("FAKE_CLUSTERS", raising=False)
    monkeypatch.delenv("FAKE_FAIL", raising=False)
    return log


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _backend(tmp_path: Path, **kwargs: object) -> KindBackend:
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    (app / "Dockerfile").write_text("FROM scratch\n")
    config = tmp_path / "kind-config.yaml"
    config.write_text("kind: Cluster\n")
    said: list[str] = []
    return KindBackend(
        Kube(image="drainlab/sample-app:0.1.0"),
        config=config,
        app_dir=app,
        say=said.append,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_fresh_machine_creates_builds_loads_then_uses_the_kind_context(
    fakes: Path, tmp_path: Path
) -> None:
    backend = _backend(tmp_path)
    kube = asyncio.run(backend.up())
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
    assert backend.created_cluster
    assert kube.settings.context == "kind-drainlab"
    assert asyncio.run(backend.up()) is kube  # idempotent: nothing runs again
    assert len(_calls(fakes)) == 5


def test_an_existing_cluster_is_reused(
    fakes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLUSTERS", "other,drainlab")
    backend = _backend(tmp_path)
    asyncio.run(backend.up())
    verbs = [c[:3] for c in _calls(fakes)]
    assert ["kind", "create", "cluster"] not in verbs
    assert ["kind", "load", "docker-image"] in verbs
    assert not backend.created_cluster


def test_the_repo_kind_config_is_the_default(fakes: Path) -> None:
    backend = KindBackend(Kube(), build_image=False, say=lambda _: None)
    asyncio.run(backend.up())
    create = next(c for c in _calls(fakes) if c[1] == "create")
    config = Path(create[create.index("--config") + 1])
    assert config.name == "kind-config.yaml" and config.parent.name == "manifests"
    assert not any(c[:2] == ["docker", "build"] for c in _calls(fakes))


def test_no_kind_on_path_is_one_line(fakes: Path, tmp_path: Path) -> None:
    (fakes.parent / "bin" / "kind").unlink()
    with pytest.raises(BackendError) as err:
        asyncio.run(_backend(tmp_path).up())
    assert str(err.value).startswith("kind: `kind` is not on PATH")
    assert "\n" not in str(err.value)


def test_no_docker_on_path_is_one_line(fakes: Path, tmp_path: Path) -> None:
    (fakes.parent / "bin" / "docker").unlink()
    with pytest.raises(BackendError) as err:
        asyncio.run(_backend(tmp_path).up())
    assert str(err.value).startswith("kind: `docker` is not on PATH")


def test_no_docker_engine_says_so_with_dockers_own_words(
    fakes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "docker info")
    monkeypatch.setenv(
        "FAKE_FAIL_MESSAGE", "Cannot connect to the Docker daemon. Is the docker daemon running?"
    )
    with pytest.raises(BackendError) as err:
        asyncio.run(_backend(tmp_path).up())
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
        asyncio.run(_backend(tmp_path).up())
    assert str(err.value) == (
        "kind: cannot load the image: `kind load docker-image` exited 1: "
        "ERROR: image not present locally"
    )


def test_the_cluster_is_deleted_at_close_only_if_asked_and_created_here(
    fakes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep = _backend(tmp_path)
    asyncio.run(keep.up())
    asyncio.run(keep.close())
    assert not any(c[1] == "delete" for c in _calls(fakes))

    monkeypatch.setenv("FAKE_CLUSTERS", "drainlab")
    reused = _backend(tmp_path, delete_cluster=True)
    asyncio.run(reused.up())
    asyncio.run(reused.close())
    assert not any(c[1] == "delete" for c in _calls(fakes))  # not ours to delete

    monkeypatch.delenv("FAKE_CLUSTERS")
    owned = _backend(tmp_path, delete_cluster=True)
    asyncio.run(owned.up())
    asyncio.run(owned.close())
    assert _calls(fakes)[-1] == ["kind", "delete", "cluster", "--name", "drainlab"]


def test_a_kubeconfig_goes_to_create_and_delete(fakes: Path, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    backend = _backend(tmp_path, kubeconfig=kubeconfig, delete_cluster=True)
    asyncio.run(backend.up())
    asyncio.run(backend.close())
    for call in _calls(fakes):
        if call[:2] in (["kind", "create"], ["kind", "delete"]):
            assert call[-2:] == ["--kubeconfig", str(kubeconfig)]


def test_protocol_calls_before_deploy_are_one_line_errors(fakes: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="nothing deployed"):
        asyncio.run(_backend(tmp_path).list_pods())
