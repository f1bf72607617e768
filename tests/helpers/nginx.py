"""Debian's nginx for the proof tests, fetched without being installed, and run as a pod.

``apt-get install nginx`` would run the package's postinst, which starts a server on port 80 as
a system service: not on a machine others use. So the ``nginx`` package (in bookworm it holds
``/usr/sbin/nginx``; nginx-core and nginx-light only add modules) is fetched with
``apt-get download`` and unpacked with ``dpkg-deb -x`` into
``/var/cache/drainlab/nginx-<version>/`` (``$DRAINLAB_CACHE`` overrides the folder), once: later
runs find it there. Its libraries (libc, libssl3, libpcre2, zlib) are the base system's. On a
fresh machine with no apt lists, ``apt-get update`` runs first.

``nginx_app(binary, folder)`` writes what a scenario needs to run it on the embedded backend: a
launcher that gives each pod a config of its own (listening on the pod's ``{host}:{port}``,
``daemon off; master_process on;``, its log on stderr, its pid file and temp paths in the pod's
own folder) and a static site whose ``/`` is the readiness path. The pod's folder is
``$NGINX_RUN/$POD_NAME``, so a preStop hook (run in the pod's environment) can ask it for its
graceful shutdown (``NginxApp.quit_command``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "nginx"
_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
_LOCK = ["-o", "DPkg::Lock::Timeout=300"]  # another apt-get may hold the lock a while


class NginxUnavailable(Exception):
    """nginx could not be fetched or does not run here; the message says why."""


def cache_folder() -> Path:
    return Path(os.environ.get("DRAINLAB_CACHE", "/var/cache/drainlab"))


def nginx_binary() -> Path:
    """The unpacked nginx binary, fetched on first use; NginxUnavailable when it cannot be."""
    version = _candidate_version()
    home = cache_folder() / f"nginx-{version}"
    binary = home / "usr" / "sbin" / "nginx"
    if not binary.is_file():
        try:
            _fetch(version, home)
        except OSError as exc:  # e.g. a cache folder this user cannot write
            raise NginxUnavailable(f"cannot unpack nginx into {home}: {exc}") from None
    check = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise NginxUnavailable(f"{binary} does not run: {check.stderr.strip()}")
    return binary


def _candidate_version() -> str:
    if shutil.which("apt-cache") is None or shutil.which("dpkg-deb") is None:
        raise NginxUnavailable("no apt-cache or dpkg-deb on this machine (not Debian?)")
    for attempt in range(2):
        version = _apt(["apt-cache", "show", "--no-all-versions", PACKAGE], "Version: ")
        if version:
            return version
        if attempt == 0:  # a fresh machine: no package lists yet
            _run(["apt-get", *_LOCK, "update"])
    raise NginxUnavailable(f"apt knows no {PACKAGE} package, even after apt-get update")


def _apt(argv: list[str], prefix: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=_APT_ENV, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return ""


def _fetch(version: str, home: Path) -> None:
    """apt-get download + dpkg-deb -x into ``home``, via a folder renamed at the end, so a run
    killed midway leaves nothing that looks complete."""
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home.parent, prefix=".nginx-fetch-") as scratch:
        # apt's sandbox user cannot write to a root-only folder: a warning, not a failure.
        _run(["apt-get", *_LOCK, "download", f"{PACKAGE}={version}"], cwd=scratch)
        (deb,) = Path(scratch).glob("*.deb")
        unpacked = Path(scratch) / "root"
        _run(["dpkg-deb", "-x", str(deb), str(unpacked)])
        try:
            unpacked.rename(home)
        except OSError:
            if not (home / "usr" / "sbin" / "nginx").is_file():  # not another run's, just now
                raise


def _run(argv: list[str], cwd: str | None = None) -> None:
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=_APT_ENV, capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NginxUnavailable(f"{' '.join(argv)} failed: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise NginxUnavailable(f"{' '.join(argv)} exited {done.returncode}: {tail[0]}")


# One pod's nginx: its own config, then nginx itself in the foreground (exec: it is the
# container's main process and gets the kubelet's SIGTERM). Workers run as the harness's user,
# who can read the site (a root master would otherwise give them to "nobody").
LAUNCHER = r"""#!/bin/sh
set -eu
host=$1 port=$2
dir="$NGINX_RUN/$POD_NAME"
mkdir -p "$dir"
cat > "$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user $(id -un);
error_log stderr notice;
pid $dir/nginx.pid;
lock_file $dir/nginx.lock;
events { worker_connections 1024; }
http {
    access_log off;
    default_type text/html;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen $host:$port;
        root $NGINX_SITE;
        location / { }
    }
}
EOF
exec "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf"
"""


@dataclass(frozen=True)
class NginxApp:
    command: list[str]  # with {host} and {port}
    env: dict[str, str]  # NGINX_BIN, NGINX_RUN, NGINX_SITE (nginx reads NGINX itself)
    quit_command: str  # a shell command that asks this pod's nginx for its graceful shutdown


def nginx_app(binary: Path, folder: Path) -> NginxApp:
    """The launcher, a site and the pods' folders in ``folder``; what a scenario's app needs."""
    site = folder / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text("<p>drainlab nginx</p>\n")
    (folder / "run").mkdir(exist_ok=True)
    launcher = folder / "run-nginx.sh"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    env = {"NGINX_BIN": str(binary), "NGINX_RUN": str(folder / "run"), "NGINX_SITE": str(site)}
    # `nginx -s quit` only sends SIGQUIT: a hook that returned then would have the kubelet's
    # SIGTERM (the fast shutdown) follow at once. So the hook waits for the master to be gone.
    pod = '"$NGINX_RUN/$POD_NAME"'
    quit_command = (
        f'"$NGINX_BIN" -p {pod} -c {pod}/nginx.conf -s quit; '
        f'while kill -0 "$(cat {pod}/nginx.pid 2>/dev/null)" 2>/dev/null; do sleep 0.1; done'
    )
    return NginxApp([str(launcher), "{host}", "{port}"], env, quit_command)
