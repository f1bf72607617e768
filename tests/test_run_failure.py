"""A run that a backend error ends: teardown, a partial summary with the error, then the error."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness import run
from harness.backends.base import DeploySpec, EventSink, PodInfo, Target
from harness.backends.select import Choice
from harness.console import Console
from harness.errors import ApiUnavailable
from harness.gate import GateLimits
from harness.scenario import Scenario

REFUSAL = "kube API: create deployment x failed after 5 attempts: HTTP 503 Service Unavailable"


class RefusingBackend:
    """Deploy fails as an API that never comes back would make it fail."""

    name = "refusing"

    def __init__(self) -> None:
        self.teardowns = 0

    async def deploy(self, spec: DeploySpec, emit: EventSink) -> Target:
        raise ApiUnavailable(REFUSAL)

    async def list_pods(self) -> list[PodInfo]:
        return []

    async def delete_pod(self, name: str, grace_period_s: float | None = None) -> None:
        return None

    async def rolling_restart(self, max_surge: str = "25%", max_unavailable: str = "25%") -> None:
        return None

    async def wait_settled(self, timeout_s: float) -> None:
        return None

    async def teardown(self) -> None:
        self.teardowns += 1


def test_a_backend_error_writes_a_partial_summary_then_ends_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = RefusingBackend()
    monkeypatch.setattr(run, "make_backend", lambda *args: backend)
    scenario = Scenario(orders=["naive", "graceful"])
    console = Console(io.StringIO(), quiet=True)

    async def go() -> Any:
        return await run.run_experiment(
            scenario, Choice("kube", "test"), tmp_path, console, GateLimits(order="graceful")
        )

    with pytest.raises(ApiUnavailable, match="after 5 attempts"):
        asyncio.run(go())
    assert backend.teardowns == 1  # the order that failed was torn down; the next never began
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["partial"] is True
    assert summary["error"] == REFUSAL
    assert list(summary["orders"]) == ["naive"]
    assert "gate" not in summary  # no verdict on a run that did not happen
    assert json.loads((run_dir / "run.json").read_text())["scenario"]["orders"] == [
        "naive",
        "graceful",
    ]
    page = (run_dir / "report.html").read_text()
    assert "It ended with an error: kube API: create deployment x" in page
    assert (run_dir / "logs" / "harness.log").exists()
