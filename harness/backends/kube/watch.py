"""A list-then-watch loop in its own thread, reading raw JSON and surviving reconnects.

``list_fn`` is a generated list method (``CoreV1Api.list_namespaced_pod``, or a
``functools.partial`` of ``CustomObjectsApi.list_namespaced_custom_object``) with its namespace
and selectors bound. The loop lists once (``on_sync`` gets every object: the state at the
start), then watches from that resourceVersion (``on_event`` gets each change with the time it
arrived). A dropped stream resumes from the last resourceVersion seen; an expired one (410
Gone) lists again, so ``on_sync`` must reconcile rather than assume an empty start. Connection
failures back off as retry.py's policy does and log a warning; an error a retry cannot fix
(403, 404) logs once and ends the watch.

``stop()`` ends it promptly: it also shuts the open HTTP response down, which unblocks the read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from harness.backends.kube.retry import (
    DEFAULT_POLICY,
    RetryPolicy,
    describe,
    is_retryable,
    retry_wait,
)

log = logging.getLogger(__name__)

OnSync = Callable[[list[dict[str, Any]], float], None]
OnEvent = Callable[[str, dict[str, Any], float], None]

WATCH_TIMEOUT_S = 240  # the server ends a watch after this; it is resumed at once
LIST_TIMEOUT_S = 30.0


def iter_lines(response: Any) -> Iterator[bytes]:
    """The lines of a streamed HTTP body, each as soon as its newline arrives."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=True):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            yield line
    if pending:
        yield pending


class _Gone(Exception):
    """The watch's resourceVersion has expired: list again."""


class StreamThread:
    """A daemon thread that reads one HTTP stream; stop() shuts the stream so a blocked read ends.

    Subclasses implement ``_run`` and read each stream they open inside ``self._reading``, which
    keeps it where stop() can reach it. ``name`` says which stream in logs (the thread is
    ``<thread_prefix>-<name>``); reconnecting backs off as ``policy`` says.
    """

    join_s = 5.0  # how long stop() waits for the thread by default
    thread_prefix = "stream"  # what kind of stream the thread reads, in its name

    def __init__(self, name: str, policy: RetryPolicy) -> None:
        self.name = name
        self._policy = policy
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._response: Any = None
        self._thread = threading.Thread(
            target=self._run, name=f"{self.thread_prefix}-{name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, join_s: float | None = None) -> None:
        self._stop.set()
        with self._lock:
            response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(self.join_s if join_s is None else join_s)

    def _run(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def _reading(self, response: Any) -> Iterator[Any]:
        """Keeps ``response`` where stop() can shut it while it is read; releases it after."""
        with self._lock:
            self._response = response
        if self._stop.is_set():
            # stop() ran between the call and the assignment: it could not shut this one.
            with contextlib.suppress(Exception):
                response.shutdown()
        try:
            yield response
        finally:
            with self._lock:
                self._response = None
            with contextlib.suppress(Exception):
                response.release_conn()


class Watcher(StreamThread):
    thread_prefix = "watch"

    def __init__(
        self,
        name: str,
        list_fn: Callable[..., Any],
        on_sync: OnSync,
        on_event: OnEvent,
        policy: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        super().__init__(name, policy)
        self._list_fn = list_fn
        self._on_sync = on_sync
        self._on_event = on_event
        # The last resourceVersion seen: a dropped stream resumes from it (None: list again).
        self._version: str | None = None
        self.synced = threading.Event()  # set after the first list was delivered
        self.failed: str | None = None  # why the watch ended for good, if it did

    # ----- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if self._version is None:
                    self._version = self._list()
                    self.synced.set()
                self._watch()
                failures = 0
            except _Gone:
                self._version = None
            except Exception as exc:
                if self._stop.is_set():
                    break
                if not is_retryable(exc):
                    self.failed = describe(exc)
                    log.warning("watch %s stopped: %s", self.name, self.failed)
                    self.synced.set()
                    return
                failures += 1
                delay = retry_wait(self._policy, failures)
                log.warning(
                    "watch %s interrupted (%s); reconnecting in %.1f s",
                    self.name,
                    describe(exc),
                    delay,
                )
                self._stop.wait(delay)

    def _list(self) -> str:
        response = self._list_fn(_preload_content=False, _request_timeout=LIST_TIMEOUT_S)
        try:
            body = json.loads(response.data or b"{}")
        finally:
            response.release_conn()
        observed = time.time()
        items = [i for i in body.get("items") or [] if isinstance(i, dict)]
        try:
            self._on_sync(items, observed)
        except Exception:
            log.exception("watch %s: handling the list failed", self.name)
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self) -> None:
        response = self._list_fn(
            watch=True,
            resource_version=self._version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_TIMEOUT_S,
            _preload_content=False,
            # A connection that dies without a word would block the read for ever otherwise.
            _request_timeout=(LIST_TIMEOUT_S, WATCH_TIMEOUT_S + 30.0),
        )
        with self._reading(response):
            for line in iter_lines(response):
                if self._stop.is_set():
                    break
                if not line.strip():
                    continue
                observed = time.time()
                try:
                    event = json.loads(line)
                except ValueError:
                    # A line cut by a dropped connection: resume from the last good version.
                    raise ConnectionError("watch stream cut mid-line") from None
                kind = str(event.get("type") or "")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone()
                    # Any other error status from the server: treat as a dropped stream.
                    raise ConnectionError(f"watch error: {obj.get('message') or obj}")
                new_version = (obj.get("metadata") or {}).get("resourceVersion")
                if new_version:
                    self._version = str(new_version)
                if kind == "BOOKMARK":
                    continue
                try:
                    self._on_event(kind, obj, observed)
                except Exception:
                    # A bug in a handler must not end the watch: log it and go on.
                    log.exception("watch %s: handling a %s event failed", self.name, kind)
