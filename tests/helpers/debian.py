"""Debian packages for the proof tests, fetched without being installed.

``apt-get install nginx`` (or lighttpd) would run the package's postinst, which starts a server
on port 80 as a system service: not on a machine others use. So a package is fetched with
``apt-get download`` and unpacked with ``dpkg-deb -x`` into
``/var/cache/drainlab/<package>-<version>/`` (``$DRAINLAB_CACHE`` overrides the folder), once:
later runs find it there. On a fresh machine with no apt lists, ``apt-get update`` runs first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
_LOCK = ["-o", "DPkg::Lock::Timeout=300"]  # another apt-get may hold the lock a while


class PackageUnavailable(Exception):
    """A package could not be fetched or does not run here; the message says why."""


def cache_folder() -> Path:
    return Path(os.environ.get("DRAINLAB_CACHE", "/var/cache/drainlab"))


def unpacked_binary(package: str, binary: str, version_args: tuple[str, ...] = ("-v",)) -> Path:
    """``binary`` (a path inside the package, e.g. ``usr/sbin/nginx``) of Debian's ``package``,
    unpacked into the cache on first use, checked to run with ``version_args``;
    PackageUnavailable when it cannot be."""
    version = _candidate_version(package)
    home = cache_folder() / f"{package}-{version}"
    path = home / binary
    if not path.is_file():
        try:
            _fetch(package, version, home, binary)
        except OSError as exc:  # e.g. a cache folder this user cannot write
            raise PackageUnavailable(f"cannot unpack {package} into {home}: {exc}") from None
    check = subprocess.run([path, *version_args], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise PackageUnavailable(f"{path} does not run: {check.stderr.strip()}")
    return path


def _candidate_version(package: str) -> str:
    if shutil.which("apt-cache") is None or shutil.which("dpkg-deb") is None:
        raise PackageUnavailable("no apt-cache or dpkg-deb on this machine (not Debian?)")
    for attempt in range(2):
        version = _apt(["apt-cache", "show", "--no-all-versions", package], "Version: ")
        if version:
            return version
        if attempt == 0:  # a fresh machine: no package lists yet
            _run(["apt-get", *_LOCK, "update"])
    raise PackageUnavailable(f"apt knows no {package} package, even after apt-get update")


def _apt(argv: list[str], prefix: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=_APT_ENV, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return ""


def _fetch(package: str, version: str, home: Path, binary: str) -> None:
    """apt-get download + dpkg-deb -x into ``home``, via a folder renamed at the end, so a run
    killed midway leaves nothing that looks complete."""
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home.parent, prefix=f".{package}-fetch-") as scratch:
        # apt's sandbox user cannot write to a root-only folder: a warning, not a failure.
        _run(["apt-get", *_LOCK, "download", f"{package}={version}"], cwd=scratch)
        (deb,) = Path(scratch).glob("*.deb")
        unpacked = Path(scratch) / "root"
        _run(["dpkg-deb", "-x", str(deb), str(unpacked)])
        try:
            unpacked.rename(home)
        except OSError:
            if not (home / binary).is_file():  # not another run's, just now
                raise


def _run(argv: list[str], cwd: str | None = None) -> None:
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=_APT_ENV, capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PackageUnavailable(f"{' '.join(argv)} failed: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PackageUnavailable(f"{' '.join(argv)} exited {done.returncode}: {tail[0]}")


def server_folder(folder: Path, name: str, launcher_body: str) -> tuple[Path, Path, Path]:
    """(launcher, site, run) in ``folder`` for a packaged server run as embedded pods: the
    launcher script (executable), a static site whose ``/`` (index.html) is the readiness path,
    and the folder where each pod keeps its own config, pid file and temp files.

    The launcher is run as ``launcher {host} {port}``; ``launcher_body`` follows a head that sets
    ``host``, ``port`` and ``dir``, the pod's own folder ``$<NAME>_RUN/$POD_NAME`` (created), and
    should end by exec'ing the server, so that it is the pod's process and gets its SIGTERM."""
    site = folder / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text(f"<p>drainlab {name}</p>\n")
    run = folder / "run"
    run.mkdir(exist_ok=True)
    pod_folder = f"${name.upper()}_RUN/$POD_NAME"
    head = f'#!/bin/sh\nset -eu\nhost=$1 port=$2\ndir="{pod_folder}"\nmkdir -p "$dir"\n'
    script = folder / f"run-{name}.sh"
    script.write_text(head + launcher_body)
    script.chmod(0o755)
    return script, site, run
