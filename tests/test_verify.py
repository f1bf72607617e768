"""harness.verify: a fix becomes the variant <variant>+fix, its change on top of the variant's
own; only variants that dropped requests run one; nothing to fix is one line and no run."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness import runfolder
from harness.appspec import ProbeChange, Variant
from harness.backends.base import DeploySpec
from harness.cli import main
from harness.console import Console
from harness.fixes.model import Fix
from harness.journal import RunJournal
from harness.outputs import recover
from harness.scenario import Scenario
from harness.timeline import EventKind
from harness.verify import (
    NOTHING_TO_FIX,
    base_of,
    composed,
    dropped,
    fix_specs,
    verify_fixes,
)

SLEEP = Variant(prestop_sleep_s=3.0, grace_period_s=33.0)


def _summary(**failed: int) -> dict[str, Any]:
    return {
        "orders": {name: {"requests": 100, "failed": n} for name, n in failed.items()},
        "recommendation": {"prestop_sleep_s": 3.0, "basis": "p99 propagation 1480 ms + 1 s"},
    }


def test_a_fix_lands_on_top_of_a_sample_orders_own_change() -> None:
    scenario = Scenario(orders=["close-first", "prestop"])
    (spec,) = fix_specs(scenario, {"close-first": Fix("close-first", SLEEP)}, ["close-first"])
    assert spec.variant == "close-first+fix" and spec.replicas == scenario.replicas
    own = scenario.variant("close-first")
    assert spec.change.env == own.env  # still the close-first order of the app
    assert spec.change.env["SHUTDOWN_ORDER"] == "close-first"
    assert own.prestop_sleep_s == 0.0 and spec.change.prestop_sleep_s == 3.0
    assert spec.change.grace_period_s == 33.0


def test_the_fixs_preStop_replaces_the_orders_own_and_unset_fields_stay() -> None:
    scenario = Scenario(orders=["prestop"])
    (spec,) = fix_specs(
        scenario, {"prestop": Fix("prestop", Variant(prestop_sleep_s=7.0))}, ["prestop"]
    )
    assert spec.change.prestop_sleep_s == 7.0  # not the order's 5 s
    assert spec.change.grace_period_s == scenario.app.grace_period_s  # the fix left it alone


def test_a_user_variants_env_probe_and_hook_meet_the_fix_setting_by_setting() -> None:
    own = Variant(
        env={"A": "1", "B": "2"},
        args=["--serve"],
        prestop_command=["/bin/drain"],
        readiness=ProbeChange(period_s=5.0, failure_threshold=3),
    )
    fix = Variant(
        env={"B": "3"},
        prestop_sleep_s=2.0,
        readiness=ProbeChange(period_s=1.0),
    )
    change = composed(own, fix)
    assert change.env == {"A": "1", "B": "3"}
    assert change.args == ["--serve"]
    assert change.prestop_sleep_s == 2.0 and change.prestop_command is None  # one handler
    assert change.readiness == ProbeChange(period_s=1.0, failure_threshold=3)
    assert composed(Variant(prestop_sleep_s=4.0), Variant(prestop_command=["x"])) == Variant(
        prestop_sleep_s=0.0, prestop_command=["x"]
    )
    assert composed(Variant(readiness=ProbeChange(path="/r")), Variant()).readiness == ProbeChange(
        path="/r"
    )


def test_only_variants_that_dropped_requests_and_have_a_fix_run_one() -> None:
    summary = _summary(naive=3, graceful=0, prestop=1, **{"naive+fix": 2})
    assert dropped(summary) == ["naive", "prestop"]  # a fix's own run is not fixed again
    fixes = {name: Fix(name, SLEEP) for name in ("naive", "graceful")}
    specs = fix_specs(Scenario(), fixes, dropped(summary))
    assert [s.variant for s in specs] == ["naive+fix"]
    assert base_of("naive+fix") == "naive" and base_of("naive") is None


def _verify(summary: dict[str, Any], fixes: dict[str, Fix]) -> tuple[list[str], list[str], str]:
    ran: list[str] = []
    asked: list[Any] = []

    def source(s: Any, run_dir: Path, scenario: Scenario) -> dict[str, Fix]:
        asked.append(s)
        return fixes

    async def run_variant(spec: DeploySpec) -> None:
        ran.append(spec.variant)

    out = io.StringIO()
    result = asyncio.run(
        verify_fixes(summary, Path("."), Scenario(), source, run_variant, Console(out))
    )
    assert result == ran
    return ran, [str(a) for a in asked], out.getvalue()


def test_each_fix_runs_as_its_own_variant_in_run_order() -> None:
    fixes = {name: Fix(name, SLEEP) for name in ("close-first", "naive")}
    ran, asked, said = _verify(_summary(naive=2, **{"close-first": 5}), fixes)
    assert ran == ["naive+fix", "close-first+fix"]
    assert len(asked) == 1
    assert "[fix 1/2] variant naive+fix" in said


def test_nothing_to_fix_is_one_line_and_runs_nothing() -> None:
    ran, asked, said = _verify(_summary(naive=0, graceful=0), {})
    assert (ran, asked, said) == ([], [], NOTHING_TO_FIX + "\n")


def test_no_fix_derived_for_a_failing_variant_is_one_line() -> None:
    ran, _, said = _verify(_summary(naive=4), {})
    assert ran == []
    assert said == "verify: no fix was derived for naive: nothing to run\n"


def test_harness_report_on_a_killed_verify_run_keeps_the_fix_variant(tmp_path: Path) -> None:
    header = {"scenario": Scenario(orders=["naive"]).to_dict(), "backend": "embedded", "seed": 1}
    (tmp_path / runfolder.RUN_JOURNAL).write_text(json.dumps(header))
    for name in ("naive", "naive+fix"):
        (tmp_path / runfolder.records_name(name)).write_text("")
        events = [(1.0, EventKind.LOAD_STARTED), (5.0, EventKind.LOAD_STOPPED)]
        (tmp_path / runfolder.timeline_name(name)).write_text(
            "".join(
                json.dumps({"ts": t, "kind": k, "pod": None, "detail": {}}) + "\n"
                for t, k in events
            )
        )
    assert [o.name for o in RunJournal.from_files(tmp_path).orders] == ["naive", "naive+fix"]
    recover(tmp_path)
    summary = json.loads((tmp_path / runfolder.SUMMARY).read_text())
    assert summary["verify"]["naive"]["fixed_variant"] == "naive+fix"


def test_verify_fix_on_a_running_target_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["run", "--backend", "kube", "--context", "x", "--target", "deployment/web",
         "--namespace", "team", "--verify-fix"]
    )  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "harness: error: --verify-fix: a --target runs as it is; its fix cannot be deployed"
    ]
