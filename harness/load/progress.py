"""Live counts from a records file that is still growing, for the progress line.

Reads only the bytes added since the last call and never parses JSON: the locustfile writes the
fields in a fixed order (``harness.load.recorder``), so the error class is the token after
``"error":``. A line without its newline yet (being written) waits for the next call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

_ERROR_KEY = b'"error":'


@dataclass(frozen=True)
class LoadStats:
    requests: int
    failed: int
    errors: dict[str, int] = field(default_factory=dict)  # error class -> count


class RecordTail:
    """Counts the records appended to ``path`` so far; cheap to call every second."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._requests = 0
        self._errors: dict[str, int] = {}

    def poll(self) -> LoadStats:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            chunk = b""
        complete = chunk.rfind(b"\n") + 1
        if complete:
            self._offset += complete
            for line in chunk[:complete].splitlines():
                self._count(line)
        return LoadStats(self._requests, sum(self._errors.values()), dict(self._errors))

    def _count(self, line: bytes) -> None:
        if not line.strip():
            return
        self._requests += 1
        at = line.find(_ERROR_KEY)
        if at < 0:
            return
        value = line[at + len(_ERROR_KEY) :].split(b",", 1)[0].strip(b"}\r\n ")
        if value != b"null":
            name = value.strip(b'"').decode("utf-8", "replace")
            self._errors[name] = self._errors.get(name, 0) + 1


def format_progress(stats: LoadStats, elapsed_s: float, duration_s: float) -> str:
    """One line, e.g. ``load 12.0/20 s  4512 requests  3 failed (0.07%): connection_refused 3``."""
    text = f"load {min(elapsed_s, duration_s):.1f}/{duration_s:g} s  {stats.requests} requests"
    if stats.requests:
        rate = 100.0 * stats.failed / stats.requests
        text += f"  {stats.failed} failed ({rate:.2f}%)"
    else:
        text += "  0 failed"
    if stats.errors:
        top = sorted(stats.errors.items(), key=lambda kv: (-kv[1], kv[0]))
        text += ": " + ", ".join(f"{name} {count}" for name, count in top)
    return text
