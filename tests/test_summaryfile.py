"""harness.summaryfile beyond load_summary (whose errors tests/test_gate.py checks)."""

from __future__ import annotations

import pytest

from harness.summaryfile import (
    OrderNotInSummaryError,
    SummaryInvalidError,
    order_entry,
    order_names,
)


def test_order_names_follow_the_scenario_then_the_rest() -> None:
    summary = {
        "scenario": {"orders": ["graceful", "missing", "naive"]},
        "orders": {"naive": {}, "extra": {}, "graceful": {}},
    }
    assert order_names(summary) == ["graceful", "naive", "extra"]
    assert order_names({"orders": {"b": {}, "a": {}}}) == ["b", "a"]


def test_order_entry_names_what_ran() -> None:
    summary = {"orders": {"naive": {"requests": 1}, "broken": 3}}
    assert order_entry(summary, "naive") == {"requests": 1}
    with pytest.raises(OrderNotInSummaryError, match="orders run: naive, broken"):
        order_entry(summary, "graceful")
    with pytest.raises(SummaryInvalidError, match=r"orders\.broken is not an object"):
        order_entry(summary, "broken")
    with pytest.raises(SummaryInvalidError, match="'orders' is missing"):
        order_entry({}, "naive")
