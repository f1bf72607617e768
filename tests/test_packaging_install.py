"""drainlab installed as a user installs it, used from a folder that is not this checkout.

The checkout's current files (tracked and new, as `git add -A` would commit them) become a fresh
git repository; it is installed into new venvs with `pip install git+file://...`, `pip install
PATH` and `pip install -e PATH`, and the installed commands run from an empty folder.

What comes from where: drainlab itself (its code, the sample app, manifests, cluster-local/ and
the default scenario) only from the installed copy, which the tests check by path; its
dependencies (aiohttp, locust, ...) and the build backend (setuptools) from this checkout's .venv,
through a .pth line in each new venv, so the test needs no network and installs in seconds (pip
runs with --no-index, --no-deps and --no-build-isolation). That changes nothing the packaging
decides: which files the build puts where, and what the entry points import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.paths import REPO

pytestmark = pytest.mark.slow

SHIPPED = {
    "sample-app": "sample_app",
    "manifests": "sample_manifests",
    "cluster-local": "cluster_local",
}
PIP_TIMEOUT_S = 300
RUN_TIMEOUT_S = 300


def _env() -> dict[str, str]:
    """A user's environment: nothing of the test's venv or PYTHONPATH, no pip configuration that
    could reach an index."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "MAKEFLAGS", "MAKELEVEL"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PIP_")}


def _run(
    argv: list[str], cwd: Path, timeout_s: float = PIP_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout_s, check=False
    )


def _show(done: subprocess.CompletedProcess[str]) -> str:
    command = " ".join(map(str, done.args))
    return f"$ {command}\n(exit {done.returncode})\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _git(args: list[str], cwd: Path) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=drainlab-test", "-c", "user.email=test@drainlab.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's files as `git add -A` would commit them, in a new repository."""
    dest = tmp_path_factory.mktemp("tree") / "drainlab"
    dest.mkdir()
    listed = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO)
    for name in sorted(set(filter(None, listed.split("\0")))):
        source = REPO / name
        if not os.path.lexists(source):  # deleted, not yet committed
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / name, follow_symlinks=False)
    _git(["init", "--quiet"], dest)
    _git(["add", "--all"], dest)
    _git(["commit", "--quiet", "--message", "the checkout's tree"], dest)
    return dest


@dataclass(frozen=True)
class Venv:
    root: Path
    site: Path  # its own site-packages

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def command(self, name: str) -> Path:
        return self.root / "bin" / name


def _new_venv(root: Path) -> Venv:
    """A venv whose own site-packages is empty, with this .venv's packages behind it."""
    done = _run([sys.executable, "-m", "venv", "--without-pip", str(root)], root.parent)
    assert done.returncode == 0, _show(done)
    python = root / "bin" / "python"
    asked = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root
    )
    site = Path(asked.stdout.strip())
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    # Lines of a .pth are appended to sys.path after the venv's own site-packages, and the .pth
    # files in them are not processed: this .venv's editable drainlab stays out of sight.
    (site / "_drainlab_test_dependencies.pth").write_text("\n".join(ours) + "\n")
    return Venv(root, site)


