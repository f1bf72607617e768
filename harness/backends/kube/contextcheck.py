"""The guard (guard.py) applied to a live connection: the facts it needs, read, and its verdict.

Reads only: the local cluster's CA file for ``drainlab-local``, the node list for a server on
this machine. A refusal is a one-line BackendError.
"""

from __future__ import annotations

from harness.backends.clusters.local import local_ca
from harness.backends.kube.api import Api
from harness.backends.kube.guard import LOCAL_CONTEXT, evaluate
from harness.backends.kube.kinds import NODE
from harness.errors import BackendError


def check_context(api: Api, allow_context: str | None) -> str:
    """Why the connection's context may be used; BackendError (one line) if it may not."""
    conn = api.conn
    local = local_ca() if conn.context == LOCAL_CONTEXT and allow_context != conn.context else None
    verdict = evaluate(conn.context, conn.server, allow_context, ca=conn.ca, local_ca=local)
    if verdict.needs_nodes:
        nodes = api.list(NODE).get("items") or []
        ids = [str(((n.get("spec") or {}).get("providerID")) or "") for n in nodes]
        verdict = evaluate(conn.context, conn.server, allow_context, ids, ca=conn.ca)
    if not verdict.allowed:
        raise BackendError(f"kube: {verdict.reason}")
    return verdict.reason
