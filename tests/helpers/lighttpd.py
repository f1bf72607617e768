"""Debian's lighttpd (bookworm: 1.4.69) for the proof tests, fetched without being installed
(helpers/debian.py), and run as a pod.

Its known shutdown behaviour (doc/initscripts.txt of lighttpd 1.4): SIGTERM shuts down
immediately (existing connections are cut, then it exits), SIGINT gracefully (it serves what it
has, then exits). The kubelet sends SIGTERM, so as it is it drops.

Its libraries (libnettle8, libxxhash0, libpcre2-8-0, libcrypt1) are the base system's; the
modules a static site needs (mod_indexfile, mod_staticfile) are built into the 1.4.69 binary, so
the config loads none (``server.modules = ()``), and ``-m`` names the package's module folder
only so that lighttpd never looks into the host's.

``lighttpd_app(binary, folder)`` writes a launcher that gives each pod a config of its own
(``server.bind``/``server.port`` the pod's ``{host}``/``{port}``, its error log on stderr, pid
file and upload folder in ``$LIGHTTPD_RUN/$POD_NAME``) and runs ``lighttpd -D`` (no daemon: it
is the pod's process and gets the kubelet's SIGTERM), and a static site whose ``/`` is the
readiness path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers.debian import server_folder, unpacked_binary


def lighttpd_binary() -> Path:
    """The unpacked lighttpd binary, fetched on first use; PackageUnavailable when it cannot be."""
    return unpacked_binary("lighttpd", "usr/sbin/lighttpd")


LAUNCHER_BODY = r"""mkdir -p "$dir/uploads"
cat > "$dir/lighttpd.conf" <<EOF
server.bind = "$host"
server.port = $port
server.document-root = "$LIGHTTPD_SITE"
server.pid-file = "$dir/lighttpd.pid"
server.errorlog = "/dev/stderr"
server.upload-dirs = ( "$dir/uploads" )
server.modules = ( )
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html" )
EOF
exec "$LIGHTTPD_BIN" -D -f "$dir/lighttpd.conf" -m "$LIGHTTPD_MODULES"
"""


@dataclass(frozen=True)
class LighttpdApp:
    command: list[str]  # with {host} and {port}
    env: dict[str, str]  # LIGHTTPD_BIN, LIGHTTPD_MODULES, LIGHTTPD_RUN, LIGHTTPD_SITE


def lighttpd_app(binary: Path, folder: Path) -> LighttpdApp:
    """The launcher, a site and the pods' folders in ``folder``; what a scenario's app needs."""
    launcher, site, run = server_folder(folder, "lighttpd", LAUNCHER_BODY)
    modules = binary.parent.parent / "lib" / "lighttpd"  # <home>/usr/sbin -> <home>/usr/lib
    env = {
        "LIGHTTPD_BIN": str(binary),
        "LIGHTTPD_MODULES": str(modules),
        "LIGHTTPD_RUN": str(run),
        "LIGHTTPD_SITE": str(site),
    }
    return LighttpdApp([str(launcher), "{host}", "{port}"], env)
