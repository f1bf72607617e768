"""One run per namespace: a coordination.k8s.io/v1 Lease that the run holds while it uses it.

The Lease ``drainlab-run`` in the namespace names its holder (``holderIdentity``: the run id) and
when the holder last renewed it. A run takes it at deploy, renews it every
``LEASE_DURATION_S / 4`` while the order runs, and deletes it at teardown. A second run finds it
held and is refused with one line naming the holder; a Lease not renewed for
``leaseDurationSeconds`` belongs to a run that is gone (killed, its machine down) and is taken
over (:meth:`LeaseHolder.acquire` watches it for that long at most: a killed run delays the
next one by 30 s at most). The Lease is served from Kubernetes 1.14 on.

Losing the Lease (another run took it over while this one could not renew it, e.g. a suspended
laptop) is not silent: :attr:`LeaseHolder.lost` says so, and the backend refuses to go on.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.backends.kube.api import Api
from harness.backends.kube.kinds import LEASE
from harness.backends.kube.objects import app_labels, namespace_labels
from harness.backends.kube.stamps import parse_time
from harness.errors import BackendError

log = logging.getLogger(__name__)

LEASE_NAME = "drainlab-run"
LEASE_DURATION_S = 30
RENEW_EVERY_S = LEASE_DURATION_S / 4
WATCH_POLL_S = 1.0  # how often a Lease held by another run is read again
_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"  # MicroTime, as the API writes it


def micro_time(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(_MICRO)


@dataclass(frozen=True, slots=True)
class Holding:
    """Who holds a Lease, as read at ``now``."""

    holder: str | None  # None: nobody (released, or never held)
    expires: float | None  # unix seconds; None when it cannot tell (then it never expires)

    def free_for(self, run_id: str, now: float) -> bool:
        """Whether ``run_id`` may take the Lease: its own, nobody's, or expired."""
        if self.holder in (None, run_id):
            return True
        return self.expires is not None and self.expires <= now


def holding(lease: Mapping[str, Any]) -> Holding:
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity") or None
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    duration = spec.get("leaseDurationSeconds")
    expires = None
    if renewed is not None and isinstance(duration, int):
        expires = renewed + duration
    return Holding(str(holder) if holder else None, expires)


