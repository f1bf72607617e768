"""Which kubeconfig contexts and namespaces the harness may use: it deletes pods, so never a
cluster or a namespace by accident.

A context is allowed, in this order of checks:

1. when ``kube.allow_context`` names it (the user said so, by name);
2. ``drainlab-local`` when its CA (the kubeconfig's certificate-authority) is the CA of the local
   cluster this machine built (``$DRAINLAB_STATE/pki/ca.crt``): its identity, wherever its API
   server listens. Anything else named so is refused;
3. a kind cluster: a context whose API server is on this machine (localhost, 127.0.0.0/8, ::1;
   kind maps the control plane's port there) and whose nodes are all kind nodes
   (``spec.providerID`` starts with ``kind://``). Its name proves nothing (``kind-*`` is only a
   name): this check needs the node list, so :func:`evaluate` first asks for it
   (``needs_nodes``) instead of guessing.

Everything else is refused with one line that says how to allow it.

A namespace is refused when it is a system one (``default``, ``kube-*``: never, whatever the
flags), and when it exists but drainlab did not make it (no ``app.kubernetes.io/managed-by:
drainlab`` label) unless ``kube.allow_namespace`` (``--allow-namespace``) names it. A namespace
that does not exist yet is made by the run, which then owns it. Pure: no I/O here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harness.backends.kube.objects import LABEL_MANAGED_BY, MANAGED_BY

LOCAL_CONTEXT = "drainlab-local"
KIND_PREFIX = "kind-"
KIND_PROVIDER = "kind://"
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str  # why it is allowed, or the one-line refusal
    needs_nodes: bool = False  # ask again with the nodes' providerIDs


def is_loopback(server: str) -> bool:
    """True when the API server URL points at this machine."""
    host = urlsplit(server if "//" in server else f"//{server}").hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_certificate(a: bytes, b: bytes) -> bool:
    """Whether two PEM texts hold the same certificates (whitespace and line ends aside)."""
    return b"".join(a.split()) == b"".join(b.split()) and bool(a.strip())


def evaluate(
    context: str,
    server: str,
    allow_context: str | None,
    node_provider_ids: Sequence[str] | None = None,
    *,
    ca: bytes | None = None,
    local_ca: bytes | str | None = None,
) -> Verdict:
    """Decides whether ``context`` (API server ``server``, CA ``ca`` as PEM) may be used.

    ``local_ca``: the local cluster's CA as PEM, or why it could not be read (a str).
    """
    if allow_context is not None and context == allow_context:
        return Verdict(True, f"context {context!r} is named by kube.allow_context")
    allow_hint = f"pass --allow-context {context} (kube.allow_context) to use it anyway"
    if context == LOCAL_CONTEXT:
        if isinstance(local_ca, bytes) and ca is not None and same_certificate(ca, local_ca):
            return Verdict(True, "the harness's local cluster (its CA is the local cluster's)")
        why = (
            local_ca
            if isinstance(local_ca, str)
            else "the kubeconfig gives no CA data for it"
            if ca is None
            else "its CA is not the local cluster's"
            if local_ca is not None
            else "the local cluster's CA is unknown"
        )
        return Verdict(
            False,
            f"refusing context {context!r} (server {server}): it is named like the harness's "
            f"local cluster but {why}; {allow_hint}",
        )
    if is_loopback(server):
        if node_provider_ids is None:
            return Verdict(False, "server on this machine: checking for kind nodes", True)
        if node_provider_ids and all(p.startswith(KIND_PROVIDER) for p in node_provider_ids):
            return Verdict(True, f"a kind cluster on this machine ({context!r}, kind nodes)")
        if context.startswith(KIND_PREFIX):
            return Verdict(
                False,
                f"refusing context {context!r} (server {server}): it is named like a kind "
                f"cluster but its nodes are not kind nodes (providerID kind://); {allow_hint}",
            )
    elif context.startswith(KIND_PREFIX):
        return Verdict(
            False,
            f"refusing context {context!r}: it is named like a kind cluster but its server "
            f"{server} is not on this machine; {allow_hint}",
        )
    return Verdict(
        False,
        f"refusing context {context!r} (server {server}): it is not a kind cluster nor the "
        f"harness's local cluster; {allow_hint}: the harness deletes pods there",
    )


def namespace_refusal(namespace: str) -> str | None:
    """Why the harness may never use ``namespace`` (a system one, or not a name), else None."""
    if namespace in SYSTEM_NAMESPACES or namespace.startswith("kube-"):
        return (
            f"refusing namespace {namespace!r}: it is a system namespace and the harness "
            "deletes pods; use a namespace of its own (the default: drainlab)"
        )
    if not _DNS_LABEL.fullmatch(namespace):
        return (
            f"namespace {namespace!r} is not a valid namespace name (lower-case letters, "
            "digits and '-', at most 63)"
        )
    return None


def foreign_namespace_refusal(
    existing: Mapping[str, Any], allow_namespace: str | None
) -> str | None:
    """Why an existing namespace may not be used: drainlab did not make it and the user did not
    name it in ``allow_namespace``; None when it may."""
    meta = existing.get("metadata") or {}
    name = str(meta.get("name") or "")
    if (meta.get("labels") or {}).get(LABEL_MANAGED_BY) == MANAGED_BY or name == allow_namespace:
        return None
    return (
        f"kube: refusing namespace {name!r}: it exists and drainlab did not make it (no label "
        f"{LABEL_MANAGED_BY}={MANAGED_BY}); pass --allow-namespace {name} to run in it anyway "
        "(the harness never deletes a namespace it did not make)"
    )
