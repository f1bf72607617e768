"""The load image's key and its entry point, without a cluster and without building anything.

The key (cluster-local/build-load-image.sh --key, which needs no root and builds nothing) is
computed on a copy of the scripts and the harness package in a temporary folder, with a made-up
base layer, so that a test can change what goes in. The entry point runs a stand-in script.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.paths import REPO

from harness.backends.clusters import loadimage
from harness.errors import BackendError

SCRIPTS = ("lib.sh", "build-load-image.sh", "image-archive.py")


def copy_tree(dest: Path, harness_at: str = "harness", scripts_at: str = "cluster-local") -> Path:
    """The scripts at dest/scripts_at and the harness's files at dest/harness_at; returns the
    copied build-load-image.sh."""
    shutil.copytree(
        REPO / "harness", dest / harness_at, ignore=shutil.ignore_patterns("__pycache__")
    )
    (dest / scripts_at).mkdir(parents=True)
    for name in SCRIPTS:
        shutil.copy2(REPO / "cluster-local" / name, dest / scripts_at / name)
    return dest / scripts_at / "build-load-image.sh"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DRAINLAB_CACHE of this test's own, with a made-up base layer; returns that layer."""
    root = tmp_path / "drainlab-cache"
    base = root / "images" / "python-base-bookworm.layer.tar"
    base.parent.mkdir(parents=True)
    base.write_bytes(b"not a layer, only its digest counts here\n")
    monkeypatch.setenv("DRAINLAB_CACHE", str(root))
    return base


def key(script: Path, python: str = sys.executable) -> str:
    done = subprocess.run(
        ["bash", str(script), "--key", python], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert len(line) == 16 and int(line, 16) >= 0, line
    return line


def test_the_key_changes_with_each_thing_that_goes_in(tmp_path: Path, cache: Path) -> None:
    script = copy_tree(tmp_path / "repo")
    harness = tmp_path / "repo" / "harness"
    first = key(script)
    assert key(script) == first  # nothing changed

    keys = {first}
    steps = [
        lambda: (harness / "load" / "mix.py").write_text("# changed\n", "utf-8"),
        lambda: (harness / "load" / "new_module.py").write_text("X = 1\n", "utf-8"),
        lambda: (harness / "load" / "new_module.py").rename(harness / "load" / "renamed.py"),
        lambda: (harness / "py.typed").write_text("partial\n", "utf-8"),
        lambda: cache.write_bytes(b"another base layer\n"),
        lambda: script.write_text(script.read_text("utf-8") + "# a new line\n", "utf-8"),
        lambda: (script.parent / "image-archive.py").write_text("# another\n", "utf-8"),
    ]
    for step in steps:
        step()
        keys.add(key(script))
    assert len(keys) == 1 + len(steps)


def test_what_the_image_does_not_carry_leaves_the_key_alone(tmp_path: Path, cache: Path) -> None:
    script = copy_tree(tmp_path / "repo")
    first = key(script)
    (tmp_path / "repo" / "harness" / "scenarios" / "default.yaml").write_text("x: 1\n", "utf-8")
    (tmp_path / "repo" / "harness" / "load" / "__pycache__").mkdir()
    (tmp_path / "repo" / "harness" / "load" / "__pycache__" / "mix.cpython-311.py").touch()
    (tmp_path / "repo" / "README.md").write_text("anything\n", "utf-8")
    assert key(script) == first


def test_an_installed_harness_is_found_and_its_shipped_folders_are_not_code(
    tmp_path: Path, cache: Path
) -> None:
    """pip installs the scripts as harness/cluster_local/ (setup.py), beside the sample app."""
    site = tmp_path / "site-packages"
    script = copy_tree(site, scripts_at="harness/cluster_local")
    (site / "harness" / "sample_app").mkdir()
    (site / "harness" / "sample_app" / "app.py").write_text("print('app')\n", "utf-8")
    # The same files as a checkout's: the same image (the shipped folders are not the harness).
    first = key(script)
    assert first == key(copy_tree(tmp_path / "repo"))
    (site / "harness" / "sample_app" / "app.py").write_text("print('other')\n", "utf-8")
    (site / "harness" / "cluster_local" / "more.py").write_text("X = 2\n", "utf-8")
    assert key(script) == first
    (site / "harness" / "load" / "mix.py").write_text("# changed\n", "utf-8")
    assert key(script) != first


def test_the_key_follows_the_pythons_package_versions(tmp_path: Path, cache: Path) -> None:
    """Another locust (here: a PYTHON that reports one) is another image."""
    script = copy_tree(tmp_path / "repo")
    first = key(script)
    fake = tmp_path / "site"
    meta = fake / "locust-9.9.9.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: locust\nVersion: 9.9.9\n")
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={fake} exec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    assert key(script, str(wrapper)) != first


