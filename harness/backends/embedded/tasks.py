"""The backend's work on the event loop: the tasks it owns, and the signal its waits sleep on.

Pods, kill sequences and probes run as tasks the backend keeps (teardown cancels them all); a
wait for a state (deployed, settled, a rollout step) sleeps until something changes or its
deadline passes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from harness.errors import BackendError

log = logging.getLogger(__name__)


async def wait_event(event: asyncio.Event, timeout_s: float) -> None:
    """Waits until ``event`` is set or ``timeout_s`` passes.

    Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancel of the caller that arrives
    as the wait ends, and a run that is being stopped must stop.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout_s)
    finally:
        waiter.cancel()


class Tasks:
    """Background tasks kept until they end; a failure is logged, as nobody awaits them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def cancel(self) -> list[asyncio.Task[Any]]:
        """Cancels every task; returns them, to be awaited."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("embedded backend task failed", exc_info=task.exception())


class Changes:
    """Wakes every waiter at each change of the pods or the endpoints."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, deadline: float, what: str, describe: Callable[[], str]) -> None:
        """Until the next change; BackendError naming ``what`` and the state once past deadline."""
        changed = self._changed
        left = deadline - time.monotonic()
        if left <= 0:
            raise BackendError(f"embedded {what} timed out: {describe()}")
        await wait_event(changed, left)
