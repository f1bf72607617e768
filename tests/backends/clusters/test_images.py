"""The app's images on kind and the local cluster: each way an image cannot be loaded is one line.

No cluster here: archives are written by the tests, `ctr` is the real one (against a socket
where no containerd listens), and kind/docker are absent or fake executables (tests/backends/
clusters/test_kube_kind.py's), never mocks of the provisioners' own code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.images import hollow_docker_save, write_tar
from helpers.paths import REPO

from harness.backends.clusters.containerd import Containerd
from harness.backends.clusters.images import (
    AppImages,
    load_app_images,
    normalize_ref,
    read_archive,
)
from harness.backends.clusters.kind import KindProvisioner
from harness.backends.clusters.local import LocalProvisioner, containerd_socket
from harness.backends.kube import KubeBackend
from harness.errors import BackendError
from harness.scenario import Kube, load_scenario


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def one_line(err: pytest.ExceptionInfo[BackendError]) -> str:
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text
    return text


# ----- what an archive holds -------------------------------------------------------------------


def test_a_docker_save_archive_names_its_tags_in_full(tmp_path: Path) -> None:
    archive = read_archive(hollow_docker_save(tmp_path / "a.tar", ["web:1", "me/api:2"]), "local")
    assert archive.format == "docker-save"
    assert archive.refs == ("docker.io/library/web:1", "docker.io/me/api:2")


def test_an_oci_layout_names_its_images_from_the_index(tmp_path: Path) -> None:
    index = {
        "schemaVersion": 2,
        "manifests": [
            {"annotations": {"org.opencontainers.image.ref.name": "quay.io/x/y:3"}},
            {"annotations": {"io.containerd.image.name": "docker.io/me/z:4"}},
        ],
    }
    files = {
        "oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
        "index.json": json.dumps(index).encode(),
    }
    archive = read_archive(write_tar(tmp_path / "o.tar", files), "kind")
    assert archive.format == "oci-layout"
    assert archive.refs == ("quay.io/x/y:3", "docker.io/me/z:4")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("1.0", "names an image by the tag '1.0' alone; name it in full "
         "(org.opencontainers.image.ref.name: NAME:TAG)"),
        ("web:1", "names an image 'web:1'; name it in full, as the kubelet does: "
         "'docker.io/library/web:1'"),
    ],
)  # fmt: skip
def test_an_oci_layout_naming_an_image_in_short_is_one_line(
    tmp_path: Path, name: str, why: str
) -> None:
    index = {"manifests": [{"annotations": {"org.opencontainers.image.ref.name": name}}]}
    files = {"oci-layout": b"{}", "index.json": json.dumps(index).encode()}
    with pytest.raises(BackendError) as err:
        read_archive(write_tar(tmp_path / "o.tar", files), "local cluster")
    assert one_line(err).endswith("index.json " + why)


def test_a_missing_archive_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        read_archive(tmp_path / "nope.tar", "local cluster")
    assert (
        one_line(err) == f"local cluster: app.image_archive {tmp_path / 'nope.tar'}: no such file"
    )


def test_a_file_that_is_not_a_tar_is_one_line(tmp_path: Path) -> None:
    text = tmp_path / "app.tar"
    text.write_text("FROM debian\n")
    with pytest.raises(BackendError) as err:
        read_archive(text, "local cluster")
    assert one_line(err).endswith("app.tar: not an image archive (not a tar file)")


def test_a_tar_that_is_not_an_image_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        read_archive(write_tar(tmp_path / "src.tar", {"app.py": b"print()"}), "local cluster")
    assert "not an image archive (no manifest.json of `docker save`" in one_line(err)


def test_an_archive_without_a_name_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        read_archive(hollow_docker_save(tmp_path / "a.tar", []), "kind")
    assert "names no image (save it with a tag" in one_line(err)


def test_a_manifest_that_is_not_json_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        read_archive(write_tar(tmp_path / "a.tar", {"manifest.json": b"{nope"}), "kind")
    assert one_line(err).endswith("manifest.json is not JSON")


@pytest.mark.parametrize(
    ("ref", "full"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("me/app:1", "docker.io/me/app:1"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("registry.k8s.io/pause:3.6", "registry.k8s.io/pause:3.6"),
        ("index.docker.io/me/app:2", "docker.io/me/app:2"),
        ("web:1@sha256:ab", "docker.io/library/web@sha256:ab"),
    ],
)
def test_references_are_named_as_containerd_names_them(ref: str, full: str) -> None:
    assert normalize_ref(ref) == full


# ----- the local cluster: ctr ------------------------------------------------------------------


@pytest.fixture
def no_containerd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The local provisioner's containerd socket points where nothing listens."""
    run = tmp_path / "drainlab-run"
    run.mkdir()
    monkeypatch.setenv("DRAINLAB_RUN", str(run))
    return run / "containerd.sock"


def test_the_socket_follows_drainlab_run(no_containerd: Path) -> None:
    assert containerd_socket() == no_containerd


def test_local_refuses_a_missing_archive_before_asking_containerd(
    no_containerd: Path, tmp_path: Path
) -> None:
    said: list[str] = []
    with pytest.raises(BackendError) as err:
        LocalProvisioner(said.append).load_images([], tmp_path / "app.tar")
    # The archive's own problem, not containerd's absence: it was read first.
    assert one_line(err).endswith("app.tar: no such file")
    assert said == []


