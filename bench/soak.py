"""Soak: one long embedded-backend run at a high rate; is the harness's footprint flat?

    python -m bench.soak --duration-s 1200 --users 250

Runs ``harness run --backend embedded`` in a child process with the default scenario, reduced to
one order (``--order``, default graceful) whose traffic lasts ``--duration-s``, and pod
deletions (the default scenario's: a random ready pod every 2 s) from the 3rd second to the
end, so the delete, drain and replace paths run the whole time. Every ``--interval-s`` it samples
from /proc the harness process (RSS, CPU, open files and of those sockets, threads), locust
(RSS, CPU, open files), how many other processes run below the harness (the pods), how many
records were written so far (``harness.records.RecordTail``, the reader the progress line uses)
and the machine's load average.

At the end it prints the samples and checks, with the rule in ``bench/_soakcheck.py``:
- the harness's RSS, open files, sockets, threads and pod processes are flat over the load
  window; locust's RSS too;
- the records in the run's records file, locust's own request count (the summary table in its
  log) and the run's summary.json all give the same number.
Exit code 0 when all hold, 1 when one does not, 2 when the run itself failed.

The run folder goes to a temporary folder, removed at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import _proctree
from bench._soakcheck import (
    Finding,
    Limits,
    Series,
    count_finding,
    enough_samples,
    locust_counts,
    rss_finding,
)
from harness import runfolder
from harness.errors import HarnessError
from harness.records import RecordTail
from harness.scenario import load_scenario
from harness.summaryfile import load_summary, order_entry

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sample:
    t_s: float  # since the harness started
    harness: _proctree.ProcSample
    locust: _proctree.ProcSample | None  # None: locust not running at that moment
    other_procs: int  # processes below the harness other than locust: the pods
    records: int  # records written so far
    load_1min: float  # the machine's load average: others share it


def soak_scenario(order: str, duration_s: float, users: int) -> dict[str, object]:
    """The default scenario with one order, the soak's duration and users, and deletions every
    ``every_s`` from ``start_after_s`` up to the end of the load (validated as ``harness run``
    would)."""
    defaults = load_scenario(None)
    chaos = defaults.chaos
    # The last action must fall before the end of the load (the scenario's own rule).
    count = max(1, math.ceil((duration_s - chaos.start_after_s) / chaos.every_s))
    overrides: dict[str, object] = {
        "orders": [order],
        "duration_s": duration_s,
        "traffic.users": users,
        "traffic.spawn_rate": float(users),  # all users within the first second
        "chaos.count": count,
    }
    return load_scenario(None, overrides).to_dict()


def harness_cmd(scenario: Path, out: Path) -> list[str]:
    exe = Path(sys.executable).with_name("harness")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "harness"]
    return [
        *base, "run", "--backend", "embedded", "--scenario", str(scenario), "--out", str(out),
        "--quiet",
    ]  # fmt: skip


def _run_dir(out: Path) -> Path | None:
    found = [p for p in out.iterdir() if p.is_dir()] if out.exists() else []
    return found[0] if len(found) == 1 else None


def _is_locust(pid: int) -> bool:
    args = _proctree.cmdline(pid)
    return "-m" in args and "locust" in args


class Sampler:
    """Samples the harness process tree; counts records as the run writes them."""

    def __init__(self, harness_pid: int, out: Path, order: str) -> None:
        self.harness_pid = harness_pid
        self.out = out
        self.order = order
        self.start = time.monotonic()
        self.samples: list[Sample] = []
        self._tail: RecordTail | None = None
        self.records = 0

    def count_records(self) -> int:
        if self._tail is None:
            run_dir = _run_dir(self.out)
            if run_dir is None:
                return 0
            self._tail = RecordTail(run_dir / runfolder.records_name(self.order))
        self.records += len(self._tail.new_rows())
        return self.records

    def take(self) -> Sample:
        below = _proctree.descendants(self.harness_pid)
        locusts = [pid for pid in below if _is_locust(pid)]
        locust = _proctree.sample(locusts[0]) if locusts else None
        if locust is not None and locust.rss_kib is None:
            locust = None  # exited between the listing and the read
        sample = Sample(
            t_s=time.monotonic() - self.start,
            harness=_proctree.sample(self.harness_pid),
            locust=locust,
            other_procs=len(below) - len(locusts),
            records=self.count_records(),
            load_1min=_proctree.load_average(),
        )
        self.samples.append(sample)
        return sample


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


COLUMNS = (
    ("t s", 7), ("harness MiB", 11), ("CPU %", 5), ("fds", 5), ("sockets", 7), ("threads", 7),
    ("locust MiB", 10), ("CPU %", 5), ("locust fds", 10), ("pods", 5), ("records", 10),
    ("req/s", 7), ("load", 5),
)  # fmt: skip
HEADER = " ".join(f"{name:>{width}}" for name, width in COLUMNS)


def format_sample(sample: Sample, previous: Sample | None) -> str:
    """One table row; the rates (CPU %, req/s) are over the time since ``previous``."""
    h, locust = sample.harness, sample.locust
    elapsed = sample.t_s - previous.t_s if previous is not None else 0.0
    rate = f"{(sample.records - previous.records) / elapsed:.0f}" if previous and elapsed else ""
    cells = [
        f"{sample.t_s:.0f}", _mib(h.rss_kib),
        _cpu_percent(h, previous.harness if previous else None, elapsed),
        _num(h.fds), _num(h.sockets), _num(h.threads),
        _mib(locust.rss_kib if locust else None),
        _cpu_percent(locust, previous.locust if previous else None, elapsed),
        _num(locust.fds if locust else None),
        str(sample.other_procs), str(sample.records), rate, f"{sample.load_1min:.1f}",
    ]  # fmt: skip
    return " ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True))


def _cpu_percent(
    now: _proctree.ProcSample | None, then: _proctree.ProcSample | None, elapsed_s: float
) -> str:
    """A process's CPU use between two samples, in % of one core; blank when unknown."""
    if now is None or then is None or now.pid != then.pid or elapsed_s <= 0:
        return ""
    if now.cpu_s is None or then.cpu_s is None:
        return ""
    return f"{100 * (now.cpu_s - then.cpu_s) / elapsed_s:.0f}"


