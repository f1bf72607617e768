"""`harness run --deletions 0` on the embedded backend: no shutdown was tested, so every variant is
inconclusive, never a pass: exit 4, the gate line, JUnit and the report say so."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers.e2e import ROOT

from harness.cli import EXIT_INCONCLUSIVE

pytestmark = pytest.mark.slow


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_run_without_deletions_is_inconclusive_for_every_variant(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = harness(
        "run", "--backend", "embedded", "--orders", "naive,graceful", "--duration", "4",
        "--deletions", "0", "--gate", "graceful", "--quiet", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == EXIT_INCONCLUSIVE == 4, proc.stdout + proc.stderr
    gate_line, report_line = proc.stdout.strip().splitlines()[-2:]
    assert gate_line == "INCONCLUSIVE graceful: no deletion, so no shutdown was tested"
    assert report_line.startswith("report: ")
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]

    summary = json.loads((run_dir / "summary.json").read_text())
    for name, entry in summary["orders"].items():
        assert entry["requests"] > 0, name  # traffic flowed; only the shutdowns are missing
        assert entry["confidence"]["deletions"] == 0
        assert entry["confidence"]["requests_in_windows"] == 0
        assert entry["confidence"]["inconclusive"] == "no deletion", name
    assert summary["gate"]["verdict"] == "inconclusive" and summary["gate"]["ok"] is False
    (pair,) = summary["comparisons"]
    assert (pair["a"], pair["b"], pair["test"]) == (
        "naive",
        "graceful",
        "Fisher's exact test, two-sided",
    )

    suite = ET.parse(run_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1" and suite.get("failures") == "0"
    by_case = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    error = by_case[("drainlab.graceful", "evidence")].find("error")
    assert error is not None and error.get("type") == "inconclusive"
    skipped = by_case[("drainlab.naive", "evidence")].find("skipped")
    assert skipped is not None and "no deletion" in (skipped.get("message") or "")

    page = (run_dir / "report.html").read_text()
    assert '<span class="gate-word">INCONCLUSIVE</span>' in page
    assert "Inconclusive: no variant&#39;s run could show a shutdown (no deletion)." in page

    # Regated variant by variant: each is inconclusive, exit 4.
    for variant in ("naive", "graceful"):
        regate = harness("gate", str(run_dir), "--variant", variant)
        assert regate.returncode == EXIT_INCONCLUSIVE, regate.stdout + regate.stderr
        assert regate.stdout.startswith(f"INCONCLUSIVE {variant}: no deletion")
