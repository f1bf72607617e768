"""The local real Kubernetes: a single-node v1.20 cluster built here from Debian's packages.

One cluster, several names; this is where they are mapped:

=========================  =====================================================================
``--backend local``        the CLI name; selects :class:`LocalProvisioner` (backends/select.py)
this module                ``harness.backends.clusters.local``: the typed layer over the scripts
``cluster-local/``         the scripts that do the work (up.sh, down.sh, status.sh; see its README)
``drainlab-local``         the kubeconfig context, the node's name, the prefix of the scripts'
                           lines, and /var/lib/drainlab-local, /run/drainlab-local (its state)
=========================  =====================================================================

- :func:`ensure_up` brings the cluster up, or checks that it is up (re-importing the sample app's
  image if ``sample-app/app.py`` changed), and returns where to reach it. The first run on a fresh
  machine installs packages and builds Kubernetes, which takes minutes: pass ``progress`` to see
  the scripts' lines as they come. :class:`LocalProvisioner` is the same for the kube backend.
- :meth:`LocalProvisioner.load_images` imports the user's image archive into the node's
  containerd (``ctr images import``, containerd.py) and checks that the images are there.
- ``loadimage.load_image_archive`` (loadimage.py) builds the load pods' image
  (cluster-local/build-load-image.sh) for ``traffic.from: cluster``; ``load_images`` imports it.
- :func:`teardown` stops everything the cluster started and removes its state (the build cache
  stays).
- :func:`status` says whether it is up.
- :func:`read_node_nat` (also :meth:`LocalProvisioner.read_node_nat`, its ``NatReader``
  capability) reads the node's NAT table from this machine: the data plane's ground truth.

The cluster lives in a network namespace of its own (``drainlab-local``); this machine reaches it
through one veth pair. Clients reach Services at ``<node address>:<nodePort>`` (the ready line's
``host``, 10.250.77.2 by default) and the API with the kubeconfig's context.
Every failure is a :class:`BackendError` with one line saying why (not Linux, not root, no
network to the Debian mirror, a component that did not start...); :func:`unsupported_reason`
tells, without raising, whether this machine cannot run it at all (not Linux, not root).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.backends.clusters import ClusterTarget, print_progress
from harness.backends.clusters.containerd import Containerd
from harness.backends.clusters.containerkill import KillsThroughNodeContainerd
from harness.backends.clusters.images import absent, describe, normalize_ref, read_archive
from harness.errors import BackendError
from harness.packaged import cluster_local_dir, sample_app_path
from harness.scenario import Kube

Progress = Callable[[str], None]

SCRIPTS_DIR = cluster_local_dir()

_PREFIX = "drainlab-local: "
_ERROR = _PREFIX + "error: "
_READY = _PREFIX + "ready: "
_FIELD = re.compile(r"(\w+)=(\S+)")

NODE = "drainlab-local"  # the cluster's one node (DL_NODE in cluster-local/lib.sh)
NETNS = Path("/run/netns/drainlab-local")  # where its network lives (DL_NETNS)
NAT_READ_TIMEOUT_S = 10.0  # a read takes milliseconds; one that hangs is a broken node


@dataclass(frozen=True, slots=True)
class LocalCluster:
    """Where the running local cluster is reached."""

    kubeconfig: Path
    context: str
    node_host: str  # where NodePort Services answer: http://{node_host}:{nodePort}
    kubernetes_version: str  # e.g. "v1.20.2"
    node_name: str
    started: bool  # True when this ensure_up() brought it up (it was not already running)

    @property
    def target(self) -> ClusterTarget:
        return ClusterTarget(self.kubeconfig, self.context, self.node_host, self.started)


@dataclass(frozen=True, slots=True)
class LocalClusterStatus:
    state: Literal["up", "down", "degraded"]
    lines: tuple[str, ...]  # one per component, as cluster-local/status.sh prints them
    cluster: LocalCluster | None  # set when state == "up"


def unsupported_reason() -> str | None:
    """Why this machine cannot run the local cluster at all, or None if it can try."""
    if platform.system() != "Linux":
        return f"the local cluster needs Linux (this is {platform.system()})"
    if os.geteuid() != 0:
        return "the local cluster needs root (it runs a kubelet, containerd and iptables)"
    return None


def local_ca() -> bytes | str:
    """The local cluster's CA certificate (PEM), which identifies it to the kube guard; or why it
    cannot be read (a str). It lies in the cluster's state: ``$DRAINLAB_STATE/pki/ca.crt``
    (cluster-local/make-credentials.sh)."""
    state = os.path.realpath(os.environ.get("DRAINLAB_STATE") or "/var/lib/drainlab-local")
    path = Path(state) / "pki" / "ca.crt"
    try:
        return path.read_bytes()
    except OSError as exc:
        return f"the local cluster's CA {path} cannot be read ({exc.strerror or exc})"


def containerd_socket() -> Path:
    """The node's containerd socket: ``$DRAINLAB_RUN/containerd.sock`` (cluster-local/lib.sh)."""
    run = os.path.realpath(os.environ.get("DRAINLAB_RUN") or "/run/drainlab-local")
    return Path(run) / "containerd.sock"


