"""The probes of one container, with the kubelet's semantics (pkg/kubelet/prober/worker.go).

- Each probe runs first ``initial_delay_s`` after the container started, then every ``period_s``
  (a fixed cadence, like the kubelet's ticker: a probe slower than its period runs late).
- **startup**: until it has passed once, readiness and liveness do not run, so the pod stays not
  ready; ``failure_threshold`` consecutive failures kill the container, which is restarted. Once
  passed it never runs again for this container.
- **readiness**: the pod starts not ready; ``success_threshold`` consecutive successes make it
  ready, ``failure_threshold`` consecutive failures not ready again. It goes on while the pod
  terminates, as the kubelet's does; whether that moves the endpoints is the kubelet's business
  (a terminating pod never returns to them).
- **liveness**: ``failure_threshold`` consecutive failures kill the container, which is
  restarted. While the pod terminates, liveness and startup failures do nothing.

Each probe's last answer is kept (``last``), so that a pod that never gets ready can say why.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import KW_ONLY, dataclass, field

from harness.appspec import Probe
from harness.backends.embedded.probe import ProbeResult, http_probe

READINESS, LIVENESS, STARTUP = "readiness", "liveness", "startup"

# (which probe, what it got, whether this failure kills the container)
FailureSink = Callable[[str, ProbeResult, bool], None]


@dataclass(frozen=True)
class Probes:
    """The probes of the app's container (the app's, with the variant's changes)."""

    readiness: Probe
    liveness: Probe | None = None
    startup: Probe | None = None


@dataclass(eq=False)
class ContainerProbes:
    """Runs the probes of one container until it is gone.

    ``started_at``: the loop time of the container's start. ``alive``: whether the container
    still runs; ``terminating``: whether its pod is being deleted. ``on_ready`` gets each change
    of readiness; ``on_failure`` each liveness and startup failure, with whether it is the one
    that kills the container (the caller kills it; probing of this container ends there).
    """

    probes: Probes
    host: str
    app_port: int
    started_at: float
    _: KW_ONLY
    alive: Callable[[], bool]
    terminating: Callable[[], bool]
    on_ready: Callable[[bool], None]
    on_failure: FailureSink
    last: dict[str, ProbeResult] = field(default_factory=dict, init=False)  # last answers
    _started: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    @property
    def startup_passed(self) -> bool:
        return self._started.is_set()

    async def run(self) -> None:
        """Probes until the container is gone (or this task is cancelled)."""
        workers = [self._readiness()]
        if self.probes.liveness is not None:
            workers.append(self._liveness(self.probes.liveness))
        if self.probes.startup is not None:
            workers.append(self._startup(self.probes.startup))
        else:
            self._started.set()
        tasks = [asyncio.ensure_future(worker) for worker in workers]
        try:
            await asyncio.wait(tasks)
        finally:
            for task in tasks:
                task.cancel()
            # asyncio.wait, not gather: a cancel of this task must not be swallowed.
            await asyncio.wait(tasks)

    async def _readiness(self) -> None:
        settings = self.probes.readiness
        await self._started.wait()
        ready = False
        successes = failures = 0
        async for result in self._results(READINESS, settings):
            if result.ok:
                successes, failures = successes + 1, 0
                if not ready and successes >= settings.success_threshold:
                    ready = True
                    self.on_ready(True)
            else:
                successes, failures = 0, failures + 1
                if ready and failures >= settings.failure_threshold:
                    ready = False
                    self.on_ready(False)

    async def _liveness(self, settings: Probe) -> None:
        await self._started.wait()
        await self._until_killed(LIVENESS, settings)

    async def _startup(self, settings: Probe) -> None:
        if await self._until_killed(STARTUP, settings):
            self._started.set()

    async def _until_killed(self, kind: str, settings: Probe) -> bool:
        """Liveness and startup: True at the first success of a startup probe; False once the
        container is gone or killed by failure_threshold consecutive failures."""
        failures = 0
        async for result in self._results(kind, settings):
            if self.terminating():
                continue  # the kubelet ignores these probes on a terminating pod
            if result.ok:
                failures = 0
                if kind == STARTUP:
                    return True
                continue
            failures += 1
            kill = failures >= settings.failure_threshold
            self.on_failure(kind, result, kill)
            if kill:
                return False
        return False

    async def _results(self, kind: str, settings: Probe) -> AsyncIterator[ProbeResult]:
        """Each probe's result, on the probe's cadence, while the container runs."""
        loop = asyncio.get_running_loop()
        port = settings.port if settings.port is not None else self.app_port
        next_at = max(self.started_at + settings.initial_delay_s, loop.time())
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            # Checked on each round: on Python 3.11 a cancel that meets wait_for just as the
            # probe completes is lost, so the loop must also end by itself.
            if not self.alive():
                return
            result = await http_probe(self.host, port, settings.path, settings.timeout_s)
            self.last[kind] = result
            yield result
            next_at = max(next_at + settings.period_s, loop.time())