@pytest.mark.skipif(shutil.which("ctr") is None, reason="no ctr (containerd's CLI) here")
def test_local_without_its_containerd_is_one_line_from_ctr(
    no_containerd: Path, tmp_path: Path
) -> None:
    archive = hollow_docker_save(tmp_path / "a.tar", ["web:1"])
    with pytest.raises(BackendError) as err:
        LocalProvisioner(lambda _: None).load_images([], archive)
    text = one_line(err)
    assert text.startswith("local cluster: cannot list images: `ctr images ls` exited 1: ")
    assert str(no_containerd) in text  # ctr's own words say where it looked


def test_without_ctr_on_path_is_one_line(
    no_containerd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(no_containerd.parent))
    with pytest.raises(BackendError) as err:
        Containerd(no_containerd, "local cluster").images()
    assert one_line(err) == (
        "local cluster: cannot list images: `ctr` (containerd's CLI) not on PATH"
    )


# ----- kind ------------------------------------------------------------------------------------


def _kind() -> KindProvisioner:
    return KindProvisioner(image="drainlab/sample-app:0.1.0", node_host="127.0.0.1", say=print)


def test_kind_loads_each_image_and_the_archive(fakes: Path, tmp_path: Path) -> None:
    archive = hollow_docker_save(tmp_path / "web.tar", ["web:1"])
    refs = _kind().load_images(["me/api:2"], archive)
    assert _calls(fakes)[-2:] == [
        ["kind", "load", "image-archive", str(archive), "--name", "drainlab"],
        ["kind", "load", "docker-image", "me/api:2", "--name", "drainlab"],
    ]
    assert refs == ["docker.io/library/web:1", "docker.io/me/api:2"]


def test_kind_that_cannot_load_an_image_says_why_in_one_line(
    fakes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "kind load docker-image")
    monkeypatch.setenv("FAKE_FAIL_MESSAGE", 'ERROR: image: "me/api:2" not present locally')
    with pytest.raises(BackendError) as err:
        _kind().load_images(["me/api:2"], None)
    assert one_line(err) == (
        "kind: cannot load the image me/api:2: `kind load docker-image` exited 1: "
        'ERROR: image: "me/api:2" not present locally'
    )


@pytest.mark.skipif(shutil.which("kind") is not None, reason="kind is installed here")
def test_kind_absent_is_one_line_for_real(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        _kind().load_images(["me/api:2"], None)
    assert one_line(err).startswith("kind: `kind` is not on PATH (install it: ")


def test_kind_without_docker_is_one_line(fakes: Path) -> None:
    (fakes.parent / "bin" / "docker").unlink()
    with pytest.raises(BackendError) as err:
        _kind().load_images(["me/api:2"], None)
    assert one_line(err) == "kind: `docker` is not on PATH (kind runs its nodes in Docker)"


def test_kind_refuses_a_bad_archive_before_running_kind(fakes: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        _kind().load_images([], tmp_path / "nope.tar")
    assert one_line(err).endswith("nope.tar: no such file")
    assert fakes.read_text() == ""


# ----- the kube backend ------------------------------------------------------------------------


def test_the_kube_backend_loads_the_images_once_the_cluster_is_up(
    fakes: Path, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncontexts: []\n")
    kind = KindProvisioner(
        image="x:1", node_host="127.0.0.1", build_image=False, kubeconfig=kubeconfig, say=print,
        config=write_tar(tmp_path / "kind-config.yaml", {}),
    )  # fmt: skip
    backend = KubeBackend(Kube(), cluster=kind, images=AppImages(("me/api:2",), None))
    with pytest.raises(BackendError, match="no context 'kind-drainlab'"):
        asyncio.run(backend.connect())
    assert _calls(fakes)[-1][:4] == ["kind", "load", "docker-image", "me/api:2"]


def test_the_plain_kube_backend_loads_nothing_and_says_so(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.WARNING):
        refs = load_app_images(None, AppImages(("me/api:2",), tmp_path / "a.tar"))
    assert refs == []
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "loaded only on --backend kind and local" in warning and "\n" not in warning


def test_no_images_asks_no_cluster() -> None:
    assert load_app_images(None, AppImages()) == []


def test_the_archive_is_beside_the_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("app:\n  image_archive: images/web.tar\n  images: [me/api:2]\n")
    app = load_scenario(scenario).app
    assert app.image_archive == str(tmp_path / "images" / "web.tar")
    assert app.images == ["me/api:2"]
    assert AppImages.from_app(app) == AppImages(("me/api:2",), tmp_path / "images" / "web.tar")


def test_harness_run_with_an_archive_kind_cannot_load_is_one_line_exit_3(
    fakes: Path, tmp_path: Path
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("app:\n  image_archive: web.tar\n")
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--backend", "kind", "--scenario", str(scenario),
         "--out", str(tmp_path / "out"), "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.splitlines() == [
        f"harness: error: kind: app.image_archive {tmp_path / 'web.tar'}: no such file"
    ]
    assert not any(c[:3] == ["kind", "load", "image-archive"] for c in _calls(fakes))
