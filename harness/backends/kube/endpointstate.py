"""The Service's ready endpoints, as the cluster's endpoint controller publishes them.

Which API: EndpointSlice ``discovery.k8s.io/v1`` where the server serves it (1.21+), else
``discovery.k8s.io/v1beta1`` (v1.17-1.24; what v1.20 has), else core/v1 Endpoints; chosen from
the server's API discovery (:func:`choose_api`).

A pod is in the ready set while at least one of its addresses is ready: in an EndpointSlice an
endpoint with ``conditions.ready`` not false (the API says a missing value means ready) and not
``terminating``; in Endpoints an entry of ``subsets[].addresses`` (``notReadyAddresses`` are
not ready). A pod leaving the set is ``endpoint_removed`` with the reason seen: ``terminating``
(current clusters first mark a deleted pod's endpoint ``ready: false, terminating: true``),
``not_ready`` (its readiness failed), or ``gone`` (its endpoint was dropped, as v1.20 does on
deletion). Entering it is ``endpoint_added``. Endpoints carry no time of their own: events get
the watch's arrival time (stamps.py, source ``watch``).

Both events carry the endpoint's conditions as the server published them (KEP-1672): ``ready``,
``serving``, ``terminating``, each a bool, or null when the server does not publish it (v1.20
publishes ``serving``/``terminating`` only with the EndpointSliceTerminatingCondition gate;
core/v1 Endpoints publish readiness alone, as addresses vs notReadyAddresses; an endpoint that
is gone has none).

Pure: :class:`EndpointTracker` is fed every version of every slice (or Endpoints object).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.timeline import EventKind, TimelineEvent

SLICE_V1 = "discovery.k8s.io/v1"
SLICE_V1BETA1 = "discovery.k8s.io/v1beta1"
ENDPOINTS_V1 = "v1"  # core/v1 Endpoints


def choose_api(served: Collection[str]) -> str:
    """The endpoints API to watch, given the group versions the server serves."""
    for candidate in (SLICE_V1, SLICE_V1BETA1):
        if candidate in served:
            return candidate
    return ENDPOINTS_V1


@dataclass(frozen=True, slots=True)
class Conditions:
    """An endpoint's conditions as published; None: not published."""

    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None

    def detail(self) -> dict[str, bool | None]:
        return {"ready": self.ready, "serving": self.serving, "terminating": self.terminating}


@dataclass(frozen=True, slots=True)
class EndpointState:
    address: str
    ready: bool  # in the ready set: ready (or unset) and not terminating
    terminating: bool
    serving: bool | None = None
    conditions: Conditions = Conditions()


def _published(cond: Mapping[str, Any], key: str) -> bool | None:
    value = cond.get(key)
    return value if isinstance(value, bool) else None


def _slice_endpoints(obj: Mapping[str, Any]) -> dict[str, EndpointState]:
    found: dict[str, EndpointState] = {}
    for ep in obj.get("endpoints") or []:
        ref = ep.get("targetRef") or {}
        pod = ref.get("name")
        if ref.get("kind") != "Pod" or not pod:
            continue
        cond = ep.get("conditions") or {}
        terminating = cond.get("terminating") is True
        ready = cond.get("ready") is not False and not terminating
        published = Conditions(*(_published(cond, k) for k in ("ready", "serving", "terminating")))
        address = next(iter(ep.get("addresses") or []), "")
        state = EndpointState(address, ready, terminating, published.serving, published)
        # A pod listed twice (dual stack) is ready if any of its entries is.
        if pod not in found or (ready and not found[pod].ready):
            found[pod] = state
    return found


def _endpoints_endpoints(obj: Mapping[str, Any]) -> dict[str, EndpointState]:
    found: dict[str, EndpointState] = {}
    for subset in obj.get("subsets") or []:
        for key, ready in (("notReadyAddresses", False), ("addresses", True)):
            for addr in subset.get(key) or []:
                ref = addr.get("targetRef") or {}
                pod = ref.get("name")
                if ref.get("kind") != "Pod" or not pod:
                    continue
                if pod not in found or ready:
                    published = Conditions(ready=ready)
                    found[pod] = EndpointState(
                        str(addr.get("ip") or ""), ready, False, None, published
                    )
    return found


def parse(obj: Mapping[str, Any], api: str) -> dict[str, EndpointState]:
    """Pod name → its endpoint state in one EndpointSlice or Endpoints object."""
    return _endpoints_endpoints(obj) if api == ENDPOINTS_V1 else _slice_endpoints(obj)


class EndpointTracker:
    """The union of the Service's slices; reports pods entering and leaving the ready set."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.source = f"endpoints/{api}" if api == ENDPOINTS_V1 else f"endpointslice/{api}"
        self._objects: dict[str, dict[str, EndpointState]] = {}  # object name → its pods
        self._ready: dict[str, EndpointState] = {}

    @property
    def ready_pods(self) -> set[str]:
        return set(self._ready)

    def observe(self, kind: str, obj: Mapping[str, Any], observed: float) -> list[TimelineEvent]:
        """One watch event (ADDED, MODIFIED, DELETED) of one slice."""
        name = str((obj.get("metadata") or {}).get("name") or "")
        if kind == "DELETED":
            self._objects.pop(name, None)
        else:
            self._objects[name] = parse(obj, self.api)
        return self._diff(observed, relist=False)

    def resync(self, objs: Iterable[Mapping[str, Any]], observed: float) -> list[TimelineEvent]:
        """A fresh list of every slice replaces what was known (after a watch gap)."""
        self._objects = {
            str((o.get("metadata") or {}).get("name") or ""): parse(o, self.api) for o in objs
        }
        return self._diff(observed, relist=True)

    def _merged(self) -> dict[str, EndpointState]:
        merged: dict[str, EndpointState] = {}
        for pods in self._objects.values():
            for pod, state in pods.items():
                if pod not in merged or (state.ready and not merged[pod].ready):
                    merged[pod] = state
        return merged

    def _diff(self, observed: float, relist: bool) -> list[TimelineEvent]:
        merged = self._merged()
        ready = {pod: s for pod, s in merged.items() if s.ready}
        events: list[TimelineEvent] = []
        base = {"source": "watch", "observed": round(observed, 6), "api": self.source}
        if relist:
            base["relist"] = True
        for pod in sorted(set(self._ready) - set(ready)):
            now = merged.get(pod)
            if now is None:
                reason = "gone"
            elif now.terminating:
                reason = "terminating"
            else:
                reason = "not_ready"
            detail = {**base, "reason": reason, "address": self._ready[pod].address}
            detail.update((now.conditions if now is not None else Conditions()).detail())
            events.append(TimelineEvent(observed, EventKind.ENDPOINT_REMOVED, pod, detail))
        for pod in sorted(set(ready) - set(self._ready)):
            detail = {**base, "address": ready[pod].address, **ready[pod].conditions.detail()}
            events.append(TimelineEvent(observed, EventKind.ENDPOINT_ADDED, pod, detail))
        self._ready = ready
        return events
