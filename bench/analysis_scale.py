"""How long the analysis takes, and how much memory, for 100 k / 1 M / 5 M records.

    python -m bench.analysis_scale                          # 100 k and 1 M records
    python -m bench.analysis_scale 5000000 --modes file     # any counts, some entry points

Each count is measured in a fresh process (peak RSS is per process), for three entry points:
``file`` streams records-<order>.jsonl alone (analyse_order_file: parsing included; a run folder
without a rows file, as before 2026-11-30); ``rows`` the same with the rows file that the
progress tail of a run keeps beside it (written here as a run writes it: a look every 1000
records, one second of this synthetic traffic; what those looks cost is printed too); ``list``
analyses a list of RequestRecord already in memory (analyse_order: parsing not included, but the
list itself counts towards the peak, about 300 bytes a record). Wall and CPU seconds are both
printed: on a shared machine wall time includes other processes' turns. The synthetic run:
3 replicas at 1000 requests/s, a deletion every 10 s with its full event sequence, 0.5 % of
requests failed. Also printed: a pure-Python reference loop, and each CPU figure as a multiple of
the loop's CPU seconds, so figures from machines of different speed can be compared.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.analysis import analyse_order, analyse_order_file
from harness.classify import ERROR_CLASSES
from harness.records import RecordTail, RequestRecord, rows_path
from harness.timeline import EventKind, TimelineEvent

ROOT = Path(__file__).resolve().parents[1]  # where `python -m bench.analysis_scale` resolves
T0 = 1_764_012_600.0
RATE = 1000.0  # requests per second
DELETE_EVERY_S = 10.0
FAIL_SHARE = 0.005


def synthetic_timeline(duration_s: float) -> list[TimelineEvent]:
    events = [TimelineEvent(T0, EventKind.ENDPOINT_ADDED, f"p-{i}") for i in range(3)]
    t, next_pod = T0 + 3.0, 3
    while t < T0 + duration_s:
        victim = f"p-{next_pod - 3}"
        events += [
            TimelineEvent(t, EventKind.DELETE_REQUESTED, victim, {"grace_period_s": 30.0}),
            TimelineEvent(t + 0.01, EventKind.SIGTERM_SENT, victim),
            TimelineEvent(t + 0.06, EventKind.ENDPOINT_REMOVED, victim),
            TimelineEvent(t + 0.9, EventKind.REMOVAL_APPLIED, victim),
            TimelineEvent(t + 1.2, EventKind.EXITED, victim, {"code": 0}),
            TimelineEvent(t + 2.5, EventKind.POD_READY, f"p-{next_pod}", {"replaces": victim}),
            TimelineEvent(t + 2.5, EventKind.ENDPOINT_ADDED, f"p-{next_pod}"),
        ]
        t, next_pod = t + DELETE_EVERY_S, next_pod + 1
    return events


def synthetic_record(rng: random.Random, i: int) -> RequestRecord:
    start = T0 + i / RATE
    latency = rng.expovariate(1 / 20.0) if i % 4 else rng.uniform(100.0, 600.0)
    failed = rng.random() < FAIL_SHARE
    pod_index = int((start - T0 - 3.0) // DELETE_EVERY_S) + rng.randrange(3)
    return RequestRecord(
        start=start,
        end=start + latency / 1000.0,
        latency_ms=latency,
        name="/work?ms=300" if i % 4 == 0 else "/",
        status=0 if failed else 200,
        bytes=0 if failed else 12,
        pod=None if failed else f"p-{max(pod_index, 0)}",
        error=rng.choice(ERROR_CLASSES) if failed else None,
        message="ConnectionRefusedError(111)" if failed else None,
    )


def write_records(path: Path, count: int) -> float:
    """Writes the JSONL, and its rows file as a run's progress tail does; returns the tail's CPU
    seconds."""
    rng = random.Random(1)
    tail = RecordTail(path, keep_rows=True)
    tail_cpu = 0.0
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            if i % int(RATE) == 0:  # once a second of traffic
                out.flush()
                started = time.process_time()
                tail.new_rows()
                tail_cpu += time.process_time() - started
            r = synthetic_record(rng, i)
            # The JsonlWriter's format (asdict order, compact), written without its per-line flush.
            out.write(
                f'{{"start":{r.start!r},"end":{r.end!r},"latency_ms":{r.latency_ms!r},'
                f'"name":"{r.name}","status":{r.status},"bytes":{r.bytes},'
                f'"pod":{_json_str(r.pod)},"error":{_json_str(r.error)},'
                f'"message":{_json_str(r.message)}}}\n'
            )
    started = time.process_time()
    tail.new_rows()
    return tail_cpu + time.process_time() - started


def _json_str(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


def reference_loop_s() -> tuple[float, float]:
    """Wall and CPU seconds of 10 M additions in a Python loop: this machine's speed."""
    wall, cpu = time.perf_counter(), time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - wall, time.process_time() - cpu


def child(mode: str, count: int, path: Path) -> None:
    """Runs one measurement; prints wall s, CPU s, peak RSS MiB, RSS MiB before the records."""
    timeline = synthetic_timeline(count / RATE)
    window = (T0, T0 + count / RATE)
    base_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    records: list[RequestRecord] = []
    if mode == "list":
        rng = random.Random(1)
        records = [synthetic_record(rng, i) for i in range(count)]  # not part of the timing
    wall, cpu = time.perf_counter(), time.process_time()
    if mode in ("file", "rows"):
        result = analyse_order_file("bench", path, timeline, window)
    else:
        result = analyse_order("bench", records, timeline, window)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert result.summary["requests"] == count
    print(f"{wall:.2f} {cpu:.2f} {peak_mib:.0f} {base_mib:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("counts", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--modes", default="file,rows,list", help="some of file,rows,list")
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "COUNT", "PATH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        mode, count, path = args.child
        child(mode, int(count), Path(path))
        return
    ref_wall, ref_cpu = reference_loop_s()
    print(f"reference loop (10 M additions): {ref_wall:.2f} s wall, {ref_cpu:.2f} s CPU")
    header = ("records", "mode", "wall s", "CPU s", "peak MiB", "MiB before records", "CPU/ref")
    print("{:>10} {:>5} {:>7} {:>7} {:>9} {:>19} {:>8}".format(*header))
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.counts:
            path = Path(tmp) / f"records-{count}.jsonl"
            tail_cpu = write_records(path, count) if {"file", "rows"} & set(modes) else 0.0
            hidden = rows_path(path).with_suffix(".hidden")
            for mode in modes:
                if mode == "file":
                    rows_path(path).rename(hidden)  # the JSONL alone
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.analysis_scale",
                        "--child",
                        mode,
                        str(count),
                        str(path),
                    ],
                    check=True,
                    capture_output=True,
                    cwd=ROOT,
                    text=True,
                ).stdout.split()
                if mode == "file":
                    hidden.rename(rows_path(path))
                ratio = f"{float(out[1]) / ref_cpu:.1f}"  # CPU against CPU: fair on a busy machine
                print(
                    "{:>10} {:>5} {:>7} {:>7} {:>9} {:>19} {:>8}".format(count, mode, *out, ratio)
                )
            if tail_cpu:
                print(f"{'':>10} progress tail during the run: {tail_cpu:.2f} s CPU in all")
            path.unlink(missing_ok=True)
            rows_path(path).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
