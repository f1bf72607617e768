"""A run folder in use: a lock its run's process holds while it runs.

The lock is ``flock`` on ``.running``: the kernel drops it when the process ends, however it
ends, so a killed run never looks alive and ``harness report`` can tell a run still going from
one that was killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from harness import runfolder


@contextlib.contextmanager
def running(run_dir: Path) -> Iterator[None]:
    """Marks the run folder as in use while the run goes on."""
    path = run_dir / runfolder.RUN_LOCK
    with path.open("w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def running_pid(run_dir: Path) -> int | None:
    """The process of a run still going on in ``run_dir`` (0 if it cannot tell which); None when
    no run holds the folder."""
    try:
        handle = (run_dir / runfolder.RUN_LOCK).open("r", encoding="utf-8")
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else 0
    return None