def load_window(samples: list[Sample]) -> list[Sample]:
    """The samples taken while locust ran (complete: every field read)."""
    return [
        s
        for s in samples
        if s.locust is not None
        and s.harness.rss_kib is not None
        and s.harness.fds is not None
        and s.harness.sockets is not None
        and s.harness.threads is not None
    ]


def flatness(window: list[Sample], limits: Limits) -> list[Finding]:
    times = [s.t_s for s in window]

    def series(name: str, values: list[int | None]) -> Series:
        return Series(name, times, [float(v or 0) for v in values])

    harness_rss = series("harness RSS", [s.harness.rss_kib for s in window])
    if not enough_samples(harness_rss):
        return [Finding("samples", False, f"only {len(window)} samples in the load window")]
    locust_rss = [s.locust.rss_kib if s.locust else None for s in window]
    return [
        rss_finding(harness_rss, limits.max_rss_slope_mib_per_10min),
        rss_finding(series("locust RSS", locust_rss), limits.max_rss_slope_mib_per_10min),
        count_finding(
            series("harness files", [_files(s.harness) for s in window]), limits.max_fd_spread
        ),
        count_finding(
            series("harness sockets", [s.harness.sockets for s in window]),
            limits.max_socket_climb,
            climb_only=True,
        ),
        count_finding(
            series("harness threads", [s.harness.threads for s in window]),
            limits.max_thread_spread,
        ),
        count_finding(
            series("pod processes", [s.other_procs for s in window]),
            limits.max_pod_climb,
            climb_only=True,
        ),
    ]


def _files(proc: _proctree.ProcSample) -> int | None:
    """Open descriptors other than sockets."""
    if proc.fds is None or proc.sockets is None:
        return None
    return proc.fds - proc.sockets


