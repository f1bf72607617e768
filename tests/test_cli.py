"""User mistakes end in one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import REPO
from helpers.summaries import MINIMAL, summary

from harness.cli import main

ROOT = REPO


def harness(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert text in lines[0]


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["run", "--orders", "naive,bogus"], "--variants: 'bogus' is not a variant"),
        (["run", "--duration", "-5"], "duration_s: must be > 0"),
        (["run", "--users", "0"], "traffic.users: must be > 0"),
        (["run", "--duration", "4"], "actions fall at or after the end of the run"),
        (["run", "--deletions", "-1"], "chaos.count: must be >= 0"),
        (["run", "--backend", "nomad"], "unknown backend 'nomad'"),
        (["run", "--scenario", "/nonexistent/s.yaml"], "cannot read scenario"),
        (["run", "--gate", "graceful", "--orders", "naive"], "is not a variant of this run"),
        (["run", "--gate", "graceful", "--classes", "bogus"], "unknown error class 'bogus'"),
        (["run", "--duration", "abc"], "invalid float value"),
        (["run", "--gate", "graceful", "--max-failed", "-1"], "max_failed must be >= 0"),
        (["run", "--gate", "graceful", "--max-failure-rate", "1.5"], "fraction from 0 to 1"),
        (["run", "--max-failed", "1"], "go with --gate VARIANT"),
        (["run", "--min-deletions", "3"], "go with --gate VARIANT"),
        (["run", "--gate", "graceful", "--max-upper-bound", "0"], "max_upper_bound is a fraction"),
        (["run", "--gate", "graceful", "--min-deletions", "-2"], "min_deletions must be >= 0"),
        (["frobnicate"], "invalid choice"),
        (["validate", "/nonexistent.yaml"], "cannot read scenario"),
        (["run", "--deletions", "100000000"], "chaos.count: must be >= 0 and <= 10000"),
        (["run", "--duration", "nan"], "duration_s: expected a finite number, got nan"),
        (["run", "--duration", "inf"], "duration_s: expected a finite number, got inf"),
        (["validate", "/no\nsuch.yaml"], "cannot read scenario /no\\nsuch.yaml"),
        (["validate", "a", "b\nc"], "unrecognized arguments: b\\nc"),
        (["report", "x" * 5000], "cannot read"),
        (["gate", "x" * 5000], "cannot read"),
    ],
)
def test_bad_input_is_one_line(args: list[str], text: str) -> None:
    assert_one_line_error(harness(*args), 2, text)


def test_bad_scenario_key_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("traffic:\n  users: 5\n  spawnrate: 3\n")
    assert_one_line_error(harness("run", "--scenario", str(bad)), 2, "traffic.spawnrate")


def test_validate_prints_the_full_scenario(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("orders: [graceful]\ntraffic:\n  users: 3\n")
    proc = harness("validate", str(good))
    assert proc.returncode == 0, proc.stderr
    assert "orders:\n- graceful" in proc.stdout
    assert "users: 3" in proc.stdout
    assert "propagation_min_s: 0.5" in proc.stdout


def test_unknown_kube_context_is_one_line(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: other\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: other, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--backend", "kube", "--context", "nope",
         "--out", str(tmp_path / "out"), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )  # fmt: skip
    assert proc.returncode in (2, 3), proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("harness: error")]
    assert len(errors) == 1 and "nope" in errors[0], proc.stderr
    assert "other" in errors[0]  # names the contexts that do exist


@pytest.mark.parametrize("command", ["report", "gate"])
def test_unreadable_run_folder_is_one_line(tmp_path: Path, command: str) -> None:
    assert_one_line_error(harness(command, str(tmp_path / "missing")), 2, "does not exist")
    (tmp_path / "summary.json").write_text("{x")
    assert_one_line_error(harness(command, str(tmp_path)), 2, "not valid JSON")


MINIMAL_SUMMARY = json.dumps(MINIMAL)


@pytest.mark.parametrize("junit", ["/proc/x.xml", "/dev/null/x.xml", "{folder}"])
def test_gate_junit_that_cannot_be_written_is_one_line(tmp_path: Path, junit: str) -> None:
    (tmp_path / "summary.json").write_text(MINIMAL_SUMMARY)
    proc = harness("gate", str(tmp_path), "--junit", junit.format(folder=tmp_path))
    assert_one_line_error(proc, 2, "cannot write")


def test_report_renders_a_minimal_summary_the_gate_accepts(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(MINIMAL_SUMMARY)
    assert harness("gate", str(tmp_path)).returncode == 0
    proc = harness("report", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "report.html").read_text()
    assert "started \u2014" in page  # what the summary lacks is shown as missing
    assert "no records file (records-graceful.jsonl)" in page


def test_gate_takes_the_variant_by_either_spelling(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary()))
    for flag in ("--variant", "--order"):
        assert main(["gate", str(path), flag, "graceful"]) == 0
        assert main(["gate", str(path), flag, "naive"]) == 1
