"""The Service's endpoints: the controller's view, and the proxy catching up late.

The endpoints controller changes its view at once (a pod became ready: added; a pod failed its
probe, exited or is being deleted: removed). Each change reaches the proxy only after a
propagation delay drawn from a seeded rng, which is what kube-proxy's asynchronous sync looks
like from outside. Changes for one pod are applied in the order they were made, so a quick
remove-then-add can never leave the proxy with the older state.

What happens to a terminating pod's endpoint depends on the profile (harness.kubeversion,
``embedded.kubernetes_version``): up to 1.21 it leaves at once and the events publish no
conditions (``serving``/``terminating`` null); from 1.22 (KEP-1672) a pod that still passes its
readiness probe stays in the slice as serving-terminating until it stops serving or is gone
(``endpoint_removed`` first with reason "deleted", then "not_serving" or "gone"); from 1.26
(KEP-1669) the proxy also routes to those when the Service has no ready endpoint.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from harness.backends.base import EventSink
from harness.backends.embedded.proxy import Endpoint, ServiceProxy
from harness.kubeversion import EndpointSemantics, semantics
from harness.timeline import EventKind, TimelineEvent

# The state a change moves an endpoint to, in the proxy: ready, serving-terminating, or gone.
READY, SERVING_TERMINATING = "ready", "serving_terminating"


class PropagationDelay:
    """Seeded delays in [min_s, max_s]; exactly min_s when they are equal."""

    def __init__(self, rng: random.Random, min_s: float, max_s: float) -> None:
        if not 0 <= min_s <= max_s:
            raise ValueError(f"need 0 <= min_s <= max_s, got {min_s}, {max_s}")
        self._rng = rng
        self.min_s = min_s
        self.max_s = max_s

    def next(self) -> float:
        if self.min_s == self.max_s:
            return self.min_s
        return self._rng.uniform(self.min_s, self.max_s)


class EndpointsModel:
    """Controller view → (delay) → proxy view, with an event at each step."""

    def __init__(
        self,
        proxy: ServiceProxy,
        delay: PropagationDelay,
        emit: EventSink,
        on_change: Callable[[], None],
        profile: EndpointSemantics | None = None,
    ) -> None:
        self._profile = profile or semantics("1.20")
        self._proxy = proxy
        self._delay = delay
        self._emit = emit
        self._on_change = on_change
        self.controller: dict[str, Endpoint] = {}  # the ready endpoints
        self.terminating: dict[str, Endpoint] = {}  # the serving-terminating ones (from 1.22)
        self._pending: dict[str, int] = {}  # pod → changes not yet applied by the proxy
        self._last_apply_at: dict[str, float] = {}  # pod → loop time of its latest scheduled apply
        self._handles: set[asyncio.TimerHandle] = set()

    def add(self, endpoint: Endpoint) -> None:
        """The pod became ready (and is not terminating): it joins the endpoints."""
        if self.controller.get(endpoint.pod) == endpoint:
            return
        self.controller[endpoint.pod] = endpoint
        detail = {"host": endpoint.host, "port": endpoint.port, **self._conditions(True, True)}
        self._emit(TimelineEvent(time.time(), EventKind.ENDPOINT_ADDED, endpoint.pod, detail))
        self._schedule(endpoint.pod, endpoint, READY)

    def terminate(self, pod: str, serving: bool) -> None:
        """The pod is being deleted: gone from the endpoints, or (from 1.22, while it still
        passes its readiness probe) kept as serving-terminating."""
        endpoint = self.controller.pop(pod, None)
        if endpoint is None:
            return
        keep = serving and self._profile.publishes_conditions
        detail = {"reason": "deleted", **self._conditions(False, keep, terminating=True)}
        self._emit(TimelineEvent(time.time(), EventKind.ENDPOINT_REMOVED, pod, detail))
        if keep:
            self.terminating[pod] = endpoint
        self._schedule(pod, endpoint if keep else None, SERVING_TERMINATING)

    def remove(self, pod: str, reason: str) -> None:
        """The pod is not ready, or gone: it leaves the endpoints (a serving-terminating one
        stops serving: reason "not_serving", or "gone" when its last container ended)."""
        if pod in self.terminating:
            del self.terminating[pod]
            reason = "not_serving" if reason == "not_ready" else "gone"
            conditions = self._conditions(False, False, terminating=True)
        elif self.controller.pop(pod, None) is not None:
            conditions = self._conditions(False, False)
        else:
            return
        detail = {"reason": reason, **conditions}
        self._emit(TimelineEvent(time.time(), EventKind.ENDPOINT_REMOVED, pod, detail))
        self._schedule(pod, None, READY)

    def _conditions(
        self, ready: bool, serving: bool, terminating: bool = False
    ) -> dict[str, bool | None]:
        """An endpoint's conditions as the slice publishes them (null before 1.22)."""
        published = self._profile.publishes_conditions
        return {
            "ready": ready,
            "serving": serving if published else None,
            "terminating": terminating if published else None,
        }

    @property
    def in_sync(self) -> bool:
        """Every change has reached the proxy, and both views agree."""
        return (
            not self._pending
            and self._proxy.view == self.controller
            and self._proxy.fallback_view == self.terminating
        )

    def _schedule(self, pod: str, endpoint: Endpoint | None, state: str) -> None:
        loop = asyncio.get_running_loop()
        changed_at = time.time()
        # Strictly after the pod's previous change: timers due at the same instant run in any order.
        at = max(loop.time() + self._delay.next(), self._last_apply_at.get(pod, 0.0) + 1e-6)
        self._last_apply_at[pod] = at
        self._pending[pod] = self._pending.get(pod, 0) + 1
        handle: asyncio.TimerHandle | None = None

        def apply() -> None:
            assert handle is not None
            self._handles.discard(handle)
            left = self._pending.get(pod, 1) - 1
            if left > 0:
                self._pending[pod] = left
            else:
                self._pending.pop(pod, None)
                self._last_apply_at.pop(pod, None)
            detail: dict[str, object] = {"delay_s": round(time.time() - changed_at, 4)}
            if endpoint is None:
                self._proxy.remove_endpoint(pod)
                detail["method"] = "embedded_proxy"
                self._emit(TimelineEvent(time.time(), EventKind.REMOVAL_APPLIED, pod, detail))
            elif state == SERVING_TERMINATING:
                # No longer a ready endpoint: new connections reach it only as the fallback.
                self._proxy.set_fallback(endpoint, self._profile.serving_terminating_fallback)
                detail["serving_terminating"] = True
                self._emit(TimelineEvent(time.time(), EventKind.REMOVAL_APPLIED, pod, detail))
            else:
                self._proxy.set_endpoint(endpoint)
                self._emit(TimelineEvent(time.time(), EventKind.ADDITION_APPLIED, pod, detail))
            self._on_change()

        handle = loop.call_at(at, apply)
        self._handles.add(handle)

    def cancel(self) -> None:
        """Drops every change not yet applied (teardown)."""
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        self._pending.clear()
        self._last_apply_at.clear()
        self.controller.clear()
        self.terminating.clear()
