"""The timeline a run writes (timeline-<order>.jsonl): what happened to each pod, endpoint, the
chaos schedule and the load, one ``TimelineEvent`` a line; and ``EventKind``, every kind of event.

The kinds' strings are part of the on-disk contract (docs/summary-v1.md): a member's value is
what is written, and what is read back is a plain ``str`` that compares equal to the member.
Readers must therefore also accept kinds they do not know (a newer app's own lines, say).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from harness.jsonl import iter_jsonl

# The app's own shutdown lines ({"ts", "event", ...} on stdout) are stored as "app_" + their
# "event" field, with the line's other fields as detail (see ``app_kind``).
APP_EVENT_PREFIX = "app_"


class EventKind(str, Enum):
    """Every kind of timeline event: who emits it, and what its ``detail`` carries.

    "Both backends" means the embedded backend (its kubelet, ReplicaSet and proxy model) and the
    kube backend (pod and EndpointSlice watches, Kubernetes Events, the app's log lines). On the
    kube backend, events stamped from an API time carry its provenance in detail: ``source``
    ("api", "watch" or "api_ceil"), ``observed`` and ``api_time``.
    """

    # -- Pod lifecycle --------------------------------------------------------------------------
    POD_CREATED = "pod_created"
    """The pod object exists. Both backends; embedded detail: ``revision``, ``replaces`` (the
    pod it stands in for, when the ReplicaSet replaced a deleted one)."""
    POD_SCHEDULED = "pod_scheduled"
    """The pod was bound to a node. Both backends; detail: ``node`` (kube also ``field``; the
    embedded pod is scheduled at creation, or when its cordoned node is uncordoned)."""
    POD_NETWORK_READY = "pod_network_ready"
    """The pod got its IP. Kube backend; detail: ``field``, ``ip`` (``bounded_by`` when the time
    is only known to be no later than another event)."""
    POD_CONTAINER_STARTED = "pod_container_started"
    """The app's container (process) started. Both backends."""
    POD_READY = "pod_ready"
    """The readiness probe passed. Both backends; detail may carry ``replaces``: the pod this
    one replaced."""
    POD_NOT_READY = "pod_not_ready"
    """The readiness probe failed on a pod that was ready. Both backends; embedded detail:
    ``reason``."""
    DELETE_REQUESTED = "delete_requested"
    """The pod's deletion began. Both backends; detail: ``grace_period_s``, ``stopped_by``
    (what deleted it: "delete", "evict", "drain", "scale_down" or "rollout"; kube also:
    ``cause``, ``call_ms``, ``deletion_timestamp``, ``requested_grace_period_s``)."""
    PRESTOP_STARTED = "prestop_started"
    """The preStop hook began. Embedded kubelet (detail: ``sleep_s``, or ``command`` for an exec
    hook of the variant's) or a Kubernetes Event."""
    PRESTOP_ENDED = "prestop_ended"
    """The preStop hook ended. Embedded kubelet (detail: ``elapsed_s``, ``duration_s``,
    ``cut_short``, and ``exit_code`` or ``error`` for an exec hook) or a Kubernetes Event."""
    SIGTERM_SENT = "sigterm_sent"
    """SIGTERM reached the container. Embedded kubelet (detail: ``pid``); kube: derived from a
    Kubernetes Event or the app's own ``sigterm`` line (detail: ``source``, ``signal``)."""
    SIGTERM_DUE = "sigterm_due"
    """When the kubelet's rules had SIGTERM sent: the preStop hook's start (its ``Killing``
    Event) plus the hook's known sleep, or the end of the grace period if that came first. Kube
    backend, derived, for pods whose hook is a plain sleep; detail: ``derived_from``,
    ``prestop_sleep_s``, ``capped_by_grace``. The weakest source of SIGTERM's moment: the
    analysis uses it only when no ``sigterm_sent``, ``app_sigterm`` or ``prestop_ended`` was
    seen (a failed hook ends at once, whatever its sleep)."""
    EXITED = "exited"
    """The container ended. Both backends; detail: ``code`` (embedded also ``signal``; kube
    also ``reason``, ``ended_by``: "exit" (a code below 128), "signal" (128 + the signal's
    number: ``signal_name``, e.g. SIGTERM when the app left SIGTERM's default action to end it),
    "sigkill", "oom_killed" or "unknown")."""
    KILLED = "killed"
    """SIGKILL, because the grace period ran out. Both backends; detail: ``after_s`` and
    ``grace_period_s`` (embedded), the exit detail and ``grace_deadline`` (kube)."""
    KUBE_EVENT = "kube_event"
    """A Kubernetes Event about a pod, or the embedded kubelet's own (``source``: "embedded
    kubelet": "Unhealthy" and "Killing" of liveness and startup probes). Detail: ``reason``
    ("Killing", "Unhealthy", "FailedPreStopHook", ...), ``message`` and the Event's other
    fields."""

    # -- Endpoints: the controller's view, then the proxy's --------------------------------------
    ENDPOINT_ADDED = "endpoint_added"
    """The pod became a ready endpoint of the Service. Both backends; kube detail: ``address``.
    Both: ``ready``, ``serving``, ``terminating`` (EndpointSlice conditions, KEP-1672; null
    where the server, or the embedded profile, does not publish them)."""
    ENDPOINT_REMOVED = "endpoint_removed"
    """The pod stopped being a ready endpoint. Both backends; kube detail: ``reason``,
    ``address``; both: ``ready``, ``serving``, ``terminating`` as for ``endpoint_added``. With
    conditions published, a terminating pod that still serves stays in the slice; its later
    ``reason`` "not_serving" or "gone" removal is a second event for the same pod."""
    ADDITION_APPLIED = "addition_applied"
    """The embedded Service proxy started sending new connections to the pod; detail:
    ``delay_s`` after the endpoint change."""
    REMOVAL_APPLIED = "removal_applied"
    """A Service proxy stopped sending new connections to the pod: one event per (pod, node,
    method). Detail: ``method``, which observer saw it: "embedded_proxy" (the embedded proxy;
    also ``delay_s`` after the endpoint change, no ``node``; a missing method means this one),
    "kube_proxy_metrics" (the drainlab agent saw the node's kube-proxy finish the sync that
    applied the removal; also ``sync_ts``, ``poll_ms``), "nat_rules" (the agent saw the
    endpoint leave the node's NAT rules) or "nat_rules_host" (drainlab read the node's NAT rules
    from outside it: the local cluster's ground truth); on the kube backend also ``node``,
    ``address`` ("IP:PORT") and ``endpoint_removed_ts`` (the controller's moment it followed).
    An agent's moments are the node's clock (the harness's own on the local cluster)."""

    DATA_PLANE = "data_plane"
    """A data-plane observer's state on one node (pod None). Kube backend; detail: ``node``,
    ``method`` (as ``removal_applied``'s), ``state`` ("watching", "unavailable" or "stopped")
    and ``reason`` (one line, when unavailable): why the proxy's moment was or was not seen."""

    # -- The chaos schedule and the run itself ---------------------------------------------------
    CHAOS_ACTION = "chaos_action"
    """A scheduled chaos action was taken (``harness.chaos``); detail: ``action``, ``targets``
    (pod names), ``offset_s``, and ``error`` when no target could be picked; the disruption
    actions add what they did: ``evicted``, ``blocked``, ``attempts`` (evict, drain_node),
    ``node`` (drain_node), ``from``, ``to`` (scale_down)."""
    LOAD_STARTED = "load_started"
    """Traffic began (``harness.run``); detail: ``target`` (the URL the load was sent to: the
    Service's ClusterIP for ``from`` "cluster"), ``from`` ("host" or "cluster")."""
    LOAD_STOPPED = "load_stopped"
    """Traffic ended (``harness.run``)."""
    LOAD_WORKER_DIED = "load_worker_died"
    """A load worker (traffic.workers > 1) ended while the load still ran: its users sent nothing
    after. The orchestrator; detail: ``worker``, ``who`` ("pid 1234", "pod x on node y"), ``code``
    (negative: the signal)."""

    # -- Disruptions other than deletion (issue 19: evictions, drains, scale, crashes) -----------
    EVICTION_BLOCKED = "eviction_blocked"
    """An eviction was refused (a PodDisruptionBudget allows no disruption now) and will be
    retried, as `kubectl drain` does. Both backends; detail: ``status`` (429), ``attempt``,
    ``message``, ``retry_in_s``."""
    POD_CRASHED = "pod_crashed"
    """The harness sent SIGKILL to the app's process from outside the pod: no deletion, no
    preStop. Both backends; detail: ``method`` (embedded: "signal"; local cluster: "containerd
    task kill"), ``pid`` when known."""
    CONTAINER_RESTARTED = "container_restarted"
    """The kubelet started the pod's container again after it ended (a crash, a failed liveness
    or startup probe). Both backends; detail: ``restart_count``."""
    NODE_CORDONED = "node_cordoned"
    """A node was marked unschedulable (chaos ``drain_node``); pod None; detail: ``node``."""
    NODE_UNCORDONED = "node_uncordoned"
    """A node was made schedulable again; pod None; detail: ``node``."""
    SCALED = "scaled"
    """The Deployment's replicas were set (chaos ``scale_down`` and its restore); pod None;
    detail: ``from``, ``to``."""

    # -- The app's own lines (sample-app/app.py), as ``app_kind`` names them; detail: the line's
    #    fields other than ts, event and pod. An app may emit others: see ``app_kind``. -----------
    APP_STARTED = "app_started"
    """The app listens; detail: ``host``, ``port``, ``pid``, ``strategy``, ... ."""
    APP_SIGTERM = "app_sigterm"
    """The app got SIGTERM (or SIGINT); detail: ``signal``."""
    APP_FORCED = "app_forced"
    """A second signal during shutdown forced an exit; detail: ``signal``, ``stage``."""
    APP_READINESS_FAILED = "app_readiness_failed"
    """The app started failing its readiness probe (graceful order)."""
    APP_LISTENER_CLOSED = "app_listener_closed"
    """The app closed its listening socket; detail: ``reason``, ``waited_s``,
    ``new_connections``."""
    APP_DRAIN_STARTED = "app_drain_started"
    """The app began draining in-flight requests; detail: ``connections``, ``idle_closed``."""
    APP_DRAINED = "app_drained"
    """Draining ended; detail: ``timed_out``, ``connections``, ``waited_s``."""
    APP_EXIT = "app_exit"
    """The app is exiting; detail: ``code``, ``forced``."""

    def __str__(self) -> str:
        return str(self.value)  # as a plain str would print, not "EventKind.POD_READY"

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


def is_app_kind(kind: str) -> bool:
    """Whether events of this kind come from the app's own lines (not from the platform)."""
    return kind.startswith(APP_EVENT_PREFIX)


def app_kind(event: str) -> str:
    """The timeline kind of an app's own ``{"event": ...}`` line (``EventKind.APP_*`` for the
    sample app's events; an unknown event keeps its name after the prefix)."""
    return APP_EVENT_PREFIX + event


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    ts: float  # unix seconds
    kind: str  # an EventKind (read back from a file: the same string)
    pod: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def event_from_dict(data: dict[str, Any]) -> TimelineEvent | None:
    """The event a timeline line holds; None when it is no event: ``ts`` a finite number,
    ``kind`` a string, ``pod`` a string or null, ``detail`` an object or null."""
    ts, kind, pod, detail = data.get("ts"), data.get("kind"), data.get("pod"), data.get("detail")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        return None
    try:
        ts = float(ts)
    except OverflowError:  # an integer past a float's range
        return None
    if (
        not math.isfinite(ts)
        or not isinstance(kind, str)
        or not (pod is None or isinstance(pod, str))
    ):
        return None
    if not (detail is None or isinstance(detail, dict)):
        return None
    return TimelineEvent(ts, kind, pod, dict(detail or {}))


def read_timeline(path: Path) -> list[TimelineEvent]:
    """The file's events by time; a line that is no event (torn, garbled) is skipped."""
    events = (event_from_dict(d) for d in iter_jsonl(path))
    return sorted((e for e in events if e is not None), key=lambda e: e.ts)
