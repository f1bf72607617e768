"""A pod as the embedded backend tracks it, and how pods are named."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from harness.backends.base import PodInfo
from harness.backends.embedded.probes import ContainerProbes
from harness.backends.embedded.process import Container

# The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alike digits).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NAME_SUFFIX_LEN = 5


class PodNames:
    """``<order>-<5 chars>`` names from a seeded rng, never the same twice in one backend."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def next(self, prefix: str) -> str:
        while True:
            suffix = "".join(self._rng.choice(_NAME_ALPHABET) for _ in range(_NAME_SUFFIX_LEN))
            name = f"{prefix}-{suffix}"
            if name not in self._used:
                self._used.add(name)
                return name


@dataclass(eq=False)
class Pod:
    name: str
    revision: int  # which ReplicaSet (template revision) made it
    created: float  # unix seconds
    host: str
    replaces: str | None = None
    port: int = 0  # set at each container start
    container: Container | None = None
    probes: ContainerProbes | None = None  # the current container's, with their last answers
    ready: bool = False
    terminating: bool = False
    deleted_at: float | None = None  # unix seconds of the delete call
    restarts: int = 0
    node: str | None = None  # None while unscheduled (the node is cordoned)
    ready_since: float | None = None  # unix seconds of the last change to ready
    crashed: Container | None = None  # the container the harness SIGKILLed, until it is replaced
    # Set when the pod is deleted: wakes a container restart back-off early.
    deleted: asyncio.Event = field(default_factory=asyncio.Event)
    # Held while a container is being spawned, so a deletion sees the container that results.
    spawning: asyncio.Lock = field(default_factory=asyncio.Lock)

    def info(self) -> PodInfo:
        return PodInfo(self.name, self.ready, self.terminating, self.created, self.node)
