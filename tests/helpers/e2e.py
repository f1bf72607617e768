"""Shared checks for the end-to-end runs: what summary.json and pods-<order>.jsonl must show."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.jsonl import iter_jsonl
from helpers.embedded import processes_with
from helpers.paths import REPO

ROOT = REPO


def run_harness(args: list[str], out: Path, timeout_s: float) -> tuple[Path, dict[str, Any]]:
    """Runs `harness run` to its end; returns the run folder it made and its summary."""
    before = set(out.iterdir()) if out.exists() else set()
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--out", str(out), "--quiet", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and p not in before]
    return run_dir, json.loads((run_dir / "summary.json").read_text())


def pods(run_dir: Path, order: str) -> list[dict[str, Any]]:
    return list(iter_jsonl(run_dir / f"pods-{order}.jsonl"))


def assert_lifecycle_order(rows: list[dict[str, Any]], slack_s: float = 0.0) -> tuple[int, int]:
    """Deleted pods: delete <= SIGTERM <= exit; replacements: created <= ready <= endpoint added.

    ``slack_s`` allows for API timestamps with 1 s resolution on real clusters (the kube backend
    stamps them as upper bounds); the embedded backend's own clock needs none. Returns how many
    deleted pods and replacements were checked, so callers can require some.
    """
    deleted = replaced = 0
    for row in rows:
        if row["delete_requested"] is not None and row["sigterm"] is not None:
            gone = row["exited"] or row["killed"]
            assert gone is not None, row
            assert row["delete_requested"] <= row["sigterm"] <= gone + slack_s, row
            deleted += 1
        if row.get("replaces") and row["ready"] is not None:
            assert row["created"] <= row["ready"] + slack_s, row
            if row["endpoint_added"] is not None:
                assert row["ready"] <= row["endpoint_added"] + slack_s, row
            replaced += 1
    return deleted, replaced


def start_harness(args: list[str], out: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`harness run` in the background, for tests that interrupt it."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--out", str(out), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_recording(
    out: Path, order: str, proc: subprocess.Popen[str], min_bytes: int, timeout_s: float = 90
) -> Path:
    """The run folder, once ``order``'s records file holds ``min_bytes``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        records = list(out.glob(f"*/records-{order}.jsonl"))
        if records and records[0].stat().st_size >= min_bytes:
            return records[0].parent
        time.sleep(0.2)
    raise AssertionError(f"no {min_bytes} bytes of {order} records (harness exit {proc.poll()})")


def interrupted(proc: subprocess.Popen[str], run_dir: Path) -> tuple[str, dict[str, Any]]:
    """Ctrl-C to a running `harness run`: it ends with 130, no traceback, and a partial summary;
    returns its stdout and that summary."""
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["partial"] is True
    return out, summary


def processes_left(marker: str, within_s: float) -> list[int]:
    """Processes still carrying ``marker`` in their environment after up to ``within_s``."""
    deadline = time.monotonic() + within_s
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    return processes_with(marker)


Identity = tuple[int, int]  # (pid, start time in clock ticks): a pid alone may be reused


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 onwards); None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def descendants(pid: int) -> set[Identity]:
    """Every live process below ``pid`` (Linux /proc), whatever its environment."""
    parents: dict[Identity, int] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and fields[0] != "Z":
            parents[(int(entry.name), int(fields[19]))] = int(fields[1])
    found: set[Identity] = set()
    frontier = {pid}
    while frontier:
        new = {child for child, parent in parents.items() if parent in frontier} - found
        found |= new
        frontier = {child_pid for child_pid, _ in new}
    return found


def survivors(processes: set[Identity], within_s: float) -> set[Identity]:
    """Those of ``processes`` still running after up to ``within_s``.

    A process killed a moment ago is not gone at once: while the kernel tears it down its
    /proc/PID/environ is already empty (so it no longer shows a marker) but its state is still
    R or D until it becomes a zombie. Such a process is waited for, not counted; only one that is
    still there at the deadline, with the same start time (not a new process that got the same
    pid), survived.
    """
    deadline = time.monotonic() + within_s
    while True:
        running = set()
        for pid, started in processes:
            fields = _stat(pid)
            if fields is not None and fields[0] not in ("Z", "X") and int(fields[19]) == started:
                running.add((pid, started))
        if not running or time.monotonic() >= deadline:
            return running
        time.sleep(0.1)


def whole_lines(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The rows of a JSONL file its writer may have been killed in the middle of.

    Every line that ends in a newline must be a whole JSON object; only the text after the last
    newline (a write cut short) may be torn. Returns the rows, and whether that text too is a
    whole object (the analysis counts it then).
    """
    *lines, tail = path.read_bytes().split(b"\n")
    rows = [json.loads(line) for line in lines]
    assert all(isinstance(row, dict) for row in rows), path
    try:
        tail_whole = isinstance(json.loads(tail), dict)
    except ValueError:
        tail_whole = False
    return rows, tail_whole
