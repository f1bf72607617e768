"""One deployed order's observers: its trackers, watches, log followers, and the run's sink.

Every watch and log thread hands what it reads to a :class:`Session`, which turns it into
timeline events under one lock, so the sink sees one event at a time in the order they were
derived, whatever thread found them. After :meth:`close` nothing more reaches the sink (the run
closes its timeline right after teardown).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness.backends.base import DeploySpec, EventSink
from harness.backends.embedded.applog import app_event
from harness.backends.kube.api import Api
from harness.backends.kube.endpointstate import ENDPOINTS_V1, EndpointTracker
from harness.backends.kube.kinds import ENDPOINTS, EVENT, POD, endpoint_slices
from harness.backends.kube.lease import LeaseHolder
from harness.backends.kube.logs import LogFollower
from harness.backends.kube.objects import Names
from harness.backends.kube.podevents import EventTracker
from harness.backends.kube.podstate import LogTarget, PodTracker, Update
from harness.backends.kube.watch import Watcher
from harness.errors import BackendError
from harness.timeline import EventKind, TimelineEvent

if TYPE_CHECKING:
    from harness.backends.kube.dataplane import DataPlaneWatch

log = logging.getLogger(__name__)


SYNC_TIMEOUT_S = 30.0  # for a watch's first list
SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # set by the EndpointSlice controller

# Opens the follow stream of one container's log: (pod, container) → urllib3 response.
OpenLog = Callable[[str, str], Any]


class Session:
    def __init__(
        self,
        spec: DeploySpec,
        names: Names,
        sink: EventSink,
        endpoint_api: str,
        open_log: OpenLog,
        log_dir: Path | None,
    ) -> None:
        self.spec = spec
        self.names = names
        self.lock = threading.RLock()
        self.pods = PodTracker()
        self.endpoints = EndpointTracker(endpoint_api)
        self.events = EventTracker(self.pods.has_prestop, self.pods.sigterm_due)
        self.watchers: list[Watcher] = []
        self.followers: dict[str, LogFollower] = {}
        self.namespace_uid: str | None = None  # the namespace this run created, by UID
        self.lease: LeaseHolder | None = None  # set once this run holds the namespace's Lease
        # The labels the Service's endpoints are selected by, besides its name; None: the
        # harness's (its own Service's). A --target run watches the user's Service: "".
        self.endpoint_labels: str | None = None
        self.data_plane: DataPlaneWatch | None = None  # the nodes' proxies (dataplane.py)
        self.closed = False
        self._sink = sink
        self._open_log = open_log
        self._log_dir = log_dir
        self._log_files: dict[str, IO[str]] = {}

    # ----- emitting ----------------------------------------------------------------------------

    def emit(self, event: TimelineEvent) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                self._sink(event)
            except Exception:
                log.exception("timeline sink failed for %s", event.kind)
            if self.data_plane is not None:
                for derived in self.data_plane.derived(event):  # removals a proxy applied
                    self.emit(derived)

    # ----- watching ----------------------------------------------------------------------------

    def watch(self, api: Api) -> None:
        """Starts the pod, endpoints and event watches and waits (SYNC_TIMEOUT_S at most) for
        their first lists; BackendError if the pod or endpoints watch has not listed by then
        (the event watch is not required)."""
        names = self.names
        ns = names.namespace
        pods = functools.partial(api.method(POD, "list"), ns, label_selector=names.selector)
        labels = names.selector if self.endpoint_labels is None else self.endpoint_labels
        if self.endpoints.api == ENDPOINTS_V1:
            endpoints = functools.partial(
                api.method(ENDPOINTS, "list"),
                ns,
                label_selector=labels,
                field_selector=f"metadata.name={names.service}",
            )
        else:
            endpoints = functools.partial(
                api.method(endpoint_slices(self.endpoints.api), "list"),
                ns,
                # The controller names the Service on each slice and copies the Service's
                # labels onto it (1.19+), so the harness's labels select them too.
                label_selector=",".join(
                    filter(None, (labels, f"{SERVICE_NAME_LABEL}={names.service}"))
                ),
            )
        # Events cannot be selected by the pod's labels: the session keeps only those about
        # pods the (label-selected) pod watch has seen.
        events = functools.partial(
            api.method(EVENT, "list"), ns, field_selector="involvedObject.kind=Pod"
        )
        policy = api.policy
        self.watchers = [
            Watcher("pods", pods, self.pods_listed, self.pod_changed, policy),
            Watcher("endpoints", endpoints, self.endpoints_listed, self.endpoints_changed, policy),
            Watcher("events", events, self.events_listed, self.event_changed, policy),
        ]
        for watcher in self.watchers:
            watcher.start()
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        for watcher in self.watchers:
            watcher.synced.wait(max(0.0, deadline - time.monotonic()))
            if watcher.name != "events" and (watcher.failed or not watcher.synced.is_set()):
                why = watcher.failed or f"no answer in {SYNC_TIMEOUT_S:g} s"
                raise BackendError(f"kube: cannot watch {watcher.name}: {why}")

    # ----- watch callbacks (watch threads) -----------------------------------------------------

    def pods_listed(self, items: list[dict[str, Any]], observed: float) -> None:
        with self.lock:
            present = set()
            for obj in items:
                present.add(str((obj.get("metadata") or {}).get("name") or ""))
                self._apply(self.pods.observe(obj, observed, live=False))
            self.pods.forget_missing(present)

    def pod_changed(self, kind: str, obj: dict[str, Any], observed: float) -> None:
        with self.lock:
            self._apply(self.pods.observe(obj, observed, live=True))
            if kind == "DELETED":
                self.pods.gone(obj)

    def endpoints_listed(self, items: list[dict[str, Any]], observed: float) -> None:
        with self.lock:
            for event in self.endpoints.resync(items, observed):
                self.emit(event)

    def endpoints_changed(self, kind: str, obj: dict[str, Any], observed: float) -> None:
        with self.lock:
            for event in self.endpoints.observe(kind, obj, observed):
                self.emit(event)

    def events_listed(self, items: list[dict[str, Any]], observed: float) -> None:
        with self.lock:
            for obj in items:
                # Remembered, not reported: these happened before this run's watch.
                self.events.observe(obj, observed, live=False)

    def event_changed(self, kind: str, obj: dict[str, Any], observed: float) -> None:
        if kind == "DELETED":
            return
        with self.lock:
            for event in self.events.observe(obj, observed, live=True):
                self.emit(event)

    # ----- logs --------------------------------------------------------------------------------

    def _apply(self, update: Update) -> None:
        for event in update.events:
            self.emit(event)
        for target in update.follow:
            self._follow(target)

    def _follow(self, target: LogTarget) -> None:
        if self.closed or target.container_id in self.followers:
            return

        def still_running() -> bool:
            with self.lock:
                current = self.pods.running_instance(target.pod, target.container)
                return current == target.container_id

        follower = LogFollower(
            f"{target.pod}/{target.container}",
            lambda: self._open_log(target.pod, target.container),
            lambda line, arrived: self.log_line(target.pod, line, arrived),
            still_running,
        )
        self.followers[target.container_id] = follower
        follower.start()

    def log_line(self, pod: str, line: str, arrived: float) -> None:
        """One line of a pod's log: kept in its log file; the app's event lines → timeline."""
        with self.lock:
            if self.closed:
                return
            self._write_log(pod, line)
            event = app_event(line, pod)
            if event is None:
                return
            detail = {**event.detail, "source": "app_log", "arrived": round(arrived, 6)}
            self.emit(TimelineEvent(event.ts, event.kind, pod, detail))
            if event.kind == EventKind.APP_SIGTERM:
                # The app got SIGTERM by this time: an upper bound of when it was sent.
                signal = event.detail.get("signal")
                self.emit(
                    TimelineEvent(
                        event.ts,
                        EventKind.SIGTERM_SENT,
                        pod,
                        {"source": "app_log", "signal": signal},
                    )
                )

    def _write_log(self, pod: str, line: str) -> None:
        if self._log_dir is None:
            return
        handle = self._log_files.get(pod)
        if handle is None:
            try:
                self._log_dir.mkdir(parents=True, exist_ok=True)
                handle = (self._log_dir / f"{pod}.log").open("a", encoding="utf-8", buffering=1)
            except OSError as exc:
                log.warning("cannot write the log of %s: %s", pod, exc)
                self._log_dir = None
                return
            self._log_files[pod] = handle
        handle.write(line + "\n")

    # ----- the end -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stops every watch and log thread, closes the log files; nothing is emitted after."""
        if self.data_plane is not None:
            self.data_plane.stop()  # its last states, then its threads and objects go
        with self.lock:
            self.closed = True
            watchers = list(self.watchers)
            followers = list(self.followers.values())
        for watcher in watchers:
            watcher.stop()
        for follower in followers:
            follower.stop()
        with self.lock:
            for handle in self._log_files.values():
                with contextlib.suppress(OSError):
                    handle.close()
            self._log_files.clear()
