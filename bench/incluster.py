"""Load from inside the cluster vs from this machine, on the local cluster: what each costs per
request, and how much the outcome of one scenario varies from run to run on either path.

    python -m bench.incluster --rounds 3 --duration 12 --deletions 3

Each round runs ``harness run --backend local`` twice with the same seed and the same variant
(naive by default, the one that drops), alternating the paths so that drift hits both alike:
``traffic.from: host`` (locust's master and 2 workers on this machine, sending to the Service's
nodePort) and ``traffic.from: cluster`` (the same as pods, sending to its ClusterIP). Printed per
path: requests, failed, failure rate (mean and spread over the rounds: the noise a test must
allow), the median latency, and the workers' CPU per request (their own ``cpu_s`` over their
records: what one request costs the sender). Needs root and the local cluster (it brings it up).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._common import ROOT
from harness.load.status import read_status
from harness.records import read_records

PATHS = ("host", "cluster")


def one_run(source: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    scenario = out / f"{source}.yaml"
    scenario.write_text(f"traffic:\n  from: {source}\n  workers: 2\n")
    before = set(out.iterdir())
    command = [
        sys.executable, "-m", "harness", "run", "--backend", "local", "--quiet",
        "--scenario", str(scenario), "--orders", args.order, "--seed", str(args.seed),
        "--duration", str(args.duration), "--deletions", str(args.deletions), "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"harness run ({source}) failed: {(done.stderr or done.stdout)[-500:]}")
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and p not in before]
    entry = json.loads((run_dir / "summary.json").read_text())["orders"][args.order]
    status = read_status(run_dir / "logs" / f"locust-{args.order}.status.jsonl", workers=2)
    records = read_records(run_dir / f"records-{args.order}.jsonl")
    latencies = [r.latency_ms for r in records if r.error is None]
    cpu = sum(w.cpu_s or 0.0 for w in status.workers)
    return {
        "requests": entry["requests"],
        "failed": entry["failed"],
        "rate": entry["failure_rate"] or 0.0,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "cpu_us_per_request": 1e6 * cpu / max(1, len(records)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--deletions", type=int, default=3)
    parser.add_argument("--order", default="naive")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {path: [] for path in PATHS}
    with tempfile.TemporaryDirectory(prefix="drainlab-bench-incluster-") as tmp:
        for round_ in range(args.rounds):
            for source in PATHS if round_ % 2 == 0 else PATHS[::-1]:
                run = one_run(source, args, Path(tmp))
                results[source].append(run)
                print(
                    f"round {round_ + 1} {source:7}  requests {run['requests']:5}  failed "
                    f"{run['failed']:3}  rate {100 * run['rate']:.2f}%  p50 {run['p50_ms']:.1f} ms"
                    f"  cpu/request {run['cpu_us_per_request']:.0f} µs",
                    flush=True,
                )
    print(f"\n{args.order}, {args.duration:g} s, {args.deletions} deletions, seed {args.seed}:")
    for source in PATHS:
        runs = results[source]
        rates = [100 * r["rate"] for r in runs]
        spread = statistics.pstdev(rates) if len(rates) > 1 else 0.0
        print(
            f"  {source:7}  failure rate {statistics.mean(rates):.2f}% ± {spread:.2f} "
            f"(min {min(rates):.2f}, max {max(rates):.2f})  p50 "
            f"{statistics.median(r['p50_ms'] for r in runs):.1f} ms  cpu/request "
            f"{statistics.median(r['cpu_us_per_request'] for r in runs):.0f} µs"
        )
    host, cluster = results["host"], results["cluster"]
    ratio = statistics.median(r["cpu_us_per_request"] for r in cluster) / statistics.median(
        r["cpu_us_per_request"] for r in host
    )
    print(f"  in-cluster / host, CPU per request: {ratio:.2f}")


if __name__ == "__main__":
    main()
