"""JSON Lines files: appending one object per line, and reading them back past a torn last line.

The run's files (records, timeline, pods, the load status) are all appended to while the run
goes on, so a crash loses at most the line being written; the reader skips such a line instead
of failing. What a line of a given file holds is the business of that file's owner
(``harness.records`` for request records, ``harness.timeline`` for timeline events).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.durable import sync_dir, sync_file, write_all
from harness.errors import WriteError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


def dumps_line(obj: dict[str, Any]) -> str:
    """One compact JSON object and its newline: the form every writer here uses."""
    return json.dumps(obj, separators=(",", ":")) + "\n"


class JsonlWriter:
    """Appends one JSON object per line, each with one write(2) on an ``O_APPEND`` descriptor (no
    user-space buffer: a SIGKILL loses no completed line); safe to share between threads.

    A failed write (a full disk, an I/O error) raises ``WriteError`` naming the file. The writer
    then stops writing, since a torn line must not glue onto the next, and counts every later
    object as ``lost``, raising again: nothing is dropped silently. ``close`` fsyncs the file
    (and, for a file it created, its folder): a finished file survives the machine going down.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._created = not path.exists()
            self._fd: int | None = os.open(path, _APPEND, 0o644)
        except OSError as exc:
            raise WriteError(path, exc) from None
        self._lock = threading.Lock()
        self.count = 0
        self.lost = 0
        self.failure: WriteError | None = None

    def write(self, obj: DataclassInstance | dict[str, Any]) -> None:
        """``obj``: a dict, or a dataclass instance (written as its fields in order)."""
        data = dumps_line(obj if isinstance(obj, dict) else asdict(obj)).encode()
        with self._lock:
            if self.failure is None and self._fd is not None:
                try:
                    write_all(self._fd, data, self.path)
                    self.count += 1
                    return
                except WriteError as exc:
                    self.failure = exc
            self.lost += 1
            raise self.failure or WriteError(self.path, "written after it was closed")

    def close(self) -> None:
        """Closes the file, fsynced unless a write already failed; ``WriteError`` if the fsync
        fails (the file is closed either way)."""
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                if self.failure is None:
                    sync_file(fd, self.path)
            finally:
                os.close(fd)
            if self.failure is None and self._created:
                sync_dir(self.path.parent)

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LineFile:
    """Appends whole lines, each call with one write(2) on an ``O_APPEND`` descriptor: no
    user-space buffer, so a SIGKILL of the writer loses no line it was given. Safe to use from
    greenlets.

    A failed write raises ``WriteError``; with ``on_failure`` it is handed to that callback
    instead, once, and later lines are counted as ``lost`` (the writer stops: a torn line must
    not glue onto the next)."""

    def __init__(self, path: Path, on_failure: Callable[[WriteError], None] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd: int | None = os.open(path, _APPEND, 0o644)
        self._on_failure = on_failure
        self.failure: WriteError | None = None
        self.count = 0
        self.lost = 0

    def write_line(self, line: str) -> None:
        self.write_lines(line, 1)

    def write_lines(self, text: str, lines: int) -> None:
        """``text``: ``lines`` whole lines, written with one write(2) and counted as ``lines``
        (in ``count``, or in ``lost`` when the write fails)."""
        if self._fd is None:
            return  # closed at shutdown; a straggler greenlet must not crash the listener
        if self.failure is not None:
            self.lost += lines
            return
        data = text.encode()
        try:
            # One write(2): the hot path (inside locust). The rest of a short write goes the long
            # way, which names the error.
            written = os.write(self._fd, data)
            if written != len(data):
                write_all(self._fd, data[written:], self.path)
        except OSError as exc:
            self._failed(WriteError(self.path, exc), lines)
            return
        except WriteError as exc:
            self._failed(exc, lines)
            return
        self.count += lines

    def _failed(self, failure: WriteError, lines: int) -> None:
        if self._on_failure is None:
            raise failure
        self.failure = failure
        self.lost += lines
        self._on_failure(failure)

    def write_obj(self, obj: dict[str, Any]) -> None:
        self.write_line(dumps_line(obj))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yields each complete JSON line; a torn or garbled line (a crash mid-write) is skipped."""
    with path.open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                data = json.loads(line.decode("utf-8"))
            except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
                continue
            if isinstance(data, dict):
                yield data
