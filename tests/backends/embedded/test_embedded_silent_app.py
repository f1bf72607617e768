"""Apps that write no shutdown lines, on the embedded backend: Python's stock http.server, once as
it is (SIGTERM's default action ends it at once) and once with SIGTERM ignored (killed at the end
of its grace period). Their phases must rest on the platform's events alone (the kubelet's
SIGTERM, the Service proxy's removal, the exit or the kill), and the second must be reported as
taking the full grace period for each stop.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.embedded import LoadClient, Result, serving_replicas

from harness.analysis import analyse_order, lifecycle_report
from harness.appspec import App, Probe
from harness.backends.base import DeploySpec
from harness.backends.embedded import EmbeddedBackend
from harness.chaos import Chaos, play_chaos
from harness.records import RequestRecord
from harness.scenario import Embedded
from harness.timeline import APP_EVENT_PREFIX, TimelineEvent

pytestmark = pytest.mark.slow

PROPAGATION = Embedded(propagation_min_s=0.2, propagation_max_s=0.5)
GRACE_S = 2.0
DELETIONS = 3
PLATFORM_BASIS = {
    "delete": "delete_requested",
    "sigterm": "sigterm_sent",
    "removal": "removal_applied",
}


def http_server(docroot: Path) -> list[str]:
    return [sys.executable, "-m", "http.server", "{port}", "--bind", "{host}", "-d", str(docroot)]


def ignoring_sigterm(docroot: Path) -> list[str]:
    # An ignored signal stays ignored across exec: Python never sees SIGTERM.
    server = " ".join(http_server(docroot))
    return ["sh", "-c", f"trap '' TERM; exec {server}"]


async def _run(command: list[str], tmp_path: Path) -> tuple[list[Result], list[TimelineEvent]]:
    events: list[TimelineEvent] = []
    # readiness on "/": a stock server answers 404 on /readyz
    app = App(command=command, readiness=Probe(path="/", period_s=0.1), grace_period_s=GRACE_S)
    spec = DeploySpec("naive", replicas=2)
    backend = EmbeddedBackend(PROPAGATION, app, seed=5, log_dir=tmp_path / "logs")
    async with backend:
        target = await backend.deploy(spec, events.append)
        stop = asyncio.Event()
        client = LoadClient(target.host, target.port, workers=4, keepalive=False, paths=("/",))
        load = asyncio.ensure_future(client.run(stop))
        rng = random.Random(5)
        for _ in range(DELETIONS):
            await serving_replicas(backend, spec.replicas, timeout_s=30)
            await asyncio.sleep(0.3)
            outcomes = await play_chaos(
                backend, Chaos(action="delete_random"), [0.0], rng, events.append, time.time()
            )
            assert all(o.error is None for o in outcomes)
        await backend.wait_settled(30)
        await asyncio.sleep(0.3)
        stop.set()
        results = await load
    return results, events


def _analyse(results: list[Result], events: list[TimelineEvent]) -> tuple[dict[str, Any], Any]:
    records = [
        RequestRecord(
            r.start, r.end, (r.end - r.start) * 1000.0, r.path, r.status, 0, r.pod, r.error
        )
        for r in results
    ]
    window = (min(r.start for r in results), max(r.end for r in results))
    analysis = analyse_order("naive", records, events, window)
    summary = analysis.summary
    phases = {k: v for k, v in summary["failures_by_phase"].items() if v}
    print(f"\n{summary['requests']} requests, {summary['failed']} failed, by phase {phases}")
    return summary, lifecycle_report(analysis.pods)


def _check_platform_basis(summary: dict[str, Any], exit_kind: str) -> None:
    assert summary["deletions"] == DELETIONS
    for d in summary["per_deletion"]:
        assert d["basis"] == {**PLATFORM_BASIS, "exit": exit_kind}, d
    for phase in ("before_sigterm", "propagating", "draining", "after_exit"):
        block = summary["phase_basis"][phase]
        assert block["rests_on"] == "platform", (phase, block)
        assert block["undelimited"] == 0
    assert summary["phase_basis"]["missing"] == {"sigterm": 0, "removal": 0, "exit": 0}
    assert summary["failures_by_phase"]["unknown"] == 0


def test_a_server_that_exits_on_sigterm_is_analysed_from_platform_events(tmp_path: Path) -> None:
    docroot = tmp_path / "www"
    docroot.mkdir()
    results, events = asyncio.run(_run(http_server(docroot), tmp_path))
    assert not [e for e in events if e.kind.startswith(APP_EVENT_PREFIX)]  # it wrote no lines
    summary, report = _analyse(results, events)
    _check_platform_basis(summary, "exited")
    # SIGTERM ends it at once while the proxy still routes to it: refused, after exit.
    assert summary["failed"] > 0
    assert summary["failures_by_phase"]["after_exit"] > 0
    assert not [f for f in report["findings"] if f["kind"] == "killed_at_grace"]


def test_a_server_that_ignores_sigterm_takes_the_full_grace_period(tmp_path: Path) -> None:
    docroot = tmp_path / "www"
    docroot.mkdir()
    results, events = asyncio.run(_run(ignoring_sigterm(docroot), tmp_path))
    summary, report = _analyse(results, events)
    _check_platform_basis(summary, "killed")
    # It served until routing moved on (0.5 s at most), long before the kill at 2 s.
    assert summary["failed"] == 0, summary["failures_by_phase"]
    (finding,) = [f for f in report["findings"] if f["kind"] == "killed_at_grace"]
    assert finding["text"].startswith(
        f"{DELETIONS} of {DELETIONS} deleted pods did not exit on SIGTERM and were killed "
        "(SIGKILL) at the end of their grace period: no request failed, but each stop took the "
        f"full grace period of {GRACE_S:g} s"
    )