def count_findings(run_dir: Path, order: str, records: int) -> list[Finding]:
    """Records in the file, locust's own count, the summary's: all the same number."""
    log = run_dir / "logs" / f"locust-{order}.log"
    counts = locust_counts(log.read_bytes()) if log.exists() else None
    if counts is None:
        return [Finding("counts", False, f"no request summary in {log}")]
    locust_requests, locust_failures = counts
    summary = order_entry(load_summary(run_dir), order)
    summarised = int(summary["requests"])
    ok = records == locust_requests == summarised
    text = (
        f"counts: records file {records}, locust {locust_requests} "
        f"({locust_failures} failed), summary.json {summarised} "
        f"({int(summary['failed'])} failed)"
    )
    return [Finding("counts", ok, text)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--duration-s", type=float, default=1200.0, help="seconds of load")
    parser.add_argument("--users", type=int, default=250, help="locust users (see RESULTS.md)")
    parser.add_argument("--order", default="graceful", help="the sample app's shutdown order")
    parser.add_argument("--interval-s", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--keep", action="store_true", help="keep the run folder")
    parser.add_argument("--max-rss-slope", type=float, default=Limits.max_rss_slope_mib_per_10min)
    parser.add_argument("--max-fd-spread", type=int, default=Limits.max_fd_spread)
    parser.add_argument("--max-socket-climb", type=int, default=Limits.max_socket_climb)
    parser.add_argument("--max-thread-spread", type=int, default=Limits.max_thread_spread)
    parser.add_argument("--max-pod-climb", type=int, default=Limits.max_pod_climb)
    args = parser.parse_args(argv)
    if not 0 < args.duration_s <= 24 * 3600 or not 0 < args.interval_s <= args.duration_s:
        parser.error("need 0 < --interval-s <= --duration-s <= 86400")
    if not 1 <= args.users <= 10000:
        parser.error("--users: 1 to 10000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limits = Limits(
        args.max_rss_slope,
        args.max_fd_spread,
        args.max_socket_climb,
        args.max_thread_spread,
        args.max_pod_climb,
    )
    try:
        scenario = soak_scenario(args.order, args.duration_s, args.users)
    except HarnessError as exc:  # an unknown order, a duration the chaos schedule cannot fit
        print(f"soak: error: {exc}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    try:
        scenario_path = work / "soak.yaml"
        scenario_path.write_text(yaml.safe_dump(scenario))
        out = work / "runs"
        cmd = harness_cmd(scenario_path, out)
        print("$ " + " ".join(cmd), flush=True)
        harness = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        sampler = Sampler(harness.pid, out, args.order)
        print(HEADER, flush=True)
        previous: Sample | None = None
        while harness.poll() is None:
            sample = sampler.take()
            print(format_sample(sample, previous), flush=True)
            previous = sample
            _wait(harness, args.interval_s)
        run_dir = _run_dir(out)
        print(f"harness exit code {harness.returncode}; run folder {run_dir}")
        if harness.returncode not in (0, 1) or run_dir is None:
            return 2
        records = sampler.count_records()
        loads = [s.load_1min for s in sampler.samples]
        print(
            f"{records} records in {args.duration_s:g} s of load: "
            f"{records / args.duration_s:.0f} req/s; machine load average (1 min) "
            f"{min(loads):.1f}-{max(loads):.1f}, mean {sum(loads) / len(loads):.1f}"
        )
        findings = flatness(load_window(sampler.samples), limits)
        findings += count_findings(run_dir, args.order, records)
        for finding in findings:
            print(f"{'ok  ' if finding.ok else 'FAIL'} {finding.text}")
        flat = all(f.ok for f in findings)
        print(f"verdict: {'flat, counts equal' if flat else 'NOT flat or counts differ'}")
        if args.keep:
            print(f"kept: {work}")
        return 0 if flat else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _wait(process: subprocess.Popen[bytes], seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=seconds)


if __name__ == "__main__":
    sys.exit(main())
