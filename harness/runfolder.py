"""The run folder: where a run's files live and how they are named (the only place that knows)."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.durable import write_bytes_durably
from harness.errors import UsageError, WriteError

SUMMARY = "summary.json"
RUN_JOURNAL = "run.json"  # written when a run starts: what is needed to summarise it later
RUN_LOCK = ".running"  # locked by the run's process while it runs (journal.running)
MISSING_NOTES = ".missing"  # what the run could not write, in space reserved at its start
REPORT = "report.html"
JUNIT = "junit.xml"
SCHEMA_VERSION = 1


def records_name(order: str) -> str:
    return f"records-{order}.jsonl"


def timeline_name(order: str) -> str:
    return f"timeline-{order}.jsonl"


def pods_name(order: str) -> str:
    return f"pods-{order}.jsonl"


def clocks_name(order: str) -> str:
    """The load nodes' clock offsets of an order (traffic.from: cluster; harness.load.clocks)."""
    return f"clocks-{order}.json"


def worker_file(path: Path, worker: int) -> Path:
    """A file's counterpart for one load worker (traffic.workers > 1): ``records-x.jsonl`` ->
    ``records-x.w1.jsonl``, ``locust-x.log`` -> ``locust-x.w1.log``."""
    return path.with_name(f"{path.stem}.w{worker}{path.suffix}")


def new_run_dir(out: Path) -> Path:
    """A fresh folder under ``out``, named by UTC time; a suffix keeps two runs in the same second
    apart. An ``out`` that cannot hold it (under /proc or /sys, below a file, read-only, not
    writable) is a ``UsageError`` naming it: one line, before anything starts."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = out.absolute()  # every file of the run derives from this, and children change folder
    try:
        out.mkdir(parents=True, exist_ok=True)
        for n in range(100):
            candidate = out / (stamp if n == 0 else f"{stamp}-{n}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return candidate
    except OSError as exc:
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            raise UsageError(f"--out {out}: not a folder (a file is in the way)") from None
        raise UsageError(f"--out {out}: cannot create a run folder there: {_why(exc)}") from None
    raise UsageError(f"--out {out}: cannot create a run folder there (100 taken this second)")


def check_writable(run_dir: Path) -> None:
    """Proves a new run folder takes files (read-only mounts, /proc and /sys let a folder exist or
    refuse late): ``UsageError`` if a small file cannot be written, synced and removed."""
    probe = run_dir / "probe"
    try:
        write_bytes_durably(probe, b"drainlab\n")
        probe.unlink()
    except (OSError, WriteError) as exc:
        why = exc.reason if isinstance(exc, WriteError) else _why(exc)
        raise UsageError(f"--out {run_dir.parent}: cannot write in it: {why}") from None


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Writes via a fsynced temp file and rename, so a reader never sees half a summary and a
    crash leaves the old file or the new one; ``WriteError`` if the disk refuses."""
    write_bytes_durably(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("drainlab", "aiohttp", "locust", "kubernetes"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
