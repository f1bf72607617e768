"""The records file of a locust process: the lines of one pass of gevent's loop go out together.

A write(2) per record made recording cost a worker two to three times what the listener's own
code costs (bench/RESULTS.md: 6-10 µs of CPU per request against 2.6-3 µs in a tight loop): the
syscall, and what it displaces in the caches, in the middle of locust's own work. The sink keeps
the lines of the requests that end in one pass of the loop and writes them with one write(2) in
a callback of that pass, which gevent runs before its next poll (``schedule`` is the hub's
``loop.run_callback``).

What a SIGKILL loses stays what it was with a write per record: a user sends its next request
only after its wait, and a wait ends in a later callback or timer than the flush its record
scheduled (callbacks run in order), so each user has either a request in flight or a record not
yet written, never both (tests/load/test_load_runner.py: lost <= users).
"""

from __future__ import annotations

from collections.abc import Callable

from harness.jsonl import LineFile


class RecordSink:
    """Record lines for ``out``, written once per pass of the loop that ``schedule`` runs."""

    def __init__(self, out: LineFile, schedule: Callable[[Callable[[], None]], object]) -> None:
        self._out = out
        self._schedule = schedule
        self._pending: list[str] = []
        self.writes = 0  # write(2) calls made: records per write shows what a pass shares

    def add(self, line: str) -> None:
        """One record line, with its newline: written before the loop polls again."""
        pending = self._pending
        if not pending:
            self._schedule(self.flush)
        pending.append(line)

    def flush(self) -> None:
        """Writes what is pending now (one write(2)); failures go to ``out``'s ``on_failure``."""
        lines, self._pending = self._pending, []
        if lines:
            self.writes += 1
            self._out.write_lines("".join(lines), len(lines))

    def written(self) -> int:
        """Records in the file once what is pending went out."""
        self.flush()
        return self._out.count
