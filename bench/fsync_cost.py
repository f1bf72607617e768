"""What the run folder's fsyncs cost on a default embedded run (``harness run --backend embedded``).

    python -m bench.fsync_cost

Runs the harness in this process with ``os.fsync`` timed, writing to a temporary folder, and
prints how many fsyncs there were, their total and longest time against the run's wall time, and
each one with the file it synced. They are per file the run finished (README.md, "When a run is
cut short"), never per record: the count does not grow with the traffic.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli import main as harness_main

if TYPE_CHECKING:
    from _typeshed import HasFileno


def main() -> None:
    calls: list[tuple[float, str]] = []
    real = os.fsync

    def timed(fd: int | HasFileno) -> None:
        number = fd if isinstance(fd, int) else fd.fileno()
        start = time.perf_counter()
        try:
            real(number)
        finally:
            calls.append((time.perf_counter() - start, os.readlink(f"/proc/self/fd/{number}")))

    out = Path(tempfile.mkdtemp(prefix="bench-fsync-"))
    os.fsync = timed
    try:
        start = time.perf_counter()
        code = harness_main(["run", "--backend", "embedded", "--out", str(out), "--quiet"])
        wall = time.perf_counter() - start
    finally:
        os.fsync = real
        shutil.rmtree(out, ignore_errors=True)
    total = sum(took for took, _ in calls)
    longest = max((took for took, _ in calls), default=0.0)
    print(
        f"exit code {code}; wall {wall:.1f} s; {len(calls)} fsyncs, total {total * 1000:.1f} ms "
        f"({total / wall:.2%} of the wall time), longest {longest * 1000:.1f} ms"
    )
    for took, path in calls:
        print(f"  {took * 1000:7.2f} ms  {Path(path).name or path}")


if __name__ == "__main__":
    main()