def test_a_python_without_locust_is_one_line(tmp_path: Path, cache: Path) -> None:
    script = copy_tree(tmp_path / "repo")
    bare = shutil.which("python3", path="/usr/bin:/bin")
    if (
        bare is None
        or subprocess.run([bare, "-c", "import locust"], capture_output=True).returncode == 0
    ):
        pytest.skip("no python3 without locust on this machine")
    done = subprocess.run(["bash", str(script), "--key", bare], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == (
        f"drainlab-local: error: {bare} cannot say its locust and orjson versions: "
        "it has no locust installed\n"
    )


def test_a_missing_base_layer_is_one_line(tmp_path: Path, cache: Path) -> None:
    script = copy_tree(tmp_path / "repo")
    cache.unlink()
    done = subprocess.run(["bash", str(script), sys.executable], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == (
        f"drainlab-local: error: no base layer {cache} "
        "(build-images.sh makes it; up.sh runs that)\n"
    )


# The entry point, with a stand-in for the script.


def test_the_command_is_the_script_with_this_python() -> None:
    assert loadimage.build_command() == [
        "bash",
        str(REPO / "cluster-local" / "build-load-image.sh"),
        sys.executable,
    ]
    assert loadimage.build_command("/opt/py")[2:] == ["/opt/py"]


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """build-load-image.sh replaced by a script of the test's; returns its path."""
    monkeypatch.setattr(loadimage, "SCRIPTS_DIR", tmp_path)
    monkeypatch.setattr(loadimage, "unsupported_reason", lambda: None)
    return tmp_path / loadimage.BUILDER


def test_the_archive_and_ref_of_the_last_line(stand_in: Path, tmp_path: Path) -> None:
    archive = tmp_path / "a folder" / "load-0123456789abcdef.tar"
    archive.parent.mkdir()
    archive.touch()
    stand_in.write_text(
        'echo "drainlab-local: building" >&2\n'
        'echo "not the last line"\n'
        f'echo "{archive} drainlab/load:0123456789abcdef"\n'
    )
    said: list[str] = []
    assert loadimage.load_image_archive(said.append) == (archive, "drainlab/load:0123456789abcdef")
    assert said == ["drainlab-local: building"]


def test_the_python_the_script_gets_is_this_one(stand_in: Path, tmp_path: Path) -> None:
    (tmp_path / "a.tar").touch()
    stand_in.write_text(
        f'[ "$1" = "{sys.executable}" ] || exit 7\necho "{tmp_path}/a.tar drainlab/load:k"\n'
    )
    assert loadimage.load_image_archive() == (tmp_path / "a.tar", "drainlab/load:k")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'echo "drainlab-local: building" >&2\n'
            'echo "drainlab-local: error: pip install failed: No matching distribution" >&2\n'
            "exit 1\n",
            "local cluster: the load image: pip install failed: No matching distribution",
        ),
        (
            'echo "something" >&2\necho "Traceback: it broke" >&2\nexit 2\n',
            "local cluster: the load image: build-load-image.sh failed (exit 2): "
            "Traceback: it broke",
        ),
        (
            "exit 3\n",
            "local cluster: the load image: build-load-image.sh failed (exit 3): no output",
        ),
        (
            'echo "just a path"\n',
            "local cluster: the load image: build-load-image.sh did not end with 'ARCHIVE REF': "
            "'just a path'",
        ),
        (
            'echo "/nonexistent/load-x.tar drainlab/load:x"\n',
            "local cluster: the load image: build-load-image.sh named /nonexistent/load-x.tar, "
            "which is not a file",
        ),
    ],
    ids=["error-line", "last-line", "silent", "no-ref", "no-file"],
)
def test_a_failure_is_one_line(stand_in: Path, body: str, message: str) -> None:
    stand_in.write_text(body)
    with pytest.raises(BackendError) as err:
        loadimage.load_image_archive()
    assert str(err.value) == message


def test_a_build_that_takes_too_long_is_stopped_with_its_children(
    stand_in: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    stand_in.write_text(f"sleep 60 &\necho $! >{pid_file}\nwait\n")
    with pytest.raises(BackendError) as err:
        loadimage.load_image_archive(timeout_s=1)
    assert str(err.value) == (
        "local cluster: the load image: build-load-image.sh did not finish in 1 s; stopped"
    )
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while not gone(child):  # its new parent may take a moment to reap it
        assert time.monotonic() < deadline, f"the script's child {child} still runs"
        time.sleep(0.1)


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_a_machine_that_cannot_run_the_cluster_is_one_line(
    stand_in: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loadimage, "unsupported_reason", lambda: "the local cluster needs root")
    with pytest.raises(BackendError) as err:
        loadimage.load_image_archive()
    assert (
        str(err.value)
        == "local cluster: the load image cannot be built: the local cluster needs root"
    )
