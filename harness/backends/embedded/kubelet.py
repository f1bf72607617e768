"""The kubelet's side of a pod deletion: preStop, SIGTERM, and SIGKILL when the time is up.

As in ``killContainer`` (pkg/kubelet/kuberuntime): the preStop hook gets the whole grace period
and is abandoned if it is still running when that ends; what is left of the grace period after
the hook is the time between SIGTERM and SIGKILL, but never less than 2 s (the kubelet's
``minimumGracePeriodInSeconds``), so a hook that eats the grace period still leaves the app 2 s.
With a grace period of 0 the hook is skipped.
"""

from __future__ import annotations

import asyncio
import time

from harness.backends.base import EventSink
from harness.backends.embedded.pod import Pod
from harness.timeline import EventKind, TimelineEvent

MIN_STOP_WINDOW_S = 2.0  # the kubelet's minimumGracePeriodInSeconds


async def kill_pod(
    pod: Pod, grace_s: float, prestop_sleep_s: float, started_at: float, emit: EventSink
) -> None:
    """Runs the kill sequence for ``pod``; ``started_at`` is the loop time of the delete call."""
    loop = asyncio.get_running_loop()
    async with pod.spawning:  # a container being spawned right now is the one to stop
        container = pod.container
    if container is None or not container.running:
        return  # between two container starts (crash back-off): nothing to stop
    exited = asyncio.ensure_future(container.wait())
    try:
        if prestop_sleep_s > 0 and grace_s > 0:
            emit(
                TimelineEvent(
                    time.time(), EventKind.PRESTOP_STARTED, pod.name, {"sleep_s": prestop_sleep_s}
                )
            )
            hook_limit = min(prestop_sleep_s, grace_s - (loop.time() - started_at))
            # The hook is a sleep in the container: it ends early if the container does.
            await asyncio.wait({exited}, timeout=max(0.0, hook_limit))
            emit(
                TimelineEvent(
                    time.time(),
                    EventKind.PRESTOP_ENDED,
                    pod.name,
                    {
                        "elapsed_s": round(loop.time() - started_at, 3),
                        # Cut short: by the grace period, or because the container ended.
                        "cut_short": prestop_sleep_s > hook_limit or exited.done(),
                    },
                )
            )
        if not container.running:
            return
        stop_window = max(grace_s - (loop.time() - started_at), MIN_STOP_WINDOW_S)
        sent_at = time.time()  # before the signal: the app may log its reaction before we return
        if container.terminate():
            emit(TimelineEvent(sent_at, EventKind.SIGTERM_SENT, pod.name, {"pid": container.pid}))
        await asyncio.wait({exited}, timeout=stop_window)
        killed_at = time.time()
        if container.running and container.kill():
            emit(
                TimelineEvent(
                    killed_at,
                    EventKind.KILLED,
                    pod.name,
                    {"after_s": round(loop.time() - started_at, 3), "grace_period_s": grace_s},
                )
            )
        await exited
    finally:
        if not exited.done():
            exited.cancel()
            await asyncio.wait({exited})  # never swallows a cancel of this task
