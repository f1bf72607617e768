"""`harness run` with a scenario matrix on the embedded backend: each variant once per action
(and per Kubernetes profile) in one run, its cells in summary.json and in one report table.
Short runs, tuned as tests/e2e/test_e2e_disruptions.py's are (fixed propagation delay)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.e2e import run_harness

pytestmark = pytest.mark.slow

FIXED_PROPAGATION = {"propagation_min_s": 0.5, "propagation_max_s": 0.5}


def _run(tmp_path: Path, scenario: dict[str, Any], *more: str) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    out = tmp_path / "out"
    return run_harness(
        ["--backend", "embedded", "--scenario", str(path), *more], out, timeout_s=400
    )


def _cells(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {cell["order"]: cell for cell in summary["matrix"]["cells"]}


def test_variants_by_actions_in_one_run_and_one_table(tmp_path: Path) -> None:
    run_dir, summary = _run(
        tmp_path,
        {
            "orders": ["naive", "graceful"],
            "duration_s": 8,
            "embedded": FIXED_PROPAGATION,
            "chaos": {"at_s": [2, 5], "restore_after_s": 2},
            "matrix": {"actions": ["scale_down", "crash"]},
        },
    )
    orders = ["naive@scale_down", "naive@crash", "graceful@scale_down", "graceful@crash"]
    assert list(summary["orders"]) == orders
    assert summary["matrix"]["actions"] == ["scale_down", "crash"]
    assert summary["matrix"]["profiles"] is None
    cells = _cells(summary)
    assert list(cells) == orders
    for order, cell in cells.items():
        assert cell["failed"] == summary["orders"][order]["failed"], order
        assert cell["requests"] == summary["orders"][order]["requests"] > 0, order
        assert (run_dir / f"records-{order}.jsonl").is_file(), order
    assert cells["naive@scale_down"]["failed"] > 0
    assert cells["graceful@scale_down"]["failed"] == 0
    assert cells["naive@crash"]["failed"] > 0 and cells["graceful@crash"]["failed"] > 0
    page = (run_dir / "report.html").read_text()
    table = page[page.index('<section id="matrix">') :]
    table = table[: table.index("</section>")]
    assert re.findall(r'<tr data-variant="([^"]+)">', table) == ["naive", "graceful"]
    assert re.findall(r'data-order="([^"]+)"', table) == orders
    failed = f"{cells['naive@crash']['failed']:,} / {cells['naive@crash']['requests']:,}"
    assert f'<a href="#order-naive@crash">{failed}</a>' in table


def test_profiles_per_cell_reach_the_embedded_backend(tmp_path: Path) -> None:
    # test_e2e_disruptions' _delete_all: replacements get ready 2.5 s after they start, a new
    # connection per request; 1.28's fallback to serving-terminating endpoints keeps prestop
    # serving, graceful opted out of it; 1.20 has no fallback: both drop.
    _, summary = _run(
        tmp_path,
        {
            "orders": ["prestop", "graceful"],
            "duration_s": 9,
            "embedded": FIXED_PROPAGATION,
            "app": {"readiness": {"initial_delay_s": 2.5}},
            "chaos": {"at_s": [3]},
            "matrix": {"actions": ["delete_all"], "profiles": ["1.20", "1.28"]},
        },
        "--new-connections",
    )
    failed = {order: cell["failed"] for order, cell in _cells(summary).items()}
    assert list(failed) == [
        "prestop@delete_all@1.20",
        "prestop@delete_all@1.28",
        "graceful@delete_all@1.20",
        "graceful@delete_all@1.28",
    ]
    assert failed["prestop@delete_all@1.28"] == 0
    assert failed["prestop@delete_all@1.20"] > 0
    assert failed["graceful@delete_all@1.20"] > 0 and failed["graceful@delete_all@1.28"] > 0
    # Each cell states the semantics it ran with, and only 1.28's graceful cell lost requests to
    # the readiness flip that opted it out of the fallback.
    orders = summary["orders"]
    assert "semantics" not in summary
    assert {o: orders[o]["semantics"]["fallback"] for o in failed} == {
        "prestop@delete_all@1.20": False,
        "prestop@delete_all@1.28": True,
        "graceful@delete_all@1.20": False,
        "graceful@delete_all@1.28": True,
    }
    assert [o for o in failed if "fallback_disabled" in orders[o]] == ["graceful@delete_all@1.28"]
