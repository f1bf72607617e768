"""Terminal output: status lines, and a live progress line that redraws on a TTY.

On a terminal the progress line is redrawn in place; in CI logs (no TTY) it is printed as a plain
line at most every ``plain_interval_s`` so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Console:
    def __init__(
        self, stream: TextIO | None = None, *, quiet: bool = False, plain_interval_s: float = 5.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self.plain_interval_s = plain_interval_s
        self._last_plain = 0.0
        self._live = False

    def info(self, message: str) -> None:
        if not self.quiet:
            self._end_live()
            print(message, file=self.stream, flush=True)

    def warn(self, message: str) -> None:
        self._end_live()
        print(f"warning: {message}", file=self.stream, flush=True)

    def progress(self, line: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
            self._live = True
            return
        now = time.monotonic()
        if now - self._last_plain >= self.plain_interval_s:
            self._last_plain = now
            print(line, file=self.stream, flush=True)

    def done(self) -> None:
        self._end_live()

    def _end_live(self) -> None:
        if self._live:
            self.stream.write("\n")
            self.stream.flush()
            self._live = False
