"""The Service's endpoints: the controller's view, and the proxy catching up late.

The endpoints controller changes its view at once (a pod became ready: added; a pod failed its
probe, exited or is being deleted: removed). Each change reaches the proxy only after a
propagation delay drawn from a seeded rng, which is what kube-proxy's asynchronous sync looks
like from outside. Changes for one pod are applied in the order they were made, so a quick
remove-then-add can never leave the proxy with the older state.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from harness.backends.base import EventSink
from harness.backends.embedded.proxy import Endpoint, ServiceProxy
from harness.timeline import EventKind, TimelineEvent


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
    ) -> None:
        self._proxy = proxy
        self._delay = delay
        self._emit = emit
        self._on_change = on_change
        self.controller: dict[str, Endpoint] = {}
        self._pending: dict[str, int] = {}  # pod → changes not yet applied by the proxy
        self._last_apply_at: dict[str, float] = {}  # pod → loop time of its latest scheduled apply
        self._handles: set[asyncio.TimerHandle] = set()

    def add(self, endpoint: Endpoint) -> None:
        """The pod became ready (and is not terminating): it joins the endpoints."""
        if self.controller.get(endpoint.pod) == endpoint:
            return
        self.controller[endpoint.pod] = endpoint
        self._emit(
            TimelineEvent(
                time.time(),
                EventKind.ENDPOINT_ADDED,
                endpoint.pod,
                {"host": endpoint.host, "port": endpoint.port},
            )
        )
        self._schedule(endpoint.pod, endpoint)

    def remove(self, pod: str, reason: str) -> None:
        """The pod is deleted, not ready, or gone: it leaves the endpoints."""
        if self.controller.pop(pod, None) is None:
            return
        self._emit(TimelineEvent(time.time(), EventKind.ENDPOINT_REMOVED, pod, {"reason": reason}))
        self._schedule(pod, None)

    @property
    def in_sync(self) -> bool:
        """Every change has reached the proxy, and both views agree."""
        return not self._pending and self._proxy.view == self.controller

    def _schedule(self, pod: str, endpoint: Endpoint | None) -> None:
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
