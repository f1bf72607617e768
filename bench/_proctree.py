"""What /proc says about a process and its descendants: memory, open files, threads.

Linux only, read-only, no third-party package: the soak benchmark samples the harness with it
every few seconds, so a sample is a handful of small reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcSample:
    """One process at one moment; None fields: the process was gone before they were read."""

    pid: int
    rss_kib: int | None
    threads: int | None
    fds: int | None  # every open descriptor
    sockets: int | None  # of those, sockets
    cpu_s: float | None = None  # CPU seconds used so far (user + system)


def sample(pid: int, proc: Path = PROC) -> ProcSample:
    status = _status_fields(proc / str(pid) / "status")
    fd_dir = proc / str(pid) / "fd"
    fds: int | None = None
    sockets: int | None = None
    try:
        names = os.listdir(fd_dir)
    except OSError:  # gone, or not ours to look at
        names = None
    if names is not None:
        # Counted from the links read, not the listing: under connection churn many descriptors
        # close between the two, and would count as open non-sockets.
        fds, sockets = 0, 0
        for name in names:
            try:
                target = os.readlink(fd_dir / name)
            except OSError:  # closed since the listing
                continue
            fds += 1
            sockets += target.startswith("socket:")
    rss, threads = _kib(status.get("VmRSS")), _int(status.get("Threads"))
    return ProcSample(pid, rss, threads, fds, sockets, _cpu_s(proc / str(pid) / "stat"))


def descendants(pid: int, proc: Path = PROC) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), by parent pid."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        parent = _parent(entry / "stat")
        if parent is not None:
            children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def cmdline(pid: int, proc: Path = PROC) -> list[str]:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def load_average(proc: Path = PROC) -> float:
    """The machine's 1-minute load average."""
    return float((proc / "loadavg").read_text().split()[0])


def _stat_fields(stat_path: Path) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on; empty when the process is gone."""
    try:
        text = stat_path.read_text()
    except OSError:
        return []
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after the
    # last ')'.
    return text[text.rfind(")") + 2 :].split()


def _parent(stat_path: Path) -> int | None:
    fields = _stat_fields(stat_path)
    return int(fields[1]) if len(fields) > 1 else None  # field 4: ppid


def _cpu_s(stat_path: Path) -> float | None:
    fields = _stat_fields(stat_path)
    if len(fields) < 13:
        return None
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15: utime, stime
    return ticks / _TICKS_PER_S


def _status_fields(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _kib(value: str | None) -> int | None:
    return None if value is None else int(value.split()[0])  # "12345 kB"


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)