def _check_can_run() -> None:
    reason = unsupported_reason()
    if reason is not None:
        raise BackendError(reason)
    if not (SCRIPTS_DIR / "up.sh").is_file():
        raise BackendError(f"cluster-local scripts not found at {SCRIPTS_DIR} (reinstall drainlab)")
    if shutil.which("bash") is None:
        raise BackendError("the local cluster scripts need bash, which is not on PATH")


def ensure_up(progress: Progress | None = None) -> LocalCluster:
    """Bring the local cluster up if it is not up and healthy; return where to reach it.

    Idempotent: when it is already up this only re-imports the sample app image if app.py
    changed. After a crash it cleans the leftovers and starts fresh. Raises BackendError.
    """
    lines = _run("up.sh", progress)
    cluster = _parse_ready(lines)
    if cluster is None:
        raise BackendError("local cluster: up.sh finished without its ready line")
    return cluster


class LocalProvisioner(KillsThroughNodeContainerd):
    """The ``ClusterProvisioner`` for the local cluster: :func:`ensure_up`, progress shown."""

    name = "local"

    def __init__(self, progress: Progress = print_progress) -> None:
        self._progress = progress

    @classmethod
    def from_settings(cls, kube: Kube) -> LocalProvisioner:
        """The scenario's kube settings say nothing the local cluster needs: it is one cluster."""
        return cls()

    def ensure_up(self) -> ClusterTarget:
        return ensure_up(self._progress).target

    def read_node_nat(self, node: str) -> str:
        """The ``NatReader`` capability: :func:`read_node_nat`."""
        return read_node_nat(node)

    def load_image(self) -> str:
        """The ``LoadImageMaker`` capability: the load pods' image (loadimage.py builds it, or
        finds it cached), imported into the node's containerd unless it is there already."""
        from harness.backends.clusters.loadimage import load_image_archive  # it imports this

        archive, ref = load_image_archive(self._progress)
        if normalize_ref(ref) not in Containerd(containerd_socket(), "local cluster").images():
            self.load_images([ref], archive)
        return ref

    def load_images(self, images: Sequence[str], archive: Path | None) -> list[str]:
        """Imports ``archive`` into the node's containerd, then checks that it has every image
        of ``images`` (the node cannot pull: its network has no route out). Returns the
        references now there. Checks everything it can before importing; a failed import leaves
        no image behind (containerd.py)."""
        who = "local cluster"
        node = Containerd(containerd_socket(), who)
        carried = read_archive(archive, who) if archive is not None else None
        missing = absent(images, [*node.images(), *(carried.refs if carried else ())])
        if missing:
            raise BackendError(
                f"{who}: image {describe(missing)} is not in the node's containerd and it cannot "
                "pull; name an archive that holds it in app.image_archive"
            )
        loaded = node.import_archive(carried) if carried is not None else []
        if carried is not None:
            self._progress(f"{who}: imported {describe(loaded)} from {archive}")
        return list(dict.fromkeys([*loaded, *map(normalize_ref, images)]))


