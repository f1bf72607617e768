"""The local cluster's NatReader capability without the cluster: fake ``nsenter`` and
``iptables-save`` on PATH, and every way a read can fail ending as one BackendError line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.clusters import NatReader
from harness.backends.clusters import local as local_module
from harness.backends.clusters.kind import KindProvisioner
from harness.backends.clusters.local import LocalProvisioner
from harness.errors import BackendError

NODE = "drainlab-local"

# nsenter --net=<path> -- iptables-save -t nat: the fake checks its arguments and runs the rest.
FAKE_NSENTER = """#!/bin/sh
case "$1" in --net=*) ;; *) echo "nsenter: bad call: $*" >&2; exit 9 ;; esac
[ "$2" = "--" ] || { echo "nsenter: bad call: $*" >&2; exit 9; }
shift 2
exec "$@"
"""
FAKE_IPTABLES_SAVE = """#!/bin/sh
[ "$*" = "-t nat" ] || { echo "iptables-save: bad call: $*" >&2; exit 9; }
case "$FAKE_SAVE" in
  fail) echo "iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id:" >&2
        echo "Permission denied (you must be root)" >&2; exit 4 ;;
  hang) exec sleep 30 ;;
  *) printf '*nat\\n-A OUTPUT -j KUBE-SERVICES\\nCOMMIT\\n' ;;
esac
"""


@pytest.fixture
def fake_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake tools on PATH, a netns file that exists, and root as far as the reader asks."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("nsenter", FAKE_NSENTER), ("iptables-save", FAKE_IPTABLES_SAVE)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    netns = tmp_path / "netns"
    netns.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(local_module, "NETNS", netns)
    monkeypatch.setattr(local_module, "unsupported_reason", lambda: None)
    monkeypatch.delenv("FAKE_SAVE", raising=False)
    return bin_dir


def read_error(node: str = NODE) -> str:
    with pytest.raises(BackendError) as caught:
        LocalProvisioner().read_node_nat(node)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_reads_the_nat_table_in_the_clusters_namespace(fake_node: Path) -> None:
    assert LocalProvisioner().read_node_nat(NODE) == "*nat\n-A OUTPUT -j KUBE-SERVICES\nCOMMIT\n"


def test_a_failed_save_says_why_in_one_line(
    fake_node: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SAVE", "fail")
    assert read_error() == (
        "local cluster: the NAT rules of node 'drainlab-local': iptables-save failed (exit 4): "
        "Permission denied (you must be root)"
    )


def test_a_hung_save_is_cut_short(fake_node: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SAVE", "hang")
    monkeypatch.setattr(local_module, "NAT_READ_TIMEOUT_S", 0.5)
    assert read_error() == (
        "local cluster: the NAT rules of node 'drainlab-local': iptables-save did not answer "
        "in 0.5 s"
    )


def test_an_unknown_node(fake_node: Path) -> None:
    assert read_error("worker-1\nx") == (
        "local cluster: the NAT rules of node 'worker-1\\nx' cannot be read: its one node is "
        "drainlab-local"
    )


def test_the_cluster_down(fake_node: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_module, "NETNS", fake_node / "absent")
    assert read_error().endswith(
        f"cannot be read: no network namespace {fake_node}/absent (is it up?)"
    )


def test_no_tools(fake_node: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_node.parent / "empty"))
    assert read_error().endswith("cannot be read: nsenter and iptables-save not on PATH")


def test_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.system", lambda: "Linux")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert read_error().endswith(
        "cannot be read: the local cluster needs root (it runs a kubelet, containerd and iptables)"
    )


def test_only_the_local_provisioner_is_a_nat_reader() -> None:
    assert isinstance(LocalProvisioner(), NatReader)
    assert not isinstance(KindProvisioner(image="x", node_host="127.0.0.1"), NatReader)
