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
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def dumps_line(obj: dict[str, Any]) -> str:
    """One compact JSON object and its newline: the form every writer here uses."""
    return json.dumps(obj, separators=(",", ":")) + "\n"


class JsonlWriter:
    """Appends one JSON object per line and flushes it at once; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        self.count = 0

    def write(self, obj: DataclassInstance | dict[str, Any]) -> None:
        """``obj``: a dict, or a dataclass instance (written as its fields in order)."""
        line = dumps_line(obj if isinstance(obj, dict) else asdict(obj))
        with self._lock:
            self._file.write(line)
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LineFile:
    """Appends whole lines with one write(2) each on an ``O_APPEND`` descriptor: no user-space
    buffer, so a SIGKILL of the writer loses no completed line. Safe to use from greenlets."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.count = 0

    def write_line(self, line: str) -> None:
        if self._fd is None:
            return  # closed at shutdown; a straggler greenlet must not crash the listener
        os.write(self._fd, line.encode())
        self.count += 1

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
