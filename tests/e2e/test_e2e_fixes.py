"""A short embedded run of the sample app: fix-<variant>.yaml for the variant that dropped
(close-first: its listener closes at SIGTERM while the proxy still routes to it), none for the
one that did not (prestop), and the fix's sentence in the terminal and in report.html."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.paths import REPO
from markupsafe import escape

pytestmark = pytest.mark.slow


def test_a_run_writes_the_fix_of_the_variant_that_dropped_and_says_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable, "-m", "harness", "run", "--out", str(tmp_path), "--quiet",
            "--backend", "embedded", "--orders", "close-first,prestop", "--duration", "10",
            "--deletions", "3",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["orders"]["close-first"]["failed"] > 0
    assert summary["orders"]["prestop"]["failed"] == 0
    assert set(summary["fixes"]) == {"close-first"}
    assert (run_dir / "fix-close-first.yaml").exists()
    assert not (run_dir / "fix-prestop.yaml").exists()
    fix = summary["fixes"]["close-first"]
    # The sleep is the run's own recommendation, in the spelling every version takes (embedded:
    # the server version is unknown, and the file says so).
    sleep = summary["recommendation"]["prestop_sleep_s"]
    text = (run_dir / "fix-close-first.yaml").read_text()
    patch = yaml.safe_load(text)
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "app" and patch["metadata"]["name"] == "drainlab-sample"
    assert container["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", f"{sleep:g}"]}}
    assert "server version unknown" in text and fix["server_version"] is None
    assert fix["validated"] == ("client" if shutil.which("kubectl") else fix["validated"])
    assert fix["sentence"].endswith("(fix-close-first.yaml)")
    assert f"a preStop sleep of {sleep:g} s covers it" in fix["sentence"]
    assert f"close-first: {fix['sentence']}" in proc.stdout
    html = (run_dir / "report.html").read_text()
    assert str(escape(fix["sentence"])) in html
    assert 'href="fix-close-first.yaml"' in html
