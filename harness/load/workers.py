"""How many locust processes send the load (``traffic.workers``), and the names of their files.

One locust process is one core (gevent): on a 2-core machine it tops out near half of what a
loopback client such as wrk gets from the same server. ``traffic.workers: N`` runs locust's own
distributed mode instead: a master that only coordinates and N worker processes that send the
requests, each recording its own (harness.load.runner starts them, harness.records joins their
files). ``auto`` is one worker per core; 1 (the default) is the single process of before.

The locust process imports this module: nothing from asyncio or the analysis here.
"""

from __future__ import annotations

import os

AUTO = "auto"
MAX_WORKERS = 64  # more than any one machine here needs; a typo (200) is one line, not a fork bomb


def workers_problem(value: str) -> str | None:
    """The one-line problem of a ``traffic.workers`` value, or None."""
    if value == AUTO:
        return None
    try:
        count = int(value)
    except ValueError:
        return f"traffic.workers: expected a whole number or {AUTO}, got {value!r}"
    if not 1 <= count <= MAX_WORKERS:
        return f"traffic.workers: {count} is outside 1..{MAX_WORKERS}"
    return None


def cores() -> int:
    """The cores this process may run on (a cgroup or taskset can give fewer than the machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def worker_count(value: str) -> int:
    """The number of worker processes ``value`` asks for (``auto``: one per core)."""
    return cores() if value == AUTO else int(value)


def oversubscribed(count: int) -> str | None:
    """The warning for more workers on this machine than it has cores (allowed: one may want to
    see what that does), None otherwise."""
    have = cores()
    if count <= have:
        return None
    return (
        f"traffic.workers: {count} load workers on {have} cores: they compete for the CPU, "
        "and the load may measure this machine rather than the service"
    )