def _pip_install(venv: Venv, *spec: str) -> None:
    argv = [str(venv.python), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps"]
    argv += ["--no-build-isolation", "--ignore-installed", *spec]
    done = _run(argv, venv.root)
    assert done.returncode == 0, _show(done)


@pytest.fixture(scope="module")
def from_git(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    venv = _new_venv(tmp_path_factory.mktemp("git") / "venv")
    _pip_install(venv, f"git+{tree.as_uri()}")
    return venv


@pytest.fixture(scope="module")
def from_path(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    venv = _new_venv(tmp_path_factory.mktemp("path") / "venv")
    _pip_install(venv, str(tree))
    return venv


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Path]:
    """An empty folder outside the checkout, where the user types the commands."""
    folder = tmp_path / "user"
    folder.mkdir()
    yield folder


def _packaged(venv: Venv, cwd: Path) -> dict[str, Path]:
    code = (
        "from harness import packaged as p\n"
        "for name in ('sample_app_path', 'sample_manifests_dir', 'kind_config_path',"
        " 'cluster_local_dir', 'default_scenario_path'):\n"
        "    print(name, getattr(p, name)())\n"
    )
    done = _run([str(venv.python), "-c", code], cwd)
    assert done.returncode == 0, _show(done)
    return {
        name: Path(path) for name, path in (line.split(" ", 1) for line in done.stdout.splitlines())
    }


@pytest.mark.parametrize("installed", ["from_git", "from_path"])
def test_the_installed_package_holds_every_shipped_file(
    installed: str, tree: Path, elsewhere: Path, request: pytest.FixtureRequest
) -> None:
    venv: Venv = request.getfixturevalue(installed)
    paths = _packaged(venv, elsewhere)
    package = venv.site / "harness"
    assert paths == {
        "sample_app_path": package / "sample_app" / "app.py",
        "sample_manifests_dir": package / "sample_manifests" / "base",
        "kind_config_path": package / "sample_manifests" / "kind-config.yaml",
        "cluster_local_dir": package / "cluster_local",
        "default_scenario_path": package / "scenarios" / "default.yaml",
    }
    for folder, name in SHIPPED.items():
        tracked = _git(["ls-files", "-z", folder], tree).split("\0")
        # Dot files are the tools' settings (cluster-local/.shellcheckrc): not shipped.
        for relative in (r for r in tracked if r and not Path(r).name.startswith(".")):
            source = tree / relative
            copy = package / name / Path(relative).relative_to(folder)
            assert copy.is_file(), f"{relative} is not in the installed package ({copy})"
            assert copy.read_bytes() == source.read_bytes(), relative
            # cluster-local/up.sh runs its sibling scripts directly. (A .py file is a module to
            # setuptools, copied without its mode: the scripts run those with python3.)
            if copy.suffix != ".py":
                assert os.access(copy, os.X_OK) == os.access(source, os.X_OK), relative


@pytest.mark.parametrize("installed", ["from_git", "from_path"])
def test_drainlab_and_harness_commands_outside_the_checkout(
    installed: str, elsewhere: Path, request: pytest.FixtureRequest
) -> None:
    venv: Venv = request.getfixturevalue(installed)
    helped = _run([str(venv.command("drainlab")), "--help"], elsewhere)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: drainlab"), _show(helped)
    alias = _run([str(venv.command("harness")), "--help"], elsewhere)
    assert alias.returncode == 0 and alias.stdout.startswith("usage: harness"), _show(alias)
    shipped = _run([str(venv.command("drainlab")), "validate"], elsewhere)
    assert shipped.returncode == 0 and "orders:" in shipped.stdout, _show(shipped)
    default = venv.site / "harness" / "scenarios" / "default.yaml"
    named = _run([str(venv.command("drainlab")), "validate", str(default)], elsewhere)
    assert named.returncode == 0 and named.stdout == shipped.stdout, _show(named)
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # nothing written where it ran


def test_a_short_embedded_run_with_the_shipped_sample_app(from_git: Venv, elsewhere: Path) -> None:
    argv = [str(from_git.command("drainlab")), "run", "--backend", "embedded"]
    argv += ["--orders", "graceful", "--replicas", "2", "--duration", "4", "--deletions", "1"]
    argv += ["--out", "runs", "--quiet", "--gate", "graceful"]
    done = _run(argv, elsewhere, RUN_TIMEOUT_S)
    assert done.returncode == 0, _show(done)
    report = elsewhere / done.stdout.strip().splitlines()[-1].removeprefix("report: ")
    assert report.is_file() and report.parent.parent == elsewhere / "runs", _show(done)
    assert (report.parent / "summary.json").is_file()


def test_an_editable_install_finds_the_checkout_folders(tree: Path, tmp_path: Path) -> None:
    venv = _new_venv(tmp_path / "venv")
    _pip_install(venv, "--editable", str(tree))
    paths = _packaged(venv, tmp_path)
    assert paths == {
        "sample_app_path": tree / "sample-app" / "app.py",
        "sample_manifests_dir": tree / "manifests" / "base",
        "kind_config_path": tree / "manifests" / "kind-config.yaml",
        "cluster_local_dir": tree / "cluster-local",
        "default_scenario_path": tree / "harness" / "scenarios" / "default.yaml",
    }
    helped = _run([str(venv.command("drainlab")), "validate"], tmp_path)
    assert helped.returncode == 0 and "orders:" in helped.stdout, _show(helped)


def test_the_installed_cluster_scripts_use_the_installed_sample_app(
    from_git: Venv, elsewhere: Path
) -> None:
    """`--backend local` runs the installed cluster_local/ scripts; their default app
    (../sample-app/app.py) exists only in a checkout, so the harness names the shipped one."""
    code = (
        "import subprocess\n"
        "from harness.backends.clusters import local\n"
        "lib = local.SCRIPTS_DIR / 'lib.sh'\n"
        "said = subprocess.run(['bash', '-c', 'source \"$0\"; echo \"$DL_APP\"', str(lib)],"
        " env=local._script_env(), capture_output=True, text=True, check=True)\n"
        "print(said.stdout.strip())\n"
    )
    done = _run([str(from_git.python), "-c", code], elsewhere)
    assert done.returncode == 0, _show(done)
    assert Path(done.stdout.strip()) == from_git.site / "harness" / "sample_app" / "app.py"
