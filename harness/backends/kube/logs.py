"""Following one container's log from its start, in a thread, line by line as it is written.

A follow stream is opened as soon as the pod watch sees the container running, so the lines of
its shutdown arrive while it happens and are not lost when the container dies and the pod is
removed. The stream ends when the container ends. If it breaks while the same container
instance still runs, it is reopened and the lines already read are skipped (the log of one
container instance only grows, and the API serves it from its start).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.backends.kube.retry import DEFAULT_POLICY, RetryPolicy, describe, retry_wait, status_of
from harness.backends.kube.watch import StreamThread, iter_lines

log = logging.getLogger(__name__)

OpenStream = Callable[[], Any]  # opens the follow stream (an urllib3 response)
OnLine = Callable[[str, float], None]  # a line of the log, and when it arrived
StillRunning = Callable[[], bool]  # the same container instance is still running

WAITING_FOR_START_S = 60.0  # how long "container is waiting to start" answers are retried
MAX_FAILURES = 20  # broken streams in a row before giving up on a container that still runs
CONTAINER_ENDED = "is terminated"  # the API's 400 for following the log of an ended container


class LogFollower(StreamThread):
    join_s = 2.0
    thread_prefix = "log"

    def __init__(
        self,
        label: str,
        open_stream: OpenStream,
        on_line: OnLine,
        still_running: StillRunning,
        policy: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        super().__init__(label, policy)
        self._open = open_stream
        self._on_line = on_line
        self._still_running = still_running
        self.lines = 0
        self.done = threading.Event()

    def _run(self) -> None:
        try:
            self._follow()
        finally:
            self.done.set()

    def _follow(self) -> None:
        failures = 0
        started = time.monotonic()
        while not self._stop.is_set():
            try:
                self._read_once()
            except Exception as exc:
                if self._stop.is_set():
                    return
                status = status_of(exc)
                if status == 404:
                    return  # the pod is gone
                if status == 400 and CONTAINER_ENDED in describe(exc):
                    # Reopened as the container ended, before the pod watch said so: the log
                    # already read is the whole log.
                    return
                # 400 "container ... is waiting to start": it was seen running, so this is a
                # short race; retry a while.
                waiting = status == 400 and time.monotonic() - started < WAITING_FOR_START_S
                if status is not None and status < 500 and status != 429 and not waiting:
                    log.warning("log of %s: %s", self.name, describe(exc))
                    return
                if not waiting and not self._still_running():
                    return  # the stream broke as the container ended: nothing more to read
                failures += 1
                if failures > MAX_FAILURES:
                    log.warning("log of %s: giving up: %s", self.name, describe(exc))
                    return
                self._stop.wait(retry_wait(self._policy, failures))
                continue
            # The stream ended: normally because the container did. Reopen only if it still runs.
            if not self._still_running():
                return
            failures = 0
            self._stop.wait(retry_wait(self._policy, failures))

    def _read_once(self) -> None:
        response = self._open()
        skip = self.lines
        with self._reading(response):
            for raw in iter_lines(response):
                if self._stop.is_set():
                    return
                if skip > 0:
                    skip -= 1  # read before the stream broke
                    continue
                self.lines += 1
                arrived = time.time()
                try:
                    self._on_line(raw.decode("utf-8", errors="replace"), arrived)
                except Exception:
                    log.exception("log of %s: handling a line failed", self.name)
