"""Propagation per deletion, its stages, and the recommendation."""

from __future__ import annotations

from typing import Any

from helpers.analysis import ev, fail, ok

from harness.analysis import build_order_summary
from harness.analysis.recommend import PropagationSample, recommend
from harness.timeline import EventKind

WINDOW = (990.0, 1050.0)
TIMELINE = [
    # a: controller 100 ms, proxy 1000 ms
    ev(1000.0, EventKind.DELETE_REQUESTED, "a"),
    ev(1000.1, EventKind.ENDPOINT_REMOVED, "a"),
    ev(1001.0, EventKind.REMOVAL_APPLIED, "a"),
    ev(1002.0, EventKind.EXITED, "a"),
    # b: controller 50 ms, proxy 1500 ms
    ev(1010.0, EventKind.DELETE_REQUESTED, "b"),
    ev(1010.05, EventKind.ENDPOINT_REMOVED, "b"),
    ev(1011.5, EventKind.REMOVAL_APPLIED, "b"),
    ev(1012.0, EventKind.EXITED, "b"),
    # c: controller only, 250 ms (a real cluster: kube-proxy's moment is not visible)
    ev(1020.0, EventKind.DELETE_REQUESTED, "c"),
    ev(1020.25, EventKind.ENDPOINT_REMOVED, "c"),
    ev(1021.0, EventKind.EXITED, "c"),
    # d: no removal observed at all
    ev(1030.0, EventKind.DELETE_REQUESTED, "d"),
    ev(1031.0, EventKind.EXITED, "d"),
]
RECORDS = [
    ok(1000.75, pod="a"),
    ok(1001.5, pod="a"),  # a's last response: 1500 ms after its delete
    fail(1001.6, "connection_reset", pod="a"),  # a failure is not a response it served
    ok(1009.0, pod="b"),  # b served nothing after its delete: no last_served sample
    ok(1020.5, pod="c"),  # 500 ms
    ok(1030.125, pod="d"),  # 125 ms
]


def test_propagation_per_deletion_and_stages() -> None:
    s = build_order_summary("naive", RECORDS, TIMELINE, WINDOW)
    per = [(d["pod"], d["propagation_ms"], d["propagation_to"]) for d in s["per_deletion"]]
    assert per == [
        ("a", 1000.0, "removal_applied"),
        ("b", 1500.0, "removal_applied"),
        ("c", 250.0, "endpoint_removed"),
        ("d", None, None),
    ]
    assert before_issue_21(s["propagation_ms"]) == {
        "p50": 1000.0,  # of 250, 1000, 1500: rank ceil(1.5) = 2
        "p99": 1500.0,
        "samples": 3,
        "reason": None,
        "stages": {
            "endpoint_removed": {"p50": 100.0, "p99": 250.0, "samples": 3, "reason": None},
            "removal_applied": {"p50": 1000.0, "p99": 1500.0, "samples": 2, "reason": None},
            "last_served": {"p50": 500.0, "p99": 1500.0, "samples": 3, "reason": None},
        },
    }


BLOCK_KEYS = ("p50", "p99", "samples", "reason")


def before_issue_21(block: dict[str, Any]) -> dict[str, Any]:
    """The propagation block's keys as they were before the data plane's blocks were added."""
    stages = {
        stage: {k: v for k, v in block["stages"][stage].items() if k in BLOCK_KEYS}
        for stage in ("endpoint_removed", "removal_applied", "last_served")
    }
    return {**{k: block[k] for k in BLOCK_KEYS}, "stages": stages}


def test_stages_without_samples_say_why() -> None:
    timeline = [ev(1000.0, EventKind.DELETE_REQUESTED, "a"), ev(1001.0, EventKind.EXITED, "a")]
    stages = build_order_summary("naive", [], timeline, WINDOW)["propagation_ms"]["stages"]
    assert {stage: stages[stage]["reason"] for stage in list(stages)[:3]} == {
        "endpoint_removed": "no deleted pod was seen leaving the endpoints after its delete call",
        "removal_applied": "no Service proxy removal was observed: no agent events",
        "last_served": "no deleted pod served a request after its delete call",
    }


def test_recommendation_margin_is_one_second_up_to_a_two_second_p99() -> None:
    samples = [PropagationSample(ms, EventKind.REMOVAL_APPLIED) for ms in (250.0, 1000.0, 1480.0)]
    rec = recommend(samples)
    assert (rec["prestop_sleep_s"], rec["shutdown_delay_s"]) == (3.0, 3.0)  # 2480 ms → 3 s
    assert "+ margin 1000 ms" in rec["basis"]
    assert "3 until removal applied" in rec["basis"]


def test_recommendation_exactly_on_a_whole_second_is_not_rounded_up() -> None:
    rec = recommend([PropagationSample(2000.0, EventKind.ENDPOINT_REMOVED)] * 3)
    assert rec["prestop_sleep_s"] == 3.0  # 2000 + 1000 = 3000 ms


def test_recommendation_margin_is_half_the_p99_above_two_seconds() -> None:
    rec = recommend(
        [PropagationSample(ms, EventKind.ENDPOINT_REMOVED) for ms in (100.0, 200.0, 9000.0)]
    )
    assert rec["prestop_sleep_s"] == 14.0  # 9000 + 4500 = 13500 ms → 14 s
    assert "+ margin 4500 ms" in rec["basis"]
    assert "3 until endpoint removed by the controller" in rec["basis"]


def test_recommendation_needs_three_samples() -> None:
    rec = recommend([PropagationSample(500.0, EventKind.REMOVAL_APPLIED)] * 2)
    assert rec == {
        "prestop_sleep_s": None,
        "shutdown_delay_s": None,
        "basis": None,
        "propagation_p99_ms": None,
        "margin_ms": None,
        "stage": None,
        "nodes": {},
        "slowest_node": None,
        "reason": "2 propagation sample(s) across all orders; at least 3 deletions with an "
        "observed endpoint removal are needed",
    }
