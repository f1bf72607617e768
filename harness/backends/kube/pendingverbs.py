"""Stand-ins for the kube backend's issue-19 verbs until their implementation is merged.

Only so that KubeBackend satisfies the Backend protocol in this branch: each refuses in one line.
Drop this module and KubeBackend's base class ``PendingVerbs`` when the real verbs arrive.
"""

from __future__ import annotations

from harness.backends.base import Eviction
from harness.errors import BackendError


def _pending(verb: str) -> BackendError:
    return BackendError(f"kube: {verb} comes with the kube backend's issue-19 verbs")


class PendingVerbs:
    async def evict_pod(self, name: str, retry_s: float, timeout_s: float) -> Eviction:
        raise _pending("evict_pod")

    async def cordon(self, node: str) -> None:
        raise _pending("cordon")

    async def uncordon(self, node: str) -> None:
        raise _pending("uncordon")

    async def scale(self, replicas: int) -> None:
        raise _pending("scale")

    async def crash_pod(self, name: str) -> None:
        raise _pending("crash_pod")
