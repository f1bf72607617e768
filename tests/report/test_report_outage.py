"""The report's Outage section (harness.report.outage): per variant and per deletion, the load
model, one sentence per variant on its rank; an older summary without the measures says so."""

from __future__ import annotations

from typing import Any

from harness.analysis.summary import summary_of_orders
from harness.report.outage import load_words, outage_section


def block(total_s: float, lost: float | None, model: str = "paced") -> dict[str, Any]:
    return {
        "load_model": model,
        "offered_rate_per_s": 350.0 if model == "paced" else None,
        "total_s": total_s,
        "longest_s": total_s,
        "stretches": 1 if total_s else 0,
        "per_deletion": [{"pod": "web-1", "ts": 1003.0, "no_success_s": total_s}],
        "user_wait_s": {"users": 10, "p50": total_s, "max": total_s},
        "failures_per_offered_s": lost,
    }


def entry(outage: dict[str, Any] | None, failed: int) -> dict[str, Any]:
    found: dict[str, Any] = {"requests": 3000, "failed": failed, "window": {"start": 1000.0}}
    if outage is not None:
        found["outage"] = outage
    found["per_deletion"] = []
    return found


def test_the_section_ranks_by_outage_and_says_why() -> None:
    summary = summary_of_orders(
        {"naive": entry(block(4.0, 4.1), 1435), "graceful": entry(block(2.5, 2.6), 896)}
    )
    html = str(outage_section(summary))
    assert html.index('data-order="graceful"') < html.index('data-order="naive"')
    assert "naive ranks 2nd of 2: 4.00 s without a successful request" in html
    assert "a longer outage than graceful (2.50 s)" in html
    assert 'id="load-model" data-value="paced"' in html
    assert "350 requests/s offered" in html
    assert "<td>web-1</td>" in html and ">3.0</td>" in html  # delete at 3.0 s into the run


def test_a_closed_loop_says_to_read_seconds_not_counts() -> None:
    model, words = load_words(block(1.0, None, model="closed"))
    assert model == "closed"
    assert "read the seconds" in words


def test_a_summary_without_outage_measures_says_so() -> None:
    summary = {"orders": {"naive": entry(None, 3)}}
    html = str(outage_section(summary))
    assert "no outage measures" in html
    assert 'data-value="unknown"' in html
