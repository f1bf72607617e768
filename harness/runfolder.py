"""The run folder: where a run's files live and how they are named (the only place that knows)."""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

SUMMARY = "summary.json"
RUN_JOURNAL = "run.json"  # written when a run starts: what is needed to summarise it later
RUN_LOCK = ".running"  # locked by the run's process while it runs (journal.running)
REPORT = "report.html"
JUNIT = "junit.xml"
SCHEMA_VERSION = 1


def records_name(order: str) -> str:
    return f"records-{order}.jsonl"


def timeline_name(order: str) -> str:
    return f"timeline-{order}.jsonl"


def pods_name(order: str) -> str:
    return f"pods-{order}.jsonl"


def new_run_dir(out: Path) -> Path:
    """A fresh folder named by UTC time; a suffix keeps two runs in the same second apart."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = out.absolute()  # every file of the run derives from this, and children change folder
    out.mkdir(parents=True, exist_ok=True)
    for n in range(100):
        candidate = out / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise HarnessError(f"cannot create a run folder under {out}")


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Writes via a temp file and rename, so a reader never sees half a summary."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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
