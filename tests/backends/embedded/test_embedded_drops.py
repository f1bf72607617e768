"""The race, end to end: the sample app under steady traffic through the Service proxy while
pods are deleted every second (later when the replacements are not all serving yet, see
serving_replicas in helpers/embedded.py). The naive order drops requests; the graceful one
drops none.

Both client styles run at once: a new connection per request (what a rolling proxy or a
connection-per-request client does) and keep-alive connections (what most HTTP clients do).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers.embedded import LoadClient, Result, by_kind, serving_replicas, timeline_text

from harness.appspec import App, Probe
from harness.backends.embedded import EmbeddedBackend, Route
from harness.backends.embedded.app import SAMPLE_APP
from harness.chaos import Chaos, ChaosOutcome, play_chaos
from harness.scenario import Embedded, Scenario
from harness.timeline import EventKind, TimelineEvent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SAMPLE_APP.is_file(), reason="needs sample-app/app.py"),
]

PROPAGATION = Embedded(propagation_min_s=0.2, propagation_max_s=0.6)
SHUTDOWN_DELAY_S = 2.0  # graceful: well above the 0.6 s longest propagation, even on a busy box
DELETIONS = 10
EVERY_S = 1.0


async def _run(order: str, tmp_path: Path) -> tuple[list[Result], list[TimelineEvent], list[Route]]:
    events: list[TimelineEvent] = []
    app = App(
        shutdown_delay_s=SHUTDOWN_DELAY_S,
        drain_timeout_s=5.0,
        prestop_sleep_s=0.0,
        grace_period_s=10.0,
        readiness=Probe(period_s=0.2, timeout_s=1.0),
    )
    spec = Scenario(replicas=3, app=app).deploy_spec(order)
    backend = EmbeddedBackend(
        PROPAGATION, app, seed=21, log_dir=tmp_path / "logs", record_routes=True
    )
    async with backend:
        target = await backend.deploy(spec, events.append)
        stop = asyncio.Event()
        clients = [
            LoadClient(target.host, target.port, workers=8, keepalive=False, think_s=0.02),
            LoadClient(target.host, target.port, workers=4, keepalive=True, think_s=0.02, seed=8),
        ]
        loads = [asyncio.ensure_future(c.run(stop)) for c in clients]
        rng = random.Random(21)
        outcomes: list[ChaosOutcome] = []
        due = time.time() + 0.5
        for _ in range(DELETIONS):
            await asyncio.sleep(max(0.0, due - time.time()))
            await serving_replicas(backend, spec.replicas, timeout_s=30)
            outcomes += await play_chaos(
                backend, Chaos(action="delete_random"), [0.0], rng, events.append, time.time()
            )
            due = outcomes[-1].ts + EVERY_S
        assert all(len(o.targets) == 1 and o.error is None for o in outcomes)
        await backend.wait_settled(30)
        await asyncio.sleep(0.3)
        stop.set()
        results = [r for load in loads for r in await load]
        routes = list(backend.proxy.routes)
    return results, events, routes


def _check_routing(results: list[Result], events: list[TimelineEvent], routes: list[Route]) -> None:
    removed = {e.pod: e.ts for e in by_kind(events, EventKind.REMOVAL_APPLIED)}
    # The proxy's own log: no new connection to a pod once its removal was applied.
    late = [r for r in routes if r.pod in removed and r.ts >= removed[r.pod]]
    assert late == [], late[:5]
    # The client's view: a request that opened its connection after the removal (plus the
    # proxy's accept, a few ms on a busy loop) was never served by that pod.
    served_late = [
        r
        for r in results
        if not r.keepalive and r.pod in removed and r.start > removed[r.pod] + 0.05
    ]
    assert served_late == [], served_late[:5]


@pytest.mark.parametrize("order", ["naive", "graceful"])
def test_deletions_under_traffic(order: str, tmp_path: Path) -> None:
    results, events, routes = asyncio.run(_run(order, tmp_path))
    assert len(by_kind(events, EventKind.DELETE_REQUESTED)) == DELETIONS
    failed = [r for r in results if r.error is not None]
    by_mode = Counter(("keepalive" if r.keepalive else "new-conn", r.error) for r in failed)
    total = Counter("keepalive" if r.keepalive else "new-conn" for r in results)
    retried = sum(r.retried for r in results)
    print(f"\n{order}: {len(results)} requests {dict(total)}, failed {dict(by_mode)}")
    print(f"{order}: keep-alive requests retried after an idle-close race: {retried}")
    assert total["new-conn"] > 500 and total["keepalive"] > 500
    _check_routing(results, events, routes)
    if order == "naive":
        # Exits at once on SIGTERM while the proxy still sends it new connections.
        assert any(not r.keepalive for r in failed), dict(by_mode)
    else:
        assert failed == [], f"{dict(by_mode)}\n{failed[:5]}\n{timeline_text(events)}"
