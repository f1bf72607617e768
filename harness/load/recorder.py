"""The request-record writer that runs inside the locust process, on every request.

Cheap on purpose (locust's requests/s with it must stay >= 90 % of without): the line is one
f-string with the fields in ``RequestRecord`` order, and ``json.dumps`` runs only for strings,
cached for the few that repeat (names, pods, classes). Each line goes to the kernel with one
``os.write`` on an ``O_APPEND`` descriptor: no user-space buffer, so a SIGKILL of locust loses no
completed line, and a line can only be torn if the machine itself dies mid-write.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# Distinct names/pods/messages are few; the bound only keeps a pathological run (a message with a
# changing URL in it) from growing the cache without end.
_CACHE_LIMIT = 4096
_MESSAGE_LIMIT = 300


class LineFile:
    """Appends whole lines to a file with one write(2) each; safe to use from greenlets."""

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
        self.write_line(json.dumps(obj, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class RecordFormatter:
    """Formats one ``RequestRecord`` line from the values locust reports."""

    def __init__(self) -> None:
        self._json: dict[str | None, str] = {None: "null"}

    def quoted(self, text: str | None) -> str:
        try:
            return self._json[text]
        except KeyError:
            encoded = json.dumps(text)
            if len(self._json) < _CACHE_LIMIT:
                self._json[text] = encoded
            return encoded

    def line(
        self,
        start: float,
        latency_ms: float,
        name: str,
        status: int,
        size: int,
        pod: str | None,
        error: str | None,
        message: str | None,
    ) -> str:
        end = start + latency_ms / 1000.0
        msg = "null" if message is None else json.dumps(message[:_MESSAGE_LIMIT])
        return (
            f'{{"start":{start:.6f},"end":{end:.6f},"latency_ms":{latency_ms:.3f},'
            f'"name":{self.quoted(name)},"status":{status},"bytes":{size},'
            f'"pod":{self.quoted(pod)},"error":{self.quoted(error)},"message":{msg}}}\n'
        )
