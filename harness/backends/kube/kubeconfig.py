"""Reading kubeconfig files exactly as kubectl does, so the harness uses the cluster kubectl shows.

The official Python client merges ``KUBECONFIG=a:b`` differently from kubectl: it takes the
*last* file's ``current-context``. A user who checked ``kubectl config current-context`` would
then run against another cluster. Here the merge follows client-go's loading rules
(``clientcmd.ClientConfigLoadingRules.Load``):

- the files: ``--kubeconfig``'s alone (it must exist), else every entry of ``KUBECONFIG``
  (``:``-separated; empty entries and repeats skipped, missing files ignored), else
  ``~/.kube/config`` (if it exists);
- the first file to set a value or a map key wins: ``current-context`` is the first non-empty
  one; a context, cluster or user is the first entry of that name, whole (not merged field by
  field);
- a relative file path in an entry (certificate-authority, client-certificate, client-key,
  tokenFile) is relative to the file that holds the entry.

:func:`resolve` then picks one context and gives its server, CA and a one-context kubeconfig
dict that the client loads as it is (``new_client_from_config_dict``): no second merge.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import BackendError

DEFAULT_KUBECONFIG = Path("~/.kube/config")
# Keys whose values are files, per section, resolved against the defining file's folder.
_FILE_KEYS = {
    "clusters": ("certificate-authority",),
    "users": ("client-certificate", "client-key", "tokenFile"),
}
_SECTIONS = {"clusters": "cluster", "users": "user", "contexts": "context"}


@dataclass
class Merged:
    """The kubeconfig files merged: entries by name, and the current context."""

    files: list[Path]
    current_context: str | None = None
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Resolved:
    """One context, as kubectl would use it."""

    context: str
    cluster: str
    user: str
    server: str
    ca: bytes | None  # the cluster's CA as PEM (certificate-authority-data, or its file)
    config: dict[str, Any]  # a kubeconfig with this context alone, every path absolute


def kubeconfig_files(explicit: Path | None, env: Mapping[str, str] | None = None) -> list[Path]:
    """The files kubectl reads, in precedence order (see the module docstring)."""
    if explicit is not None:
        if not explicit.is_file():
            raise BackendError(f"kube: cannot read kubeconfig {explicit}: no such file")
        return [explicit.absolute()]
    environ = os.environ if env is None else env
    listed = environ.get("KUBECONFIG", "")
    if listed:
        files: list[Path] = []
        for entry in listed.split(os.pathsep):
            path = Path(entry).expanduser().absolute() if entry else None
            if path is not None and path not in files and path.is_file():
                files.append(path)
        return files
    default = DEFAULT_KUBECONFIG.expanduser()
    return [default.absolute()] if default.is_file() else []


def load(files: list[Path]) -> Merged:
    """Merges ``files`` as kubectl does; BackendError (one line) for a file it cannot read."""
    merged = Merged(files)
    for path in files:
        data = _read(path)
        current = data.get("current-context")
        if merged.current_context is None and isinstance(current, str) and current:
            merged.current_context = current
        for section, inner in _SECTIONS.items():
            entries = data.get(section) or []
            if not isinstance(entries, list):
                raise BackendError(f"kube: kubeconfig {path}: {section} is not a list")
            table: dict[str, dict[str, Any]] = getattr(merged, section)
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    continue
                body = entry.get(inner) or {}
                if entry["name"] in table or not isinstance(body, dict):
                    continue
                table[entry["name"]] = _absolute_paths(section, body, path.parent)
    return merged


def resolve(merged: Merged, context: str | None) -> Resolved:
    """The context ``context`` (None: the current one) with its cluster and user."""
    wanted = context or merged.current_context
    available = ", ".join(sorted(merged.contexts)) or "none"
    if wanted is None:
        raise BackendError(
            "kube: no context given and the kubeconfig has no current context; "
            f"available: {available}"
        )
    if wanted not in merged.contexts:
        raise BackendError(f"kube: no context {wanted!r} in the kubeconfig; available: {available}")
    ctx = merged.contexts[wanted]
    cluster_name = str(ctx.get("cluster") or "")
    user_name = str(ctx.get("user") or "")
    if cluster_name not in merged.clusters:
        raise BackendError(f"kube: context {wanted!r} names cluster {cluster_name!r}, not defined")
    cluster = merged.clusters[cluster_name]
    user = merged.users.get(user_name, {})
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": wanted,
        "contexts": [{"name": wanted, "context": ctx}],
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user_name, "user": user}],
    }
    return Resolved(
        wanted, cluster_name, user_name, str(cluster.get("server") or ""), _ca(cluster), config
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise BackendError(f"kube: cannot read kubeconfig {path}: {why}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BackendError(f"kube: kubeconfig {path} is not a kubeconfig (not a mapping)")
    return data


def _absolute_paths(section: str, body: dict[str, Any], base: Path) -> dict[str, Any]:
    body = dict(body)
    for key in _FILE_KEYS.get(section, ()):
        value = body.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            body[key] = str(base / Path(value).expanduser())
    return body


def _ca(cluster: Mapping[str, Any]) -> bytes | None:
    data = cluster.get("certificate-authority-data")
    if isinstance(data, str) and data:
        try:
            return base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError):
            return None
    path = cluster.get("certificate-authority")
    if isinstance(path, str) and path:
        try:
            return Path(path).read_bytes()
        except OSError:
            return None
    return None
