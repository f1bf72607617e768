"""summary.json's matrix block from hand-made order blocks and scenarios."""

from __future__ import annotations

from typing import Any

from harness.analysis.evidence import comparisons_block
from harness.analysis.matrix import matrix_block


def _entry(requests: int, failed: int, **phases: int) -> dict[str, Any]:
    return {
        "requests": requests,
        "failed": failed,
        "failures_by_phase": {"propagating": 0, "draining": 0, "after_exit": 0, **phases},
    }


SCENARIO = {
    "chaos": {"action": "delete_random"},
    "matrix": {"actions": ["scale_down", "crash"], "profiles": ["1.20", "v1.28.3"]},
}
ORDERS = {
    "naive@scale_down@1.20": _entry(900, 12, after_exit=9, propagating=3),
    "naive@scale_down@1.28": _entry(910, 10, after_exit=10),
    "naive@crash@1.20": _entry(880, 30, unknown=30),
    "naive@crash@1.28": _entry(870, 25, unknown=25),
    "graceful@scale_down@1.20": _entry(905, 0),
}


def test_every_cell_of_a_variant_is_listed_in_run_order_with_its_numbers() -> None:
    block = matrix_block(ORDERS, SCENARIO)
    assert block is not None
    assert block["actions"] == ["scale_down", "crash"]
    assert block["profiles"] == ["1.20", "1.28"]
    cells = block["cells"]
    assert [c["order"] for c in cells] == [
        f"{v}@{a}@{p}"
        for v in ("naive", "graceful")
        for a in ("scale_down", "crash")
        for p in ("1.20", "1.28")
    ]
    assert cells[0] == {
        "variant": "naive",
        "action": "scale_down",
        "profile": "1.20",
        "order": "naive@scale_down@1.20",
        "requests": 900,
        "failed": 12,
        "by_phase": {"after_exit": 9, "propagating": 3},
    }
    assert cells[4]["by_phase"] == {} and cells[4]["failed"] == 0
    # graceful's other cells did not run (the run was cut short): their place stays, all null
    assert [(c["requests"], c["failed"], c["by_phase"]) for c in cells[5:]] == [(None,) * 3] * 3


def test_a_matrix_without_actions_runs_the_chaos_sections_action() -> None:
    scenario = {"chaos": {"action": "evict"}, "matrix": {"actions": None, "profiles": ["1.28"]}}
    block = matrix_block({"graceful@evict@1.28": _entry(10, 1, draining=1)}, scenario)
    assert block is not None and block["actions"] == ["evict"]
    assert [c["order"] for c in block["cells"]] == ["graceful@evict@1.28"]


def test_no_matrix_no_block() -> None:
    plain = {"graceful": _entry(10, 0)}
    assert matrix_block(plain, {"chaos": {"action": "crash"}}) is None
    assert matrix_block(plain, {"matrix": {"actions": None, "profiles": None}}) is None


def test_profiles_are_null_when_the_matrix_lists_none() -> None:
    scenario = {"chaos": {}, "matrix": {"actions": ["crash"]}}
    block = matrix_block({"naive@crash": _entry(5, 5, unknown=5)}, scenario)
    assert block is not None and block["profiles"] is None
    assert block["cells"][0]["profile"] is None and block["cells"][0]["order"] == "naive@crash"


def test_cells_are_compared_only_under_the_same_action_and_profile() -> None:
    orders = {
        **ORDERS,
        "graceful@crash@1.20": _entry(890, 20),
        "naive": _entry(900, 9),
        "naive+fix": _entry(900, 0),
    }
    pairs = [(p["a"], p["b"]) for p in comparisons_block(orders)]
    assert pairs == [
        ("naive@scale_down@1.20", "graceful@scale_down@1.20"),
        ("naive@crash@1.20", "graceful@crash@1.20"),
        ("naive", "naive+fix"),  # orders that are no cells: every pair, as before
    ]
