"""Why a pod is being deleted, when the harness did not delete it itself: ``stopped_by``.

The pod watch sees every deletion the same way, as a new ``metadata.deletionTimestamp``. What
asked for it is read from what the harness did, and from the pod:

- ``evict``: the harness asked for this pod's eviction (the Eviction API deletes it once no
  PodDisruptionBudget forbids it); ``drain`` when the pod's node was cordoned by the harness
  first (``kubectl drain`` = cordon + evict every pod);
- ``rollout``: the pod belongs to an older ReplicaSet than the newest pod seen (its
  ``pod-template-hash`` differs): the Deployment controller is replacing it;
- ``scale_down``: the harness lowered the replicas, and the ReplicaSet controller picked this
  pod; as many deletions are counted so as the scale-down removed replicas;
- ``delete``: anything else (someone's ``kubectl delete``, a controller drainlab does not know).

Pure: :class:`StopCauses` is told what the harness does, and asked once per deletion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TEMPLATE_HASH = "pod-template-hash"  # the label the Deployment controller puts on its pods


@dataclass
class StopCauses:
    evicting: set[str] = field(default_factory=set)  # pods whose eviction the harness asked for
    cordoned: set[str] = field(default_factory=set)  # nodes the harness cordoned
    scale_down_left: int = 0  # deletions the harness's last scale-down has still to make
    newest_hash: str | None = None  # the pod-template-hash of the newest pod seen
    _newest_created: float = float("-inf")

    # ----- what the harness does ---------------------------------------------------------------

    def evicting_pod(self, pod: str) -> None:
        self.evicting.add(pod)

    def eviction_failed(self, pod: str) -> None:
        self.evicting.discard(pod)

    def node_cordoned(self, node: str) -> None:
        self.cordoned.add(node)

    def node_uncordoned(self, node: str) -> None:
        self.cordoned.discard(node)

    def scaled(self, before: int, after: int) -> None:
        """A scale-down makes ``before - after`` deletions; a scale-up cancels what is left."""
        self.scale_down_left = max(0, before - after)

    # ----- what the watch sees -----------------------------------------------------------------

    def pod_seen(self, template_hash: str | None, created: float | None) -> None:
        """A pod (not being deleted) with its creation time: the newest names the current
        ReplicaSet."""
        if template_hash and created is not None and created >= self._newest_created:
            self._newest_created = created
            self.newest_hash = template_hash

    def stopped_by(self, pod: str, node: str | None, template_hash: str | None) -> str:
        """What deleted ``pod`` (see the module docstring); counts a scale-down's deletion."""
        if pod in self.evicting:
            self.evicting.discard(pod)  # answered: a later pod of that name is another
            return "drain" if node is not None and node in self.cordoned else "evict"
        if template_hash and self.newest_hash and template_hash != self.newest_hash:
            return "rollout"
        if self.scale_down_left > 0:
            self.scale_down_left -= 1
            return "scale_down"
        return "delete"


def template_hash(meta: Mapping[str, Any]) -> str | None:
    """A pod's ``pod-template-hash`` (which ReplicaSet made it), from its metadata."""
    value = (meta.get("labels") or {}).get(TEMPLATE_HASH)
    return str(value) if value else None
