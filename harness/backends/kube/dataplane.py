"""Watching each node's proxy during a kube run: the agent DaemonSet, its logs, the host NAT reader.

:func:`start` (at deploy, after the session's watches, before the app's objects) makes the
agent's ConfigMap and DaemonSet (agentobjects.py), watches the agent's pods and follows the log
of each running one, and, when the cluster's provisioner offers ``read_node_nat(node)`` (the
local cluster) and ``data_plane.host_nat`` is on, polls each node's NAT rules from outside it
(harness.dataplane.hostnat). What they read goes into one :class:`RemovalCorrelator` with the
session's own endpoint events (``Session.emit`` hands each one to :meth:`DataPlaneWatch.derived`),
and the ``removal_applied`` events it completes, and the observers' ``data_plane`` states, go
to the timeline through the session, under its lock.

A cluster that refuses the agent (RBAC, Pod Security admission, no image), or an agent pod that
is not running ``AGENT_START_S`` after it was made, never fails the run: a ``data_plane``
"unavailable" event says why, one warning line, and the run goes on. ``stop`` (from
``Session.close``) stops every thread and deletes the agent's objects.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.backends.clusters import NatReader
from harness.backends.kube import agentobjects, cleanup, reap
from harness.backends.kube.api import Api
from harness.backends.kube.checks import DEFAULT_PATIENCE, wait_until
from harness.backends.kube.kinds import CONFIG_MAP, DAEMON_SET, NODE, POD, Kind
from harness.backends.kube.logs import LogFollower
from harness.backends.kube.objects import owned
from harness.backends.kube.watch import Watcher
from harness.dataplane.correlate import (
    KUBE_PROXY_METRICS,
    NAT_RULES,
    NAT_RULES_HOST,
    RemovalCorrelator,
)
from harness.dataplane.hostnat import NatPoller
from harness.dataplane.settings import DataPlane
from harness.errors import BackendError, one_line
from harness.scenario import Kube
from harness.timeline import EventKind, TimelineEvent

if TYPE_CHECKING:
    from harness.backends.kube.session import Session

log = logging.getLogger(__name__)

AGENT_START_S = 60.0  # an agent pod not running by then: its node's moment is not measured


def start(session: Session, api: Api, settings: DataPlane, cluster: object | None) -> None:
    """Starts the data-plane observers the scenario asks for (see the module docstring); the
    agent runs ``data_plane.image``, by default the sample app's (python3 is all it needs)."""
    watch = DataPlaneWatch(session, api, settings, settings.image or Kube().image)
    session.data_plane = watch
    if settings.agent:
        watch.start_agent()
    if settings.host_nat and isinstance(cluster, NatReader):
        watch.start_host_nat(cluster.read_node_nat)


def not_started(session: Session, reason: str) -> None:
    """Says in the timeline why this run has no data-plane observer at all."""
    detail = {"node": None, "method": KUBE_PROXY_METRICS, "state": "unavailable", "reason": reason}
    session.emit(TimelineEvent(time.time(), EventKind.DATA_PLANE, None, detail))


