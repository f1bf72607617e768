"""The watch loop and the log follower against scripted API answers (no cluster needed).

A fake list function answers like the API server's HTTP layer does with
``_preload_content=False``: a list body, or a stream of watch lines, or a dropped connection.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3.exceptions

from harness.backends.kube.logs import LogFollower
from harness.backends.kube.retry import RetryPolicy
from harness.backends.kube.watch import Watcher, iter_lines

FAST = RetryPolicy(attempts=3, initial_s=0.01, max_s=0.02, jitter_s=0.0)


class FakeResponse:
    def __init__(self, data: bytes = b"", chunks: list[bytes] | None = None, fail: bool = False):
        self.data = data
        self._chunks = chunks or []
        self._fail = fail
        self.closed = threading.Event()

    def stream(self, amt: Any = None, decode_content: bool = True) -> Iterator[bytes]:
        yield from self._chunks
        if self._fail:
            raise urllib3.exceptions.ProtocolError("Response ended prematurely")

    def release_conn(self) -> None:
        pass

    def shutdown(self) -> None:
        self.closed.set()


class Blocking(FakeResponse):
    """A watch that stays open until shut down, as a quiet real one does."""

    def stream(self, amt: Any = None, decode_content: bool = True) -> Iterator[bytes]:
        self.closed.wait(10)
        return iter(())


def _line(kind: str, name: str, version: str, **extra: Any) -> bytes:
    obj = {"metadata": {"name": name, "resourceVersion": version}, **extra}
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def test_iter_lines_joins_chunks_split_anywhere() -> None:
    response = FakeResponse(chunks=[b'{"a":', b"1}\n{", b'"b":2}\n', b"tail"])
    assert list(iter_lines(response)) == [b'{"a":1}', b'{"b":2}', b"tail"]


def test_list_then_watch_resume_after_a_drop_relist_after_410_then_stop() -> None:
    calls: list[dict[str, Any]] = []
    blocking = Blocking()
    script: list[FakeResponse] = [
        FakeResponse(
            data=json.dumps({"metadata": {"resourceVersion": "10"}, "items": []}).encode()
        ),
        # First watch: two changes, then the connection drops mid-stream.
        FakeResponse(chunks=[_line("ADDED", "a", "11"), _line("MODIFIED", "a", "12")], fail=True),
        # Resumed from 12: the version is too old now.
        FakeResponse(
            chunks=[
                json.dumps(
                    {"type": "ERROR", "object": {"code": 410, "message": "too old"}}
                ).encode()
                + b"\n"
            ]
        ),
        # Relist, then a quiet watch that only ends when stopped.
        FakeResponse(
            data=json.dumps(
                {"metadata": {"resourceVersion": "20"}, "items": [{"metadata": {"name": "a"}}]}
            ).encode()
        ),
        blocking,
    ]

    def list_fn(**kwargs: Any) -> FakeResponse:
        calls.append(kwargs)
        return script.pop(0)

    synced: list[tuple[int, float]] = []
    changes: list[tuple[str, str]] = []
    watcher = Watcher(
        "pods",
        list_fn,
        lambda items, observed: synced.append((len(items), observed)),
        lambda kind, obj, observed: changes.append((kind, obj["metadata"]["name"])),
        FAST,
    )
    watcher.start()
    deadline = time.monotonic() + 10
    while script and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 2  # the open stream was shut, not waited out
    assert blocking.closed.is_set()
    assert changes == [("ADDED", "a"), ("MODIFIED", "a")]
    assert [n for n, _ in synced] == [0, 1]
    watches = [c.get("resource_version") for c in calls if c.get("watch")]
    assert watches == ["10", "12", "20"]  # resumed from the last version seen, then relisted
    assert all(c.get("allow_watch_bookmarks") for c in calls if c.get("watch"))
    assert watcher.failed is None


def test_an_error_retrying_cannot_fix_ends_the_watch_with_its_reason() -> None:
    from kubernetes.client.exceptions import ApiException

    def list_fn(**kwargs: Any) -> FakeResponse:
        raise ApiException(status=403, reason="Forbidden")

    watcher = Watcher("events", list_fn, lambda i, o: None, lambda k, obj, o: None, FAST)
    watcher.start()
    assert watcher.synced.wait(5)
    watcher.stop()
    assert watcher.failed == "HTTP 403 Forbidden"


def test_a_handler_bug_does_not_end_the_watch() -> None:
    blocking = Blocking()
    script = [
        FakeResponse(data=b'{"metadata": {"resourceVersion": "1"}, "items": []}'),
        FakeResponse(chunks=[_line("ADDED", "bad", "2"), _line("ADDED", "good", "3")]),
        blocking,
    ]
    seen: list[str] = []

    def on_event(kind: str, obj: dict[str, Any], observed: float) -> None:
        if obj["metadata"]["name"] == "bad":
            raise KeyError("boom")
        seen.append(obj["metadata"]["name"])

    watcher = Watcher("pods", lambda **kw: script.pop(0), lambda i, o: None, on_event, FAST)
    watcher.start()
    deadline = time.monotonic() + 5
    while script and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.stop()
    assert seen == ["good"]


def test_a_log_stream_that_breaks_is_reopened_without_repeating_lines() -> None:
    streams = [
        FakeResponse(chunks=[b"one\n", b"two\n"], fail=True),
        FakeResponse(chunks=[b"one\ntwo\nthree\n"]),
    ]
    lines: list[str] = []
    running = [True, False]  # still running when the first stream breaks; ended after the second

    follower = LogFollower(
        "p/app",
        lambda: streams.pop(0),
        lambda line, arrived: lines.append(line),
        lambda: running.pop(0) if running else False,
        FAST,
    )
    follower.start()
    assert follower.done.wait(5)
    assert lines == ["one", "two", "three"]


def test_a_log_of_a_pod_that_is_gone_ends_quietly() -> None:
    from kubernetes.client.exceptions import ApiException

    def gone() -> FakeResponse:
        raise ApiException(status=404, reason="Not Found")

    follower = LogFollower("p/app", gone, lambda line, arrived: None, lambda: True, FAST)
    follower.start()
    assert follower.done.wait(5)
    assert follower.lines == 0


def test_reopening_the_log_of_a_container_that_just_ended_is_its_normal_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The stream ends as the container does; the pod watch may not have seen the end yet, so the
    follower reopens and the API answers 400 "... is terminated": no warning, the log is whole."""
    from kubernetes.client.exceptions import ApiException

    ended = ApiException(status=400, reason="Bad Request")
    ended.body = '{"message": "container \\"app\\" in pod \\"p\\" is terminated"}'
    streams: list[Any] = [FakeResponse(chunks=[b"one\n", b"two\n"]), ended]

    def open_stream() -> FakeResponse:
        item = streams.pop(0)
        if isinstance(item, Exception):
            raise item
        return item  # type: ignore[no-any-return]

    lines: list[str] = []
    follower = LogFollower(
        "p/app", open_stream, lambda line, _: lines.append(line), lambda: True, FAST
    )
    with caplog.at_level(logging.WARNING):
        follower.start()
        assert follower.done.wait(5)
    assert lines == ["one", "two"] and not streams
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
