"""Bad input on the embedded backend, through `harness run`: one line, exit 3, before any
traffic, nothing left running (issue 17, item 7)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from helpers.e2e import ROOT, processes_left

from harness.appspec import Probe
from harness.backends.embedded.notready import why_not_ready
from harness.backends.embedded.pod import Pod
from harness.backends.embedded.probe import ProbeResult
from harness.backends.embedded.probes import READINESS, STARTUP, ContainerProbes, Probes


def _run(tmp_path: Path, scenario: str) -> tuple[subprocess.CompletedProcess[str], str]:
    marker = uuid.uuid4().hex
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario)
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--backend", "embedded", "--quiet",
         "--scenario", str(path), "--out", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "DRAINLAB_TEST_MARKER": marker},
    )  # fmt: skip
    return proc, marker


def _no_traffic(tmp_path: Path) -> None:
    records = list((tmp_path / "out").glob("*/records-*.jsonl"))
    assert all(path.stat().st_size == 0 for path in records), records


def test_a_command_not_found_is_one_line_and_exit_3_before_any_traffic(tmp_path: Path) -> None:
    proc, marker = _run(
        tmp_path, 'app: {command: [no-such-server, "{port}"]}\nduration_s: 5\nchaos: {count: 1}\n'
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stderr == "harness: error: app command not found: 'no-such-server'\n"
    _no_traffic(tmp_path)
    assert processes_left(marker, within_s=5) == []


@pytest.mark.slow  # the deploy waits its 60 s for a pod to get ready
def test_a_readiness_probe_that_never_passes_says_what_it_got(tmp_path: Path) -> None:
    # A stock server: no /readyz, so the default readiness probe gets 404 on every pod.
    proc, marker = _run(
        tmp_path,
        f"app: {{command: [{sys.executable}, -m, http.server, '{{port}}', --bind, '{{host}}']}}\n"
        "duration_s: 5\nchaos: {count: 1}\n",
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stderr == (
        "harness: error: embedded deploy timed out: readiness never passed: "
        "GET /readyz -> 404 on all 3 pods\n"
    )
    _no_traffic(tmp_path)
    assert processes_left(marker, within_s=5) == []


def _pod(name: str, answers: dict[str, ProbeResult], startup_passed: bool = True) -> Pod:
    pod = Pod(name, 0, 0.0, "127.0.0.2")
    probes = ContainerProbes(
        Probes(Probe()),
        pod.host,
        1,
        0.0,
        alive=lambda: True,
        terminating=lambda: False,
        on_ready=lambda ready: None,
        on_failure=lambda kind, result, kill: None,
    )
    probes.last.update(answers)
    if startup_passed:
        probes._started.set()
    pod.probes = probes
    return pod


def test_pods_that_got_different_answers_are_named_with_theirs() -> None:
    refused = ProbeResult(False, "connection refused")
    pods = [
        _pod("web-a", {READINESS: ProbeResult(False, "404")}),
        _pod("web-b", {READINESS: refused}),
        _pod("web-c", {READINESS: ProbeResult(False, "404")}),
        _pod("web-d", {STARTUP: ProbeResult(False, "timeout after 1 s")}, startup_passed=False),
        _pod("web-e", {READINESS: ProbeResult(True, "200")}),
    ]
    pods[-1].ready = True
    probes = Probes(Probe(path="/ready"), startup=Probe(path="/started", port=8081))
    assert why_not_ready(pods, probes, lambda name: "") == (
        "readiness never passed: GET /ready -> 404 on web-a, web-c; connection refused on web-b; "
        "startup never passed: GET :8081/started -> timeout after 1 s on web-d"
    )


def test_pods_whose_container_keeps_exiting_are_shown_once_with_their_log() -> None:
    pods = [_pod(f"web-{n}", {}) for n in "abc"]
    for restarts, pod in enumerate(pods, 1):
        pod.restarts = restarts
    tail = " (log: sh: 1: exec: no-such-server: not found)"
    assert why_not_ready(pods, Probes(Probe()), lambda name: tail) == (
        f"all 3 pods not ready, 3 restarts{tail}"
    )