class DataPlaneWatch:
    def __init__(self, session: Session, api: Api, settings: DataPlane, image: str) -> None:
        self.session = session
        self.api = api
        self.settings = settings
        self.image = image
        self.correlator = RemovalCorrelator()
        self.made: list[Kind] = []
        self.states: dict[tuple[str | None, str], str] = {}  # (node, method) → state
        self.agent_pods: dict[str, dict[str, Any]] = {}  # pod name → its last version
        self.followers: dict[str, LogFollower] = {}  # container id → follower
        self.watcher: Watcher | None = None
        self.checker: threading.Thread | None = None  # reports agents that did not start
        self.pollers: list[NatPoller] = []
        self.stopped = threading.Event()

    # ----- the session's endpoint events (under the session's lock) -----------------------------

    def derived(self, event: TimelineEvent) -> list[TimelineEvent]:
        """What the controller's endpoint ``event`` completes: removals already applied."""
        address = str(event.detail.get("address") or "")
        if event.pod is None or not address:
            return []
        if event.kind == EventKind.ENDPOINT_REMOVED:
            return self.correlator.endpoint_removed(event.pod, address, event.ts)
        if event.kind == EventKind.ENDPOINT_ADDED:
            return self.correlator.endpoint_added(event.pod, address, event.ts)
        return []

    # ----- the agent -----------------------------------------------------------------------------

    def start_agent(self) -> None:
        names = self.session.names
        bodies = {
            CONFIG_MAP.name: agentobjects.config_map(names),
            DAEMON_SET.name: agentobjects.daemon_set(names, self.settings, self.image),
        }
        try:
            for kind in agentobjects.AGENT_KINDS:
                self._make(kind, bodies[kind.name])
        except BackendError as exc:
            self.unavailable(None, KUBE_PROXY_METRICS, f"the agent DaemonSet was refused: {exc}")
            return
        pods = functools.partial(
            self.api.method(POD, "list"),
            names.namespace,
            label_selector=agentobjects.pod_selector(names),
        )
        self.watcher = Watcher("agent pods", pods, self._pods_listed, self._pod_changed)
        self.watcher.start()
        self.checker = threading.Thread(target=self._check_started, name="agent-start", daemon=True)
        self.checker.start()

    def _make(self, kind: Kind, body: dict[str, Any]) -> None:
        """Creates one of the agent's objects. One of that name already there is this run's
        (an earlier deploy's: deleted first) or a killed run's on its way out (the sweep's):
        waited for; anything else is someone else's and refused."""
        names, name = self.session.names, agentobjects.agent_name(self.session.names)
        existing = self.api.read(kind, name, names.namespace)
        if existing and owned(existing, names):
            cleanup.delete_owned(self.api, kind, names, name)
        elif existing and not (existing.get("metadata") or {}).get("deletionTimestamp"):
            raise BackendError(f"{kind.name} {name} is in the way and is not this run's")
        deadline = time.monotonic() + AGENT_START_S
        while existing:
            if time.monotonic() > deadline:
                raise BackendError(f"the earlier {kind.name} {name} did not go")
            time.sleep(0.2)
            existing = self.api.read(kind, name, names.namespace)
        if not self.api.create(kind, body, names.namespace):
            raise BackendError(f"{kind.name} {name} appeared while being made")
        self.made.append(kind)

    def _pods_listed(self, items: list[dict[str, Any]], observed: float) -> None:
        for obj in items:
            self._pod_changed("ADDED", obj, observed)

    def _pod_changed(self, kind: str, obj: dict[str, Any], observed: float) -> None:
        del observed
        name = str((obj.get("metadata") or {}).get("name") or "")
        with self.session.lock:
            if kind == "DELETED":
                self.agent_pods.pop(name, None)
                return
            self.agent_pods[name] = obj
            running = _running_container(obj)
            if running is None or running in self.followers or self.stopped.is_set():
                return
            follower = LogFollower(
                f"agent {name}",
                functools.partial(self._open_log, name),
                functools.partial(self._agent_log, name),
                functools.partial(self._still_running, name, running),
            )
            self.followers[running] = follower
        follower.start()

    def _open_log(self, pod: str) -> Any:
        read_log = self.api.method(POD, "read", "log")
        namespace = self.session.names.namespace
        return read_log(
            pod,
            namespace,
            container=agentobjects.CONTAINER,
            follow=True,
            _preload_content=False,
        )

    def _still_running(self, pod: str, container_id: str) -> bool:
        with self.session.lock:
            return _running_container(self.agent_pods.get(pod) or {}) == container_id

    def _check_started(self) -> None:
        """After AGENT_START_S: every agent pod not running is a node whose moment is unseen."""
        if self.stopped.wait(AGENT_START_S):
            return
        with self.session.lock:
            pods = list(self.agent_pods.values())
        if not pods:
            why = f"the agent pod did not start in {AGENT_START_S:g} s: the DaemonSet made none"
            self.unavailable(None, KUBE_PROXY_METRICS, why)
        for pod in pods:
            if _running_container(pod) is None:
                node = (pod.get("spec") or {}).get("nodeName")
                why = f"the agent pod did not start in {AGENT_START_S:g} s: {_waiting(pod)}"
                self.unavailable(node, KUBE_PROXY_METRICS, why)

    def _agent_log(self, pod: str, line: str, arrived: float) -> None:
        self.session.log_line(pod, line, arrived)  # kept in logs/<pod>.log with the app's
        self.agent_line(line)

    def agent_line(self, line: str) -> None:
        """One line an agent printed (agent.py)."""
        try:
            said = json.loads(line)
        except ValueError:
            return
        if not isinstance(said, dict) or said.get("drainlab_agent") != 1:
            return
        node, ts, kind = str(said.get("node") or ""), said.get("ts"), said.get("kind")
        if not isinstance(ts, (int, float)) or not node:
            return
        with self.session.lock:
            if kind == "state":
                method, state = str(said.get("method")), str(said.get("state"))
                reason = str(said.get("reason") or "")
                if method == KUBE_PROXY_METRICS and state == "unavailable":
                    self.unavailable(node, method, reason)  # the agent's one job: say so
                else:
                    self.state(node, method, state, reason)
            elif kind == "metrics" and isinstance(said.get("changes_total"), (int, float)):
                sync, total, count = (
                    said.get("sync_ts"),
                    said.get("duration_sum"),
                    said.get("duration_count"),
                )
                durations = None
                if isinstance(total, (int, float)) and isinstance(count, (int, float)):
                    durations = (float(total), float(count))
                events = self.correlator.proxy_metrics(
                    node,
                    float(ts),
                    _number(sync),
                    float(said["changes_total"]),
                    float(said.get("changes_pending") or 0),
                    durations,
                    _number(said.get("queued_ts")),
                )
                self._emit(events)
            elif kind == "nat" and isinstance(said.get("addresses"), list):
                addresses = [str(a) for a in said["addresses"]]
                self._emit(self.correlator.nat_snapshot(node, NAT_RULES, float(ts), addresses))

    # ----- the host's NAT reader (the local cluster) ---------------------------------------------

    def start_host_nat(self, read_node_nat: Callable[[str], str]) -> None:
        try:
            items = self.api.list(NODE).get("items") or []
        except BackendError as exc:
            self.unavailable(None, NAT_RULES_HOST, f"cannot list the nodes: {exc}")
            return
        names = self.session.names
        for item in items:
            node = str((item.get("metadata") or {}).get("name") or "")
            poller = NatPoller(
                functools.partial(read_node_nat, node),
                names.namespace,
                names.service,
                node,
                self.host_snapshot,
                self.settings.interval_ms / 1000,
                on_error=functools.partial(self.unavailable, node, NAT_RULES_HOST),
            )
            self.pollers.append(poller)
            poller.start()
            self.state(node, NAT_RULES_HOST, "watching", "")

    def host_snapshot(self, node: str, method: str, ts: float, addresses: frozenset[str]) -> None:
        """One reading of a node's NAT rules by the host (NatPoller's on_snapshot)."""
        with self.session.lock:
            self._emit(self.correlator.nat_snapshot(node, method, ts, addresses))

    # ----- states and the end --------------------------------------------------------------------

    def unavailable(self, node: str | None, method: str, reason: str) -> None:
        reason = one_line(reason)
        log.warning("kube: the proxy's moment is not measured (%s): %s", method, reason)
        self.state(node, method, "unavailable", reason)

    def state(self, node: str | None, method: str, state: str, reason: str) -> None:
        with self.session.lock:
            if self.states.get((node, method)) == state and state != "unavailable":
                return
            self.states[(node, method)] = state
            detail: dict[str, Any] = {"node": node, "method": method, "state": state}
            if reason:
                detail["reason"] = reason
            self.session.emit(TimelineEvent(time.time(), EventKind.DATA_PLANE, None, detail))

    def _emit(self, events: list[TimelineEvent]) -> None:
        for event in events:
            self.session.emit(event)

    def stop(self) -> None:
        """Reports the observers stopped, stops every thread, deletes the agent's objects."""
        self.stopped.set()
        with self.session.lock:
            for (node, method), state in list(self.states.items()):
                if state == "watching":
                    self.state(node, method, "stopped", "")
            followers = list(self.followers.values())
        for poller in self.pollers:
            with contextlib.suppress(Exception):
                poller.stop()
        if self.watcher is not None:
            self.watcher.stop()
        if self.checker is not None:
            self.checker.join()
        for follower in followers:
            follower.stop()
        names = self.session.names
        for kind in reversed(self.made):
            try:
                cleanup.delete_owned(self.api, kind, names, agentobjects.agent_name(names))
            except BackendError as exc:
                log.warning("kube teardown: the agent's %s: %s", kind.name, exc)
        if self.made:
            # The DaemonSet's pods go after it (its deletion is in the background): nothing of
            # the run may be left in a namespace that stays (the user's, or one allowed).
            try:
                gone_s = DEFAULT_PATIENCE.teardown_s  # an agent still stopping may take a while
                reaper = reap.Reaper(self.api)
                wait_until(
                    "the agent's pods to go", gone_s, lambda: reaper.gone(self._agent_pods())
                )
            except BackendError as exc:
                log.warning("kube teardown: %s", exc)

    def _agent_pods(self) -> list[dict[str, Any]]:
        names = self.session.names
        selector = agentobjects.pod_selector(names)
        return self.api.list(POD, names.namespace, label_selector=selector).get("items") or []


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _running_container(pod: dict[str, Any]) -> str | None:
    """The running agent container's id, None while it does not run."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == agentobjects.CONTAINER and (status.get("state") or {}).get(
            "running"
        ):
            return str(status.get("containerID") or "") or None
    return None


def _waiting(pod: dict[str, Any]) -> str:
    """Why a pod's agent container does not run, as the kubelet says (ImagePullBackOff)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        state = status.get("state") or {}
        for phase in ("waiting", "terminated"):
            if phase in state:
                what = state[phase] or {}
                return str(what.get("reason") or phase)
    return str((pod.get("status") or {}).get("phase") or "not scheduled")
