"""Which kubeconfig contexts the kube backend accepts, and the one-line refusals."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from helpers.fakekube import FakeApi

from harness.backends.kube.api import Api
from harness.backends.kube.client import Connection, connect, list_contexts
from harness.backends.kube.contextcheck import check_context
from harness.backends.kube.guard import evaluate, is_loopback
from harness.backends.kube.kinds import NODE
from harness.errors import BackendError


@pytest.mark.parametrize(
    ("server", "local"),
    [
        ("https://127.0.0.1:6443", True),
        ("https://127.0.0.2:443", True),
        ("https://localhost:34567", True),
        ("https://[::1]:6443", True),
        ("127.0.0.1:6443", True),
        ("https://10.0.0.1:6443", False),
        ("https://prod.example.com", False),
        ("https://localhost.example.com", False),
    ],
)
def test_loopback(server: str, local: bool) -> None:
    assert is_loopback(server) is local


KIND_NODES = ["kind://docker/drainlab/drainlab-control-plane", "kind://docker/drainlab/w"]


def test_a_kind_name_alone_allows_nothing() -> None:
    """Finding: `kind-*` was allowed on its name alone. Now its nodes must be kind nodes."""
    first = evaluate("kind-drainlab", "https://127.0.0.1:40000", None)
    assert not first.allowed and first.needs_nodes
    kind = evaluate("kind-drainlab", "https://127.0.0.1:40000", None, KIND_NODES)
    assert kind.allowed and "kind" in kind.reason
    impostor = evaluate("kind-drainlab", "https://127.0.0.1:40000", None, ["k3s://laptop"])
    assert not impostor.allowed and "--allow-context kind-drainlab" in impostor.reason
    remote = evaluate("kind-prod", "https://10.1.2.3:6443", None)
    assert not remote.allowed and not remote.needs_nodes and "\n" not in remote.reason


LOCAL_CA = b"-----BEGIN CERTIFICATE-----\nMIIBlocal\n-----END CERTIFICATE-----\n"
OTHER_CA = b"-----BEGIN CERTIFICATE-----\nMIIBother\n-----END CERTIFICATE-----\n"


def test_the_local_cluster_is_known_by_its_ca_not_its_address() -> None:
    """Finding: `drainlab-local` was allowed with any loopback server. Now its CA decides, and
    the address may be a veth's (10.250.0.2), not loopback."""
    reflowed = LOCAL_CA.replace(b"\n", b"\r\n")
    assert evaluate(
        "drainlab-local", "https://10.250.0.2:6443", None, ca=reflowed, local_ca=LOCAL_CA
    ).allowed
    other = evaluate(
        "drainlab-local", "https://127.0.0.1:6443", None, ca=OTHER_CA, local_ca=LOCAL_CA
    )
    assert not other.allowed and "CA is not the local cluster's" in other.reason
    assert "--allow-context drainlab-local" in other.reason and "\n" not in other.reason
    no_ca = evaluate("drainlab-local", "https://127.0.0.1:6443", None, ca=None, local_ca=LOCAL_CA)
    assert not no_ca.allowed
    unreadable = "the local cluster's CA /x/pki/ca.crt cannot be read (No such file or directory)"
    missing = evaluate(
        "drainlab-local", "https://127.0.0.1:6443", None, ca=LOCAL_CA, local_ca=unreadable
    )
    assert not missing.allowed and "/x/pki/ca.crt" in missing.reason


def test_a_production_context_is_refused_with_how_to_allow_it() -> None:
    verdict = evaluate("prod-eu", "https://api.prod.example.com", None)
    assert not verdict.allowed
    assert "prod-eu" in verdict.reason and "--allow-context prod-eu" in verdict.reason
    assert "\n" not in verdict.reason


def test_allow_context_names_exactly_one_context() -> None:
    assert evaluate("prod-eu", "https://api.prod.example.com", "prod-eu").allowed
    assert not evaluate("prod-us", "https://api.prod.example.com", "prod-eu").allowed


def test_a_local_server_needs_kind_nodes() -> None:
    first = evaluate("my-laptop", "https://127.0.0.1:6443", None)
    assert not first.allowed and first.needs_nodes
    kind_nodes = ["kind://docker/dev/dev-control-plane", "kind://docker/dev/dev-worker"]
    assert evaluate("my-laptop", "https://127.0.0.1:6443", None, kind_nodes).allowed
    mixed = [*kind_nodes, "aws:///eu-west-1a/i-0abc"]
    assert not evaluate("my-laptop", "https://127.0.0.1:6443", None, mixed).allowed
    assert not evaluate("my-laptop", "https://127.0.0.1:6443", None, []).allowed


def test_a_remote_server_is_never_asked_for_nodes() -> None:
    verdict = evaluate("staging", "https://10.0.0.1:6443", None)
    assert not verdict.allowed and not verdict.needs_nodes


KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: kind-drainlab
clusters:
- name: kind-drainlab
  cluster: {server: "https://127.0.0.1:41234", insecure-skip-tls-verify: true}
- name: prod
  cluster: {server: "https://api.prod.example.com", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: kind-drainlab
  context: {cluster: kind-drainlab, user: u}
- name: prod-eu
  context: {cluster: prod, user: u}
"""


def test_contexts_are_read_from_the_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    names, current = list_contexts(path)
    assert names == ["kind-drainlab", "prod-eu"] and current == "kind-drainlab"
    conn = connect(path, None)
    assert conn.context == "kind-drainlab" and conn.server == "https://127.0.0.1:41234"


def test_a_missing_context_lists_the_available_ones(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    with pytest.raises(BackendError) as err:
        connect(path, "kind-nope")
    message = str(err.value)
    assert "kind-nope" in message and "kind-drainlab, prod-eu" in message
    assert "\n" not in message


def test_a_missing_kubeconfig_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        list_contexts(tmp_path / "absent")
    assert "cannot read kubeconfig" in str(err.value) and "\n" not in str(err.value)


def _connected(context: str, server: str, provider: str, ca: bytes | None = None) -> Api:
    fake = FakeApi()
    fake.put(NODE, {"metadata": {"name": "node-1"}, "spec": {"providerID": provider}})
    fake.conn = Connection(api=None, context=context, server=server, ca=ca)  # type: ignore[attr-defined]
    return cast(Api, fake)


def test_a_kind_named_context_is_checked_against_its_nodes() -> None:
    kind = _connected("kind-dev", "https://127.0.0.1:40000", "kind://docker/dev/dev-control-plane")
    assert "kind nodes" in check_context(kind, None)
    k3s = _connected("kind-dev", "https://127.0.0.1:6443", "k3s://laptop")
    with pytest.raises(BackendError) as err:
        check_context(k3s, None)
    assert "nodes are not kind nodes" in str(err.value) and "\n" not in str(err.value)
    assert "named by kube.allow_context" in check_context(k3s, "kind-dev")


def test_drainlab_local_is_checked_against_the_ca_in_the_local_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(LOCAL_CA)
    monkeypatch.setenv("DRAINLAB_STATE", str(tmp_path))
    veth = "https://10.250.0.2:6443"
    assert "local cluster" in check_context(_connected("drainlab-local", veth, "", LOCAL_CA), None)
    with pytest.raises(BackendError, match="CA is not the local cluster's"):
        check_context(_connected("drainlab-local", veth, "", OTHER_CA), None)
    monkeypatch.setenv("DRAINLAB_STATE", str(tmp_path / "elsewhere"))
    with pytest.raises(BackendError, match=r"elsewhere/pki/ca\.crt cannot be read"):
        check_context(_connected("drainlab-local", veth, "", LOCAL_CA), None)
