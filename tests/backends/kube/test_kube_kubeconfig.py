"""KUBECONFIG=a:b is read as kubectl reads it: compared with kubectl itself on real files.

kubectl needs no cluster for `config current-context` and `config view`: these run everywhere
kubectl is on PATH.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.backends.kube.client import connect, list_contexts
from harness.backends.kube.kubeconfig import kubeconfig_files, load, resolve
from harness.errors import BackendError

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH")

A = """
apiVersion: v1
kind: Config
current-context: ctx-a
clusters:
- name: shared
  cluster: {server: "https://a.example:6443", certificate-authority: ca.crt}
contexts:
- name: ctx-a
  context: {cluster: shared, user: ua}
users:
- name: ua
  user: {token: ta}
"""

B = """
apiVersion: v1
kind: Config
current-context: ctx-b
clusters:
- name: shared
  cluster: {server: "https://b.example:6443"}
- name: only-b
  cluster: {server: "https://only-b.example:6443", certificate-authority: sub/ca.crt}
contexts:
- name: ctx-b
  context: {cluster: only-b, user: ub}
- name: ctx-a
  context: {cluster: only-b, user: ub}
users:
- name: ub
  user: {token: tb}
"""

CA_A = b"-----BEGIN CERTIFICATE-----\nQQ==\n-----END CERTIFICATE-----\n"
CA_B = b"-----BEGIN CERTIFICATE-----\nQg==\n-----END CERTIFICATE-----\n"


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a" / "config", tmp_path / "b" / "config"
    (tmp_path / "b" / "sub").mkdir(parents=True)
    a.parent.mkdir()
    a.write_text(A)
    b.write_text(B)
    (a.parent / "ca.crt").write_bytes(CA_A)
    (b.parent / "sub" / "ca.crt").write_bytes(CA_B)
    return a, b


def _kubectl(env_value: str, *args: str) -> str:
    assert KUBECTL is not None
    env = {**os.environ, "KUBECONFIG": env_value}
    done = subprocess.run(
        [KUBECTL, "config", *args], env=env, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout


def _minified(env_value: str, context: str | None) -> dict[str, Any]:
    extra = ["--context", context] if context else []
    out = _kubectl(env_value, "view", "--minify", "--raw", "--flatten", "-o", "json", *extra)
    data: dict[str, Any] = json.loads(out)
    return data


@needs_kubectl
@pytest.mark.parametrize("order", ["ab", "ba"])
def test_the_current_context_is_the_first_files_as_kubectl_says(
    two_files: tuple[Path, Path], order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding: with KUBECONFIG=a:b the Python client took b's current-context (the last);
    kubectl takes a's (the first). The harness now connects where kubectl points."""
    a, b = two_files
    files = [a, b] if order == "ab" else [b, a]
    env_value = os.pathsep.join(str(f) for f in files)
    kubectl_current = _kubectl(env_value, "current-context").strip()
    monkeypatch.setenv("KUBECONFIG", env_value)
    _names, current = list_contexts(None)
    assert current == kubectl_current == ("ctx-a" if order == "ab" else "ctx-b")
    conn = connect(None, None)
    view = _minified(env_value, None)
    assert conn.context == view["current-context"]
    assert conn.server == view["clusters"][0]["cluster"]["server"]


@needs_kubectl
def test_a_fresh_process_connects_where_kubectl_points(two_files: tuple[Path, Path]) -> None:
    """The finding as a user meets it: KUBECONFIG=a:b set before the harness starts."""
    a, b = two_files
    env_value = f"{a}{os.pathsep}{b}"
    code = (
        "from harness.backends.kube.client import connect; "
        "c = connect(None, None); print(c.context, c.server)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "KUBECONFIG": env_value},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    view = _minified(env_value, None)
    expected = f"{view['current-context']} {view['clusters'][0]['cluster']['server']}"
    assert done.stdout.strip() == expected == "ctx-a https://a.example:6443"


@needs_kubectl
@pytest.mark.parametrize("context", ["ctx-a", "ctx-b"])
def test_entries_are_the_first_files_and_paths_are_relative_to_their_file(
    two_files: tuple[Path, Path], context: str
) -> None:
    """A context, cluster or user defined in both files is the first file's, whole; a relative
    certificate-authority is relative to the file that names it (kubectl --flatten reads it)."""
    a, b = two_files
    env_value = f"{a}{os.pathsep}{tmp_missing(a)}{os.pathsep}{b}"
    view = _minified(env_value, context)
    resolved = resolve(load(kubeconfig_files(None, {"KUBECONFIG": env_value})), context)
    assert resolved.context == view["contexts"][0]["name"]
    assert resolved.cluster == view["clusters"][0]["name"]
    assert resolved.user == view["users"][0]["name"]
    assert resolved.server == view["clusters"][0]["cluster"]["server"]
    flattened = base64.b64decode(view["clusters"][0]["cluster"]["certificate-authority-data"])
    assert resolved.ca == flattened


def tmp_missing(a: Path) -> Path:
    return a.parent / "does-not-exist"


@needs_kubectl
def test_an_empty_current_context_leaves_it_to_the_next_file(two_files: tuple[Path, Path]) -> None:
    a, b = two_files
    a.write_text(A.replace("current-context: ctx-a", 'current-context: ""'))
    env_value = f"{a}{os.pathsep}{b}"
    merged = load(kubeconfig_files(None, {"KUBECONFIG": env_value}))
    assert merged.current_context == _kubectl(env_value, "current-context").strip() == "ctx-b"


def test_the_client_loads_exactly_the_resolved_context(two_files: tuple[Path, Path]) -> None:
    """The client gets a one-context config: no second merge that could pick another server."""
    a, b = two_files
    env_value = f"{b}{os.pathsep}{a}"
    resolved = resolve(load(kubeconfig_files(None, {"KUBECONFIG": env_value})), "ctx-a")
    assert resolved.server == "https://only-b.example:6443"  # b's ctx-a: b comes first
    assert [c["name"] for c in resolved.config["clusters"]] == ["only-b"]
    assert resolved.config["clusters"][0]["cluster"]["certificate-authority"] == str(
        b.parent / "sub" / "ca.crt"
    )


def test_a_broken_kubeconfig_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("clusters: [unclosed\n")
    with pytest.raises(BackendError) as err:
        list_contexts(path)
    assert "cannot read kubeconfig" in str(err.value) and "\n" not in str(err.value)
    path.write_text("- a list\n")
    with pytest.raises(BackendError):
        list_contexts(path)
