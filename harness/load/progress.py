"""Live counts from records files that are still growing, for the progress line.

The rows come from ``harness.records.RecordTail``, which reads only what was appended since the
last call; with one file (one locust process) it keeps them in the records' rows file for the
analysis. Several workers' files are joined when the order ends, and the joined file is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.records import RecordTail


@dataclass(frozen=True)
class LoadStats:
    requests: int
    failed: int
    errors: dict[str, int] = field(default_factory=dict)  # error class -> count


class LoadCounter:
    """Counts the records appended to ``paths`` so far; cheap to call every second."""

    def __init__(self, paths: list[Path]) -> None:
        keep = len(paths) == 1  # the analysis reads them back
        self._tails = [RecordTail(path, keep_rows=keep) for path in paths]
        self._requests = 0
        self._errors: dict[str, int] = {}

    def poll(self) -> LoadStats:
        for tail in self._tails:
            for _end, _latency_ms, _pod, error in tail.new_rows():
                self._requests += 1
                if error is not None:
                    self._errors[error] = self._errors.get(error, 0) + 1
        return LoadStats(self._requests, sum(self._errors.values()), dict(self._errors))


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
