"""orders.<v>.confidence and the top-level comparisons of summary.json (docs/summary-v1.md,
"Confidence and comparisons"): what a verdict rests on, counted in the deletion windows the
phases use."""

from __future__ import annotations

import pytest
from helpers.analysis import deletion, ev, fail, ok

from harness.analysis import build_order_summary, build_summary
from harness.analysis.confidence import fisher_exact, upper_bound_95
from harness.analysis.evidence import inconclusive_reason
from harness.timeline import EventKind

WINDOW = (990.0, 1030.0)
# Two deletions: a at D=1000 (R=1001, X=1002 -> window [1000, 1004]) and b at D=1020 (R=1020.5,
# X=1021 -> window [1020, 1023]).
TIMELINE = [
    *(ev(990.0, EventKind.ENDPOINT_ADDED, pod) for pod in "abc"),
    *deletion("a", 1000.0, 1000.5, 1001.0, 1002.0),
    *deletion("b", 1020.0, 1020.2, 1020.5, 1021.0),
]
NO_DELETION = [e for e in TIMELINE if e.kind == EventKind.ENDPOINT_ADDED]


def test_requests_and_failures_inside_the_deletion_windows_are_counted() -> None:
    records = [
        ok(995.0, pod="c"),  # before any deletion
        ok(1000.0, pod="c"),  # at D: inside (both ends are)
        ok(1004.0, pod="c"),  # at E: inside
        ok(1004.01, pod="c"),  # just after E: outside
        ok(1010.0, pod="c"),  # between the windows
        fail(1001.5),  # inside a's window
        fail(1015.0),  # outside every window: unattributed
        ok(1022.0, pod="c"),  # inside b's window
        fail(1023.0, pod="b"),  # at b's E
    ]
    s = build_order_summary("v", records, TIMELINE, WINDOW)
    assert s["confidence"] == {
        "deletions": 2,
        "requests_in_windows": 5,
        "failures_in_windows": 2,
        "upper_bound_95": upper_bound_95(3, 9),
        "upper_bound_95_in_windows": upper_bound_95(2, 5),
        "method": "exact binomial (Clopper-Pearson), one-sided 95 %",
        "inconclusive": None,
    }
    # The failures inside the windows are those the phases attribute to a deletion.
    assert s["failures_by_phase"]["unattributed"] == 1


def test_a_clean_variant_states_its_upper_bound() -> None:
    records = [ok(1000.0 + i * 0.01, pod="c") for i in range(300)]  # all inside a's window
    confidence = build_order_summary("v", records, TIMELINE, WINDOW)["confidence"]
    assert confidence["requests_in_windows"] == 300 and confidence["failures_in_windows"] == 0
    assert confidence["upper_bound_95"] == pytest.approx(0.00994, abs=1e-5)
    assert confidence["upper_bound_95_in_windows"] == confidence["upper_bound_95"]


@pytest.mark.parametrize(
    ("records", "timeline", "reason"),
    [
        ([ok(1001.0, pod="c")], NO_DELETION, "no deletion"),
        ([ok(995.0, pod="c"), ok(1010.0, pod="c")], TIMELINE, "no request inside any deletion"),
        ([], TIMELINE, "no request completed"),
    ],
)
def test_a_variant_that_could_not_meet_a_shutdown_is_inconclusive(
    records: list, timeline: list, reason: str
) -> None:
    confidence = build_order_summary("v", records, timeline, WINDOW)["confidence"]
    assert confidence["inconclusive"] is not None
    assert confidence["inconclusive"].startswith(reason)


def test_inconclusive_reasons_in_order() -> None:
    assert inconclusive_reason(0, 0, 0) == "no request completed"
    assert inconclusive_reason(10, 0, 0) == "no deletion"
    assert inconclusive_reason(10, 3, 0) == "no request inside any deletion window"
    assert inconclusive_reason(10, 3, 1) is None
    assert "does not count" in str(inconclusive_reason(10, 3, None))  # an older summary
    assert "does not record" in str(inconclusive_reason(10, None, None))


def test_comparisons_cover_every_pair_with_fishers_test() -> None:
    clean = [ok(1000.0 + i * 0.01, pod="c") for i in range(60)]
    dropped = clean[:40] + [fail(1001.5 + i * 0.01) for i in range(20)]
    summary = build_summary(
        {
            "graceful": (clean, TIMELINE, WINDOW),
            "naive": (dropped, TIMELINE, WINDOW),
            "prestop": ([*clean[:59], fail(1001.5)], TIMELINE, WINDOW),
        }
    )
    pairs = summary["comparisons"]
    assert [(p["a"], p["b"]) for p in pairs] == [
        ("graceful", "naive"),
        ("graceful", "prestop"),
        ("naive", "prestop"),
    ]
    first = pairs[0]
    assert first == {
        "a": "graceful",
        "b": "naive",
        "failed_a": 0,
        "requests_a": 60,
        "failed_b": 20,
        "requests_b": 60,
        "p_value": fisher_exact(0, 60, 20, 60),
        "test": "Fisher's exact test, two-sided",
        "significant": True,
    }
    assert pairs[1]["significant"] is False and pairs[1]["p_value"] == 1.0  # 0/60 vs 1/60


def test_one_variant_has_nothing_to_compare() -> None:
    summary = build_summary({"only": ([ok(1001.0, pod="c")], TIMELINE, WINDOW)})
    assert summary["comparisons"] == []
