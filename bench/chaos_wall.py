"""Wall time of ``harness run --backend embedded`` with the default scenario, start to report.

    python -m bench.chaos_wall

Runs the harness CLI once in a child process, writing to a temporary folder, and prints the
wall time and the child's CPU time (on a shared machine wall time includes others' turns).
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def harness_cmd(out: Path) -> list[str]:
    exe = Path(sys.executable).with_name("harness")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "harness"]
    return [*base, "run", "--backend", "embedded", "--out", str(out), "--quiet"]


def main() -> None:
    out = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    try:
        cmd = harness_cmd(out)
        print("$ " + " ".join(cmd), flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        code = subprocess.call(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        reports = sorted(p.name for p in out.rglob("*") if p.is_file() and "report" in p.name)
        print(f"exit code {code}; wall {wall:.1f} s; CPU (harness and its children) {cpu:.1f} s")
        print(f"report files: {', '.join(reports) or 'none found'}")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
