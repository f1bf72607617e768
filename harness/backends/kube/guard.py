"""Which kubeconfig contexts the harness may use: it deletes pods, so never a cluster by accident.

Allowed, in this order of checks:

1. the context ``kube.allow_context`` names (the user said so, by name);
2. ``drainlab-local`` whose server is on this machine (the real cluster the harness builds);
3. a context named ``kind-*`` (kind names its contexts so);
4. any other context whose API server is on this machine (localhost, 127.0.0.0/8, ::1) and
   whose nodes are kind nodes (``spec.providerID`` starts with ``kind://``). This check needs the
   node list, so :func:`evaluate` first asks for it (``needs_nodes``) instead of guessing.

Everything else is refused with one line that says how to allow it. Pure: no I/O here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

LOCAL_CONTEXT = "drainlab-local"
KIND_PREFIX = "kind-"
KIND_PROVIDER = "kind://"


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


def evaluate(
    context: str,
    server: str,
    allow_context: str | None,
    node_provider_ids: Sequence[str] | None = None,
) -> Verdict:
    """Decides whether ``context`` (API server ``server``) may be used."""
    if allow_context is not None and context == allow_context:
        return Verdict(True, f"context {context!r} is named by kube.allow_context")
    local = is_loopback(server)
    if context == LOCAL_CONTEXT:
        if local:
            return Verdict(True, "the harness's local cluster")
        return Verdict(
            False,
            f"refusing context {context!r}: it is named like the harness's local cluster but its "
            f"server {server} is not on this machine (pass --allow-context {context} to use it)",
        )
    if context.startswith(KIND_PREFIX):
        return Verdict(True, f"a kind cluster ({context!r})")
    if local:
        if node_provider_ids is None:
            return Verdict(False, "server on this machine: checking for kind nodes", True)
        if node_provider_ids and all(p.startswith(KIND_PROVIDER) for p in node_provider_ids):
            return Verdict(True, f"a kind cluster on this machine ({context!r}, kind nodes)")
    return Verdict(
        False,
        f"refusing context {context!r} (server {server}): it is not a kind cluster nor the "
        f"harness's local cluster; pass --allow-context {context} (kube.allow_context) to use "
        "it anyway: the harness deletes pods there",
    )
