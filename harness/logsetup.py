"""Where the harness's log records go during a run: warnings to the terminal, everything to a file.

Library code only calls ``logging.getLogger(__name__)``; this module decides where that ends up.
Retries of Kubernetes API calls, reconnected watches and similar hiccups are warnings: the user
sees them as they happen (through the Console, so a live progress line is not garbled) and the
run folder keeps every record with its time in ``logs/harness.log``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from harness.console import Console

ROOT_LOGGER = "harness"
RUN_LOG = "harness.log"


class ConsoleHandler(logging.Handler):
    """Warnings and errors, one line each, through the Console."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message = f"{message}: {record.exc_info[1]!r}"
            self._console.warn(" ".join(message.split()))
        except Exception:  # logging must never break the run
            self.handleError(record)


def log_to_console(console: Console) -> None:
    """Routes the harness's warnings through ``console`` (instead of Python's bare fallback)."""
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
        logger.removeHandler(handler)
    logger.addHandler(ConsoleHandler(console))
    logger.setLevel(logging.INFO)


class RunLogHandler(logging.FileHandler):
    """The run's log file. A write the disk refuses is said once (a warning on the terminal,
    through the other handlers), then the file is left alone: logging's default would print a
    traceback for every record that follows."""

    failure: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.failure is None:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if self.failure is not None or not isinstance(exc, OSError):
            super().handleError(record)
            return
        self.failure = exc.strerror or str(exc)
        logging.getLogger(ROOT_LOGGER).warning(
            "cannot write %s: %s; the harness log goes on on the terminal only",
            self.baseFilename,
            self.failure,
        )

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # the buffered lines a full disk refused; said once above
            if self.failure is None:
                raise


@contextlib.contextmanager
def run_log(log_dir: Path) -> Iterator[Path]:
    """Every harness log record of INFO and above, with its time, in ``log_dir/harness.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / RUN_LOG
    handler = RunLogHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(
        logging.Formatter("%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    logger = logging.getLogger(ROOT_LOGGER)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        handler.close()
