"""`make bench`: the benchmarks that exist so far, one after another; each prints its figures.

The soak (``python -m bench.soak``, 20 minutes by default) is not among them: run it on its own.
"""

import subprocess
import sys

BENCHMARKS = [
    ["-m", "bench.analysis_scale", "100000", "1000000", "5000000"],
    ["-m", "bench.recording", "--users", "10", "--seconds", "10", "--rounds", "2"],
    ["-m", "bench.proxy", "--seconds", "5", "--concurrency", "16"],
    ["-m", "bench.sample_app", "--seconds", "4", "--rounds", "3", "--concurrency", "16"],
    ["-m", "bench.chaos_wall"],
    # Last: it needs nginx and exits 2 (saying how to install it) where there is none.
    ["-m", "bench.workers", "--seconds", "4", "--rounds", "1"],
]

for args in BENCHMARKS:
    print(f"\n$ python {' '.join(args)}", flush=True)
    code = subprocess.call([sys.executable, *args])
    if code != 0:
        sys.exit(code)
