"""Debian's nginx for the proof tests, fetched without being installed (helpers/debian.py), and
run as a pod.

The ``nginx`` package (in bookworm it holds ``/usr/sbin/nginx``; nginx-core and nginx-light only
add modules) is unpacked into ``/var/cache/drainlab/nginx-<version>/``. Its libraries (libc,
libssl3, libpcre2, zlib) are the base system's.

``nginx_app(binary, folder)`` writes what a scenario needs to run it on the embedded backend: a
launcher that gives each pod a config of its own (listening on the pod's ``{host}:{port}``,
``daemon off; master_process on;``, its log on stderr, its pid file and temp paths in the pod's
own folder) and a static site whose ``/`` is the readiness path. The pod's folder is
``$NGINX_RUN/$POD_NAME``, so a preStop hook (run in the pod's environment) can ask it for its
graceful shutdown (``NginxApp.quit_command``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers.debian import server_folder, unpacked_binary


def nginx_binary() -> Path:
    """The unpacked nginx binary, fetched on first use; PackageUnavailable when it cannot be."""
    return unpacked_binary("nginx", "usr/sbin/nginx")


# One pod's nginx: its own config, then nginx itself in the foreground (exec: it is the
# container's main process and gets the kubelet's SIGTERM). Workers run as the harness's user,
# who can read the site (a root master would otherwise give them to "nobody").
LAUNCHER_BODY = r"""cat > "$dir/nginx.conf" <<EOF
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
    launcher, site, run = server_folder(folder, "nginx", LAUNCHER_BODY)
    env = {"NGINX_BIN": str(binary), "NGINX_RUN": str(run), "NGINX_SITE": str(site)}
    # `nginx -s quit` only sends SIGQUIT: a hook that returned then would have the kubelet's
    # SIGTERM (the fast shutdown) follow at once. So the hook waits for the master to be gone.
    pod = '"$NGINX_RUN/$POD_NAME"'
    quit_command = (
        f'"$NGINX_BIN" -p {pod} -c {pod}/nginx.conf -s quit; '
        f'while kill -0 "$(cat {pod}/nginx.pid 2>/dev/null)" 2>/dev/null; do sleep 0.1; done'
    )
    return NginxApp([str(launcher), "{host}", "{port}"], env, quit_command)
