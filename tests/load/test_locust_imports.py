"""The locust processes import only what the load image carries (harness.load.* and a few
modules they need, locust, orjson): nothing of the analysis, numpy, YAML or the cluster client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.paths import REPO

# Third-party top-level modules the image may lack; the harness modules the locust side may use.
ABSENT = {"numpy", "yaml", "kubernetes", "aiohttp", "matplotlib"}
HARNESS_ALLOWED = {
    "harness",
    "harness.classify",
    "harness.durable",
    "harness.errors",
    "harness.jsonl",
    "harness.records",
    "harness.load",
    "harness.load.config",
    "harness.load.distributed",
    "harness.load.locustfile",
    "harness.load.mix",
    "harness.load.pacing",
    "harness.load.recordsink",
    "harness.load.traffic",
}


def test_the_locustfile_imports_only_what_the_load_image_carries(tmp_path: Path) -> None:
    code = (
        "import json, sys\nimport harness.load.locustfile\nprint(json.dumps(sorted(sys.modules)))\n"
    )
    env = {
        **os.environ,
        "DRAINLAB_RECORDS": str(tmp_path / "r.jsonl"),
        "DRAINLAB_STATUS": str(tmp_path / "s.jsonl"),
        "DRAINLAB_TRAFFIC": "{}",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    modules = set(json.loads(done.stdout.splitlines()[-1]))
    assert {m.split(".")[0] for m in modules} & ABSENT == set()
    assert {m for m in modules if m.startswith("harness")} <= HARNESS_ALLOWED
