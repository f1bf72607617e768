"""Where log records go: warnings to the terminal once each, everything to the run's log file."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from harness.console import Console
from harness.logsetup import log_to_console, run_log


def test_warnings_reach_the_console_as_one_line_and_infos_do_not() -> None:
    stream = io.StringIO()
    log_to_console(Console(stream, quiet=True))
    log_to_console(Console(stream, quiet=True))  # installing twice must not print twice
    logger = logging.getLogger("harness.backends.kube.retry")
    logger.info("connected")
    logger.warning("kube API: %s failed\n(attempt %d of %d)", "delete pod p-1", 1, 5)
    assert stream.getvalue() == "warning: kube API: delete pod p-1 failed (attempt 1 of 5)\n"


def test_the_run_log_keeps_infos_and_warnings_with_their_time(tmp_path: Path) -> None:
    logger = logging.getLogger("harness.run")
    with run_log(tmp_path / "logs") as path:
        logger.info("deployed")
        logger.warning("watch pods interrupted; reconnecting in 0.2 s")
    logger.warning("after the run")  # the file handler is gone by now
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("INFO harness.run: deployed")
    assert "WARNING harness.run: watch pods interrupted" in lines[1]
    assert lines[0][2] == ":" and lines[0][8] == "."  # HH:MM:SS.mmm
