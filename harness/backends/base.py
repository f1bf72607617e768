"""The small interface every backend implements, so runs, analysis and reports are one code path.

A backend owns one Deployment of one variant of the app at a time. It reports everything that
happens to pods and endpoints as ``TimelineEvent``s through the ``emit`` callback it is given,
stamped with the time the backend observed them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

from harness.appspec import Variant
from harness.timeline import TimelineEvent

if TYPE_CHECKING:
    from harness.load.runner import LoadPlan, LoadRun

EventSink = Callable[[TimelineEvent], None]


@dataclass(frozen=True, slots=True)
class DeploySpec:
    """What to run: one variant of the app (harness.appspec), N replicas.

    The backend holds the app itself (its command or manifests, env and probes) and applies
    ``change`` to it: what the variant sets replaces the app's, the rest stays the app's own.
    """

    variant: str  # the variant's name (the sample app's: naive | close-first | prestop | graceful)
    replicas: int = 3
    change: Variant = field(default_factory=Variant)
    # The embedded backend's endpoint semantics for this deployment (a matrix cell's profile,
    # harness.matrix); None: the scenario's embedded.kubernetes_version. Other backends: unused.
    kubernetes_version: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where the load generator sends traffic: the Service as clients reach it."""

    host: str
    port: int
    # The Service as pods reach it (its ClusterIP), for load sent from inside the cluster
    # (traffic.from: cluster); None where there is no cluster (the embedded backend).
    cluster_url: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class PodInfo:
    name: str
    ready: bool
    terminating: bool
    created: float | None = None  # unix seconds; chaos orders pods by it for `pod: <index>`
    node: str | None = None  # the node it runs on (embedded: "embedded"); None: not scheduled


@dataclass(frozen=True, slots=True)
class Eviction:
    """How an eviction ended (``Backend.evict_pod``): accepted, or refused until time ran out."""

    pod: str
    evicted: bool
    attempts: int  # eviction requests made, the accepted one included
    blocked_s: float  # time spent refused, between the first refusal and the end
    last_status: int | None  # the last answer's HTTP status (429: a disruption budget refused)
    reason: str | None  # the last refusal's message, None once evicted


class Backend(Protocol):
    """One Deployment at a time: deploy, observe, delete, restart, tear down."""

    name: str  # "embedded", "kube", or the cluster it runs on: "kind", "local"

    async def deploy(self, spec: DeploySpec, emit: EventSink) -> Target:
        """Create the Deployment and Service and return once every replica is ready."""
        ...

    async def list_pods(self) -> list[PodInfo]:
        """The Deployment's pods, including terminating ones."""
        ...

    async def delete_pod(self, name: str, grace_period_s: float | None = None) -> None:
        """Start a pod's deletion, as `kubectl delete pod` does, and return without waiting."""
        ...

    async def rolling_restart(self, max_surge: str = "25%", max_unavailable: str = "25%") -> None:
        """Replace every pod, as `kubectl rollout restart` does, and return when it is complete."""
        ...

    async def evict_pod(self, name: str, retry_s: float, timeout_s: float) -> Eviction:
        """Asks for the pod's eviction as `kubectl drain` does (PodDisruptionBudgets honoured): a
        refusal (429) is one ``eviction_blocked`` event and is retried every ``retry_s`` until
        ``timeout_s``; returns once accepted or out of time."""
        ...

    async def cordon(self, node: str) -> None:
        """Marks the node unschedulable; the backend uncordons it at teardown at the latest."""
        ...

    async def uncordon(self, node: str) -> None:
        """Makes the node schedulable again."""
        ...

    async def scale(self, replicas: int) -> None:
        """Sets the Deployment's replicas and returns without waiting (on a scale-down the
        ReplicaSet controller picks the pods that go)."""
        ...

    async def crash_pod(self, name: str) -> None:
        """SIGKILL to the app's process from outside the pod; the kubelet restarts the container:
        no deletion, no preStop. BackendError (one line) where the backend cannot do it."""
        ...

    async def wait_settled(self, timeout_s: float) -> None:
        """Wait until terminating pods are gone and all replicas are ready again."""
        ...

    async def teardown(self) -> None:
        """Remove everything deploy created; safe to call more than once and after a failure."""
        ...


class TeardownOnExit:
    """For backends: ``async with backend:`` runs ``teardown`` on every way out of the block."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.teardown()

    async def teardown(self) -> None:
        raise NotImplementedError


@runtime_checkable
class ClusterLoader(Protocol):
    """An optional capability of a backend: load sent from pods inside the cluster
    (``traffic.from: cluster``), to ``Target.cluster_url``. The kube backends have it."""

    async def start_cluster_load(self, target: Target, plan: LoadPlan) -> LoadRun:
        """Starts the load pods; returns once locust started (records as ``start_load``'s)."""
        ...
