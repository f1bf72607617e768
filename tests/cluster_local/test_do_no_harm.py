"""cluster-local touches nothing of the host but its own namespace, link and folders.

Without a cluster (root only): state paths must be drainlab's own, removals never cross a mount,
an interrupted script takes back what it did, and the prerequisites refuse a host that is not
Debian or where installing the packages would remove another one (real apt-get, simulated).

With the cluster (marked ``cluster``): etcd is out of reach of everything but the API server,
privileged pods are refused, and (marked ``last``: they take the cluster down and up) a host
that already has a bridge ``cni0`` and ``KUBE-*`` chains of its own keeps them through a whole
up/down cycle, and an interrupted bring-up leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.paths import REPO

from harness.backends.clusters import local
from harness.backends.clusters.local import LocalCluster

SCRIPTS = REPO / "cluster-local"
LIB = SCRIPTS / "lib.sh"
NETNS = "drainlab-local"
LINK_HOST = "drainlab-host"

needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root (mounts, namespaces)"
)


def bash(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "LIB": str(LIB), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("drainlab-local: error: "), lines[0]
    return lines[0]


# --- without a cluster ------------------------------------------------------------------------


def test_a_state_folder_that_is_not_drainlabs_own_is_refused(tmp_path: Path) -> None:
    """DRAINLAB_STATE=/var/lib would have had down.sh remove /var/lib: no script starts with it."""
    precious = tmp_path / "lib"
    precious.mkdir()
    (precious / "keep").write_text("x")
    done = bash('source "$LIB"; echo sourced', DRAINLAB_STATE=str(precious))
    assert done.returncode == 1 and "sourced" not in done.stdout
    assert f"DRAINLAB_STATE={precious}" in one_error_line(done)
    assert (precious / "keep").exists()


def test_the_three_folders_must_differ(tmp_path: Path) -> None:
    same = str(tmp_path / "drainlab-x")
    done = bash('source "$LIB"', DRAINLAB_STATE=same, DRAINLAB_RUN=same)
    assert done.returncode == 1
    assert "three different folders" in one_error_line(done)


@needs_root
def test_removing_a_folder_never_reaches_below_a_mount_in_it(tmp_path: Path) -> None:
    """An interrupted debootstrap can leave the host's /proc or a bind mount inside the rootfs."""
    precious = tmp_path / "host-data"
    precious.mkdir()
    (precious / "keep").write_text("x")
    tree = tmp_path / "drainlab-rootfs"
    (tree / "mnt").mkdir(parents=True)
    (tree / "own-file").write_text("y")
    subprocess.run(["mount", "--bind", str(precious), str(tree / "mnt")], check=True)
    try:
        done = bash('source "$LIB"; remove_tree "$TREE"', TREE=str(tree))
    finally:
        subprocess.run(["umount", str(tree / "mnt")], check=False, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert (precious / "keep").read_text() == "x"
    assert not tree.exists()


@pytest.mark.parametrize("ending", ["fail", "TERM", "INT", "succeed"])
def test_a_script_takes_back_what_it_did_when_it_fails_or_is_stopped(
    tmp_path: Path, ending: str
) -> None:
    script = """
    source "$LIB"
    undo 'touch "$DIR/undone"'
    always 'touch "$DIR/cleaned"'
    case "$ENDING" in
      fail) false ;;
      succeed) exit 0 ;;
      *) kill -s "$ENDING" $$; sleep 5 ;;
    esac
    """
    # The script must meet SIGINT as a user's Ctrl-C does. A shell without job control starts
    # its background commands with SIGINT ignored, and bash can never trap a signal that was
    # ignored when it started: a test session started that way (`pytest ... &` in a script)
    # would see the INT case go on to `sleep` and succeed.
    done = subprocess.run(
        ["bash", "-c", script],
        env={
            **os.environ,
            "LIB": str(LIB),
            "DIR": str(tmp_path),
            "ENDING": ending,
            "DRAINLAB_STATE": str(tmp_path / "drainlab"),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert (tmp_path / "cleaned").exists()
    assert (tmp_path / "undone").exists() == (ending != "succeed")
    assert (done.returncode == 0) == (ending == "succeed")


# A dpkg status as a host with Docker CE has it: containerd.io provides, replaces and conflicts
# with Debian's containerd and runc.
CONTAINERD_IO = """\
Package: containerd.io
Status: install ok installed
Priority: optional
Section: devel
Installed-Size: 100
Maintainer: Docker <support@docker.com>
Architecture: amd64
Version: 1.7.0-1
Provides: containerd, runc
Conflicts: containerd, runc
Replaces: containerd, runc
Description: An open and reliable container runtime

"""


def _status_without(packages: set[str]) -> str:
    stanzas = Path("/var/lib/dpkg/status").read_text().split("\n\n")
    kept = [s for s in stanzas if s.strip() and s.split("\n", 1)[0][9:] not in packages]
    return "\n\n".join(kept) + "\n\n"


@needs_root
def test_a_host_where_installing_would_remove_a_package_is_refused(tmp_path: Path) -> None:
    """apt-get itself (simulating, with a dpkg status as Docker CE leaves it) says what goes."""
    if not Path("/var/lib/dpkg/status").exists():
        pytest.skip("not a dpkg host")
    status = tmp_path / "status"
    status.write_text(_status_without({"containerd", "runc"}) + CONTAINERD_IO)
    apt_conf = tmp_path / "apt.conf"
    apt_conf.write_text(f'Dir::State::status "{status}";\n')
    done = subprocess.run(
        ["bash", str(SCRIPTS / "install-deps.sh")],
        env={**os.environ, "APT_CONFIG": str(apt_conf)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    line = one_error_line(done)
    assert "would remove containerd.io" in line
    assert "installing" not in done.stdout


@needs_root
def test_a_host_that_is_not_debian_is_refused(tmp_path: Path) -> None:
    """The host's /etc/os-release is replaced in a private mount namespace for this one script."""
    fake = tmp_path / "os-release"
    fake.write_text('PRETTY_NAME="Fedora Linux 40"\nID=fedora\n')
    script = f'mount --bind "{fake}" /etc/os-release && exec bash "{SCRIPTS}/install-deps.sh"'
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "this host is not Debian (Fedora Linux 40)" in one_error_line(done)


# --- with the cluster ---------------------------------------------------------------------------


def in_netns(netns: str, *argv: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.mark.cluster
def test_etcd_answers_only_the_api_servers_certificate(local_cluster: LocalCluster) -> None:
    pki = local_cluster.kubeconfig.parent / "pki"
    health = "https://127.0.0.1:2379/health"
    from_host = subprocess.run(
        ["curl", "-sS", "--max-time", "3", "-k", health], capture_output=True, text=True
    )
    assert from_host.returncode != 0  # nothing listens on the host's loopback
    no_cert = in_netns(NETNS, "curl", "-sS", "--max-time", "3", "--cacert", f"{pki}/ca.crt", health)
    assert no_cert.returncode != 0, no_cert.stdout
    with_cert = in_netns(
        NETNS, "curl", "-sS", "--max-time", "3", "--cacert", f"{pki}/ca.crt",
        "--cert", f"{pki}/apiserver-etcd-client.crt", "--key", f"{pki}/apiserver-etcd-client.key",
        health,
    )  # fmt: skip
    assert with_cert.returncode == 0 and '"health":"true"' in with_cert.stdout, with_cert


@pytest.mark.cluster
def test_privileged_pods_are_refused(local_cluster: LocalCluster) -> None:
    pod = (
        '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"drainlab-priv","namespace":"default"},'
        '"spec":{"containers":[{"name":"c","image":"registry.k8s.io/pause:3.6",'
        '"securityContext":{"privileged":true}}]}}'
    )
    done = subprocess.run(
        [str(_kubectl()), "--kubeconfig", str(local_cluster.kubeconfig), "--context",
         local_cluster.context, "create", "--dry-run=server", "-f", "-"],
        input=pod, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "privileged: Forbidden: disallowed by cluster policy" in done.stderr, done.stderr


def _kubectl() -> Path:
    return Path("/var/cache/drainlab/kubernetes-v1.20.2/bin/kubectl")


@pytest.fixture
def scratch_host() -> Iterator[str]:
    """A network namespace standing for a Kubernetes host: its own cni0 bridge and KUBE-* chains."""
    name = f"drainlab-test-host-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for argv in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "link", "add", "cni0", "type", "bridge"],
            ["ip", "addr", "add", "10.244.0.1/24", "dev", "cni0"],
            ["iptables", "-w", "-t", "nat", "-N", "KUBE-SERVICES"],
            ["iptables", "-w", "-t", "nat", "-A", "PREROUTING", "-j", "KUBE-SERVICES"],
            ["iptables", "-w", "-t", "filter", "-N", "KUBE-FORWARD"],
            ["iptables", "-w", "-t", "filter", "-A", "FORWARD", "-j", "KUBE-FORWARD"],
        ):
            done = in_netns(name, *argv)
            assert done.returncode == 0, done.stderr
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _network_of(netns: str) -> dict[str, str]:
    """What a host's network is made of, as text to compare before and after."""
    return {
        what: in_netns(netns, *argv).stdout
        for what, argv in {
            "links": ["ip", "-o", "link", "show"],
            "addresses": ["ip", "-o", "addr", "show"],
            "routes": ["ip", "route", "show", "table", "all"],
            "filter": ["iptables-save", "-t", "filter"],
            "nat": ["iptables-save", "-t", "nat"],
            "mangle": ["iptables-save", "-t", "mangle"],
            "sysctls": ["sysctl", "net.ipv4.ip_forward", "net.ipv4.conf.all.route_localnet"],
        }.items()
    }


def _without_counters(saved: str) -> str:
    return "\n".join(
        line for line in saved.splitlines() if not line.startswith(("#", ":"))
    )  # chain counters and timestamps change by themselves


def _script(host: str, name: str) -> subprocess.CompletedProcess[str]:
    return in_netns(host, "bash", str(SCRIPTS / name), timeout_s=900)


@pytest.mark.cluster
@pytest.mark.last
def test_a_hosts_own_cni0_and_kube_chains_survive_a_whole_cycle(
    local_cluster: LocalCluster, scratch_host: str
) -> None:
    before = _network_of(scratch_host)
    assert _script(scratch_host, "down.sh").returncode == 0
    up = _script(scratch_host, "up.sh")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "ready: kubeconfig=" in up.stdout
        during = _network_of(scratch_host)
        # The host's own chains and bridge are as they were; it gained exactly our link (and the
        # kernel's route for it), nothing else.
        for table in ("filter", "nat", "mangle"):
            assert _without_counters(during[table]) == _without_counters(before[table]), table
        assert "cni0" in during["links"] and "10.244.0.1/24" in during["addresses"]
        assert LINK_HOST in during["links"]
        assert [line for line in during["routes"].splitlines() if line not in before["routes"]] == [
            line for line in during["routes"].splitlines() if LINK_HOST in line
        ]
        nodes = in_netns(
            scratch_host, str(_kubectl()), "--kubeconfig", str(local_cluster.kubeconfig),
            "get", "nodes", "--no-headers",
        )  # fmt: skip
        assert " Ready " in nodes.stdout, nodes.stdout + nodes.stderr
    finally:
        down = _script(scratch_host, "down.sh")
    assert down.returncode == 0, down.stdout + down.stderr
    after = _network_of(scratch_host)
    assert {k: _without_counters(v) for k, v in after.items()} == {
        k: _without_counters(v) for k, v in before.items()
    }
    local.ensure_up()  # for whoever comes after


@pytest.mark.cluster
@pytest.mark.last
def test_an_interrupted_bring_up_leaves_nothing_running(local_cluster: LocalCluster) -> None:
    local.teardown()
    proc = subprocess.Popen(
        ["bash", str(SCRIPTS / "up.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if "etcd up" in line:  # the namespace, credentials and some daemons exist by now
            proc.send_signal(signal.SIGTERM)
            break
    rest, _ = proc.communicate(timeout=300)
    seen.append(rest)
    assert proc.returncode == 143, "".join(seen)
    assert "bring-up failed: tearing down" in rest
    assert not Path(f"/run/netns/{NETNS}").exists()
    assert subprocess.run(["ip", "link", "show", LINK_HOST], capture_output=True).returncode != 0
    assert not Path("/var/lib/drainlab-local").exists()
    deadline = time.monotonic() + 30
    while (left := _cluster_processes()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == []
    local.ensure_up()  # for whoever comes after


def _cluster_processes() -> list[str]:
    names = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd",
             "kubelet", "kube-proxy"}  # fmt: skip
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            exe = os.readlink(proc / "exe")
        except OSError:
            continue
        if Path(exe.removesuffix(" (deleted)")).name in names and (
            "drainlab" in exe or "drainlab" in (proc / "cmdline").read_text(errors="replace")
        ):
            found.append(f"{proc.name} {exe}")
    return found


@pytest.mark.cluster
def test_no_deb_src_entry_is_left_behind(local_cluster: LocalCluster) -> None:
    """On a fresh machine the session's bring-up built Kubernetes, which needs a deb-src entry
    for `apt-get source`: it is added for the download only. (On a machine with the build cached
    nothing was added, and this holds trivially.)"""
    assert not Path("/etc/apt/sources.list.d/drainlab-src.sources").exists()