def read_node_nat(node: str) -> str:
    """The node's NAT table as ``iptables-save -t nat`` prints it, read from this machine in the
    cluster's network namespace, where kube-proxy writes it (with this machine's iptables, the
    binaries it runs too). BackendError with one line when it cannot be read."""
    who = f"local cluster: the NAT rules of node {node!r}"
    if node != NODE:
        raise BackendError(f"{who} cannot be read: its one node is {NODE}")
    reason = unsupported_reason()
    if reason is not None:
        raise BackendError(f"{who} cannot be read: {reason}")
    missing = [tool for tool in ("nsenter", "iptables-save") if shutil.which(tool) is None]
    if missing:
        raise BackendError(f"{who} cannot be read: {' and '.join(missing)} not on PATH")
    if not NETNS.exists():
        raise BackendError(f"{who} cannot be read: no network namespace {NETNS} (is it up?)")
    try:
        done = subprocess.run(
            ["nsenter", f"--net={NETNS}", "--", "iptables-save", "-t", "nat"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=NAT_READ_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise BackendError(f"{who}: iptables-save did not answer in {e.timeout:g} s") from e
    except OSError as e:
        raise BackendError(f"{who} cannot be read: {e.strerror or e}") from e
    if done.returncode != 0:
        tail = next((ln for ln in reversed(done.stderr.splitlines()) if ln.strip()), "no output")
        raise BackendError(f"{who}: iptables-save failed (exit {done.returncode}): {tail.strip()}")
    return done.stdout


def teardown(progress: Progress | None = None) -> None:
    """Stop every process the local cluster started and remove its state; keep the caches."""
    _run("down.sh", progress)


def status() -> LocalClusterStatus:
    """Whether the local cluster is up, down, or partly running."""
    _check_can_run()
    proc = subprocess.run(
        ["bash", str(SCRIPTS_DIR / "status.sh")],
        env=_script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    lines = tuple(proc.stdout.splitlines())
    if proc.returncode == 0:
        return LocalClusterStatus("up", lines, _parse_ready(lines))
    if proc.returncode == 3:
        return LocalClusterStatus("down", lines, None)
    if proc.returncode == 1:
        return LocalClusterStatus("degraded", lines, None)
    raise BackendError(_error_line(lines, "status.sh", proc.returncode))


def _script_env() -> dict[str, str]:
    # The scripts' default app is ../sample-app/app.py, which an installed drainlab does not have;
    # a DRAINLAB_APP the user set still wins (lib.sh, too, reads an empty one as unset).
    return {**os.environ, "DRAINLAB_APP": os.environ.get("DRAINLAB_APP") or str(sample_app_path())}


def _run(script: str, progress: Progress | None) -> list[str]:
    """Run one script, streaming its lines to ``progress``; BackendError with its error line."""
    _check_can_run()
    lines: list[str] = []
    with subprocess.Popen(
        ["bash", str(SCRIPTS_DIR / script)],
        env=_script_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            if progress is not None:
                progress(line)
        code = proc.wait()
    if code != 0:
        raise BackendError(_error_line(lines, script, code))
    return lines


def _error_line(lines: list[str] | tuple[str, ...], script: str, code: int) -> str:
    # The first error line is the cause; the scripts that called the failing one may add theirs.
    for line in lines:
        if line.startswith(_ERROR):
            return "local cluster: " + line.removeprefix(_ERROR)
    tail = next((line for line in reversed(lines) if line.strip()), "no output")
    return f"local cluster: {script} failed (exit {code}): {tail.strip()}"


def _parse_ready(lines: list[str] | tuple[str, ...]) -> LocalCluster | None:
    for line in reversed(lines):
        if line.startswith(_READY):
            fields = dict(_FIELD.findall(line.removeprefix(_READY)))
            try:
                return LocalCluster(
                    kubeconfig=Path(fields["kubeconfig"]),
                    context=fields["context"],
                    node_host=fields["host"],
                    kubernetes_version=fields["version"],
                    node_name=fields["node"],
                    started=fields.get("started") == "1",
                )
            except KeyError as e:
                raise BackendError(f"local cluster: ready line lacks {e.args[0]}: {line}") from e
    return None