def lease_object(
    namespace: str, run_id: str, now: float, existing: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Lease held by ``run_id`` from ``now``: a new one, or ``existing`` taken over/renewed
    (its resourceVersion kept, so a replace fails if anyone changed it meanwhile)."""
    spec: dict[str, Any] = {
        "holderIdentity": run_id,
        "leaseDurationSeconds": LEASE_DURATION_S,
        "acquireTime": micro_time(now),
        "renewTime": micro_time(now),
        "leaseTransitions": 0,
    }
    metadata: dict[str, Any] = {
        "name": LEASE_NAME,
        "namespace": namespace,
        "labels": {**app_labels(), **namespace_labels(run_id)},
    }
    if existing:
        old_meta = existing.get("metadata") or {}
        old_spec = existing.get("spec") or {}
        metadata["resourceVersion"] = old_meta.get("resourceVersion")
        transitions = int(old_spec.get("leaseTransitions") or 0)
        if old_spec.get("holderIdentity") == run_id:
            spec["acquireTime"] = old_spec.get("acquireTime") or spec["acquireTime"]
            spec["leaseTransitions"] = transitions
        else:
            spec["leaseTransitions"] = transitions + 1
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": spec,
    }


def refusal(namespace: str, holding_: Holding, now: float) -> str:
    left = "" if holding_.expires is None else f", for {max(0.0, holding_.expires - now):.0f} s"
    return (
        f"kube: namespace {namespace} is in use by run {holding_.holder} (it holds the Lease "
        f"{LEASE_NAME}{left} more unless renewed); wait for it to end, or pass another --namespace"
    )


class LeaseHolder:
    """This run's Lease in one namespace: take, renew in a thread, release."""

    def __init__(
        self,
        api: Api,
        namespace: str,
        run_id: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api
        self._sleep = sleep
        self.namespace = namespace
        self.run_id = run_id
        self._clock = clock
        self.lost: str | None = None  # why the run no longer holds it
        self.taken_over_from: str | None = None  # the expired holder this run replaced
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Takes the Lease, or BackendError (one line naming the holder) if a live run holds it.

        A Lease another run holds and that has not expired by the clocks is watched: renewed
        meanwhile, its holder is alive and this run is refused; left alone for its
        ``leaseDurationSeconds`` (or until it expires by the clocks, if sooner), its holder is
        gone (killed) and this run takes it over. A killed run thus delays the next one by the
        Lease's duration at most, whatever the two machines' clocks say.
        """
        seen: tuple[object, float] | None = None  # (resourceVersion, give up watching at)
        for _ in range(10_000):
            now = self._clock()
            existing = self._api.read(LEASE, LEASE_NAME, self.namespace)
            if not existing:
                made = lease_object(self.namespace, self.run_id, now)
                if self._api.create(LEASE, made, self.namespace):
                    return
                continue  # made by another run meanwhile: read it
            held = holding(existing)
            version = (existing.get("metadata") or {}).get("resourceVersion")
            if not held.free_for(self.run_id, now):
                if seen is not None and seen[0] != version:
                    raise BackendError(refusal(self.namespace, held, now))  # renewed: alive
                if seen is None:
                    duration = (existing.get("spec") or {}).get("leaseDurationSeconds")
                    seen = (version, now + float(duration or LEASE_DURATION_S))
                    log.warning(
                        "kube: namespace %s: its Lease is held by run %s; waiting up to %.0f s "
                        "to see whether that run is still alive",
                        self.namespace,
                        held.holder,
                        min(seen[1], held.expires or seen[1]) - now,
                    )
                if now < seen[1]:
                    self._sleep(WATCH_POLL_S)
                    continue
            if self._take(existing, held):
                return
            seen = None
        raise BackendError(f"kube: the Lease of namespace {self.namespace} kept changing")

    def _take(self, existing: Mapping[str, Any], held: Holding) -> bool:
        body = lease_object(self.namespace, self.run_id, self._clock(), existing)
        if not self._api.replace(LEASE, LEASE_NAME, self.namespace, body):
            return False
        if held.holder not in (None, self.run_id):
            self.taken_over_from = held.holder
            log.warning(
                "kube: took over the Lease of namespace %s from run %s (not renewed: gone)",
                self.namespace,
                held.holder,
            )
        return True

    def renew(self) -> bool:
        """Renews once; False (and :attr:`lost` set) when another run holds it now."""
        for _ in range(3):
            existing = self._api.read(LEASE, LEASE_NAME, self.namespace)
            held = holding(existing) if existing else Holding(None, None)
            if held.holder != self.run_id:
                now_held = f"held by run {held.holder}" if held.holder else "gone"
                self.lost = (
                    f"kube: this run lost the Lease of namespace {self.namespace} (now "
                    f"{now_held}): another run may be using the namespace"
                )
                return False
            body = lease_object(self.namespace, self.run_id, self._clock(), existing)
            if self._api.replace(LEASE, LEASE_NAME, self.namespace, body):
                return True
        return True  # it kept changing but stays this run's: the next renewal tries again

    def start_renewing(self, every_s: float = RENEW_EVERY_S) -> None:
        def loop() -> None:
            while not self._stop.wait(every_s):
                try:
                    if not self.renew():
                        log.error("%s", self.lost)
                        return
                except BackendError as exc:  # the API down for a while: try again next time
                    log.warning("kube: cannot renew the Lease of %s: %s", self.namespace, exc)

        self._thread = threading.Thread(target=loop, name="kube-lease", daemon=True)
        self._thread.start()

    def stop_renewing(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def holds(self) -> bool:
        """Whether the Lease is still this run's (read from the API)."""
        existing = self._api.read(LEASE, LEASE_NAME, self.namespace)
        return bool(existing) and holding(existing).holder == self.run_id

    def release(self) -> None:
        """Stops renewing and deletes the Lease if it is still this run's."""
        self.stop_renewing()
        existing = self._api.read(LEASE, LEASE_NAME, self.namespace)
        if not existing or holding(existing).holder != self.run_id:
            return
        meta = existing.get("metadata") or {}
        preconditions = {"uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")}
        self._api.delete(LEASE, LEASE_NAME, self.namespace, {"preconditions": preconditions})
