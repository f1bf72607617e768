"""Per-order totals, classes, latency and the summary.json v1 shape."""

from __future__ import annotations

import json

import pytest
from helpers.analysis import ev, fail, ok
from helpers.summaries import ORDER_KEYS

from harness.analysis import build_order_summary, build_summary, summary_of_orders
from harness.classify import ERROR_CLASSES
from harness.timeline import EventKind

WINDOW = (990.0, 1010.0)
# D=1000, S=1000.5, R=1001 (proxy), X=1002 → window [1000, 1004]; "around" is [999, 1004].
TIMELINE = [
    ev(990.0, EventKind.ENDPOINT_ADDED, "a"),
    ev(990.0, EventKind.ENDPOINT_ADDED, "b"),
    ev(1000.0, EventKind.DELETE_REQUESTED, "a"),
    ev(1000.1, EventKind.ENDPOINT_REMOVED, "a"),
    ev(1000.5, EventKind.SIGTERM_SENT, "a"),
    ev(1001.0, EventKind.REMOVAL_APPLIED, "a"),
    ev(1002.0, EventKind.EXITED, "a"),
]
NO_LATENCY = {"p50": None, "p95": None, "p99": None, "max": None, "samples": 0}


def no_latency(reason: str) -> dict[str, object]:
    return {**NO_LATENCY, "reason": reason}


def test_totals_and_every_class_with_zeros() -> None:
    records = [ok(995.0 + i * 0.01) for i in range(12)] + [
        fail(1000.2, "connection_refused"),
        fail(1000.3, "connection_refused"),
        fail(1001.5, "connection_reset"),
        fail(1002.5, "timeout"),
        fail(1003.0, "http_5xx", pod="b"),
        fail(1003.5, "something_new"),  # not a known class: counted as "other"
    ]
    s = build_order_summary("naive", records, TIMELINE, WINDOW)
    assert list(s) == ORDER_KEYS
    assert (s["requests"], s["failed"], s["failure_rate"]) == (18, 6, 6 / 18)
    assert s["failures_by_class"] == {
        "connection_refused": 2,
        "connection_reset": 1,
        "remote_disconnected": 0,
        "timeout": 1,
        "http_5xx": 1,
        "http_other": 0,
        "other": 1,
    }
    assert list(s["failures_by_class"]) == list(ERROR_CLASSES)
    assert s["failures_by_phase"] == {
        "before_sigterm": 2,
        "propagating": 0,
        "draining": 1,
        "after_exit": 3,
        "unknown": 0,
        "no_ready_replica": 0,
        "unattributed": 0,
    }
    assert s["window"] == {"start": 990.0, "end": 1010.0}
    assert s["files"] == {
        "records": "records-naive.jsonl",
        "timeline": "timeline-naive.jsonl",
        "pods": "pods-naive.jsonl",
    }


def test_no_failures() -> None:
    s = build_order_summary("graceful", [ok(1000.0), ok(1001.0)], TIMELINE, WINDOW)
    assert (s["requests"], s["failed"], s["failure_rate"]) == (2, 0, 0.0)
    assert set(s["failures_by_class"].values()) == {0}
    assert set(s["failures_by_phase"].values()) == {0}
    assert s["per_deletion"][0]["failed"] == 0


def test_all_failures() -> None:
    records = [fail(1000.2), fail(1001.2), fail(1003.0), fail(1005.0)]
    s = build_order_summary("naive", records, TIMELINE, WINDOW)
    assert (s["requests"], s["failed"], s["failure_rate"]) == (4, 4, 1.0)
    assert s["failures_by_phase"]["before_sigterm"] == 1
    assert s["failures_by_phase"]["draining"] == 1
    assert s["failures_by_phase"]["after_exit"] == 1
    assert s["failures_by_phase"]["unattributed"] == 1
    assert s["latency_ms"] == no_latency("no request succeeded")
    assert s["latency_ms_around_deletions"] == no_latency("no request succeeded around a deletion")


def test_no_deletions_everything_is_unattributed() -> None:
    timeline = [ev(990.0, EventKind.ENDPOINT_ADDED, "a")]
    s = build_order_summary("naive", [fail(1000.0), ok(1000.5)], timeline, WINDOW)
    assert (s["deletions"], s["per_deletion"]) == (0, [])
    assert s["failures_by_phase"]["unattributed"] == 1
    assert s["latency_ms_around_deletions"] == no_latency("no deletion")
    none = {"p50": None, "p99": None, "samples": 0, "reason": "no deletion"}
    assert s["propagation_ms"] == {
        **none,
        "stages": {
            "endpoint_removed": none,
            "removal_applied": {**none, "by_method": {}, "by_node": {}},
            "last_served": none,
            "last_routed": {**none, "client_group": "host"},
        },
        "controller_to_proxy": {**none, "per_deletion": []},
        "agreement": {"reference": "nat_rules_host", "methods": {}, "reason": "no deletion"},
        "data_plane": {"measured": False, "methods": [], "reason": "no deletion"},
        "last_routed_check": {
            "bound": False,
            "checked": 0,
            "earlier_than_bound": 0,
            "pods": [],
            "reason": "no deletion",
        },
    }


def test_empty_input() -> None:
    s = build_order_summary("naive", [], [], WINDOW)
    assert (s["requests"], s["failed"], s["failure_rate"], s["deletions"]) == (0, 0, None, 0)
    assert s["latency_ms"] == no_latency("no request succeeded")
    json.dumps(s, allow_nan=False)


def test_records_may_be_any_iterable_and_are_read_once() -> None:
    records = (r for r in [ok(1000.0), fail(1000.2)])
    s = build_order_summary("naive", records, TIMELINE, WINDOW)
    assert (s["requests"], s["failed"]) == (2, 1)


def test_latency_overall_and_around_deletions() -> None:
    # 100 successes at 900..999 s with latencies 1..100 ms; then five around the deletion.
    records = [ok(900.0 + i, latency_ms=float(i + 1)) for i in range(100)]
    around = [
        ok(999.0, 500.0),  # D - 1 s: included
        ok(1000.5, 300.0),
        ok(1002.0, 700.0),
        ok(1004.0, 900.0),  # window end: included
        ok(1004.5, 2.5),  # after the window
    ]
    s = build_order_summary("naive", records + around + [fail(1000.2)], TIMELINE, WINDOW)
    # Overall, 105 samples sorted: 1, 2, 2.5, 3, ..., 100, 300, 500, 700, 900. Nearest rank:
    # p50 → 53rd (52), p95 → 100th (99), p99 → 104th (700).
    assert s["latency_ms"] == {
        "p50": 52.0,
        "p95": 99.0,
        "p99": 700.0,
        "max": 900.0,
        "samples": 105,
        "reason": None,
    }
    # Around [999, 1004]: the series' last request (100 ms, ends at 999.0) and four of the five.
    assert s["latency_ms_around_deletions"] == {
        "p50": 500.0,
        "p95": 900.0,
        "p99": 900.0,
        "max": 900.0,
        "samples": 5,
        "reason": None,
    }


def test_not_finite_values_never_reach_the_json() -> None:
    records = [ok(1000.0, float("nan")), ok(1000.1, 5.0), ok(1000.2, float("inf"))]
    s = build_order_summary("naive", records, TIMELINE, WINDOW)
    assert s["latency_ms"]["samples"] == 1
    assert (s["latency_ms"]["p50"], s["latency_ms"]["max"]) == (5.0, 5.0)
    assert s["requests"] == 3
    json.dumps(s, allow_nan=False)


def test_build_summary_shape_and_pooled_recommendation() -> None:
    timeline2 = [
        ev(2000.0, EventKind.DELETE_REQUESTED, "x"),
        ev(2001.5, EventKind.REMOVAL_APPLIED, "x"),
        ev(2002.0, EventKind.EXITED, "x"),
        ev(2010.0, EventKind.DELETE_REQUESTED, "y"),
        ev(2010.25, EventKind.ENDPOINT_REMOVED, "y"),
        ev(2011.0, EventKind.EXITED, "y"),
    ]
    summary = build_summary(
        {"naive": ([ok(1000.0)], TIMELINE, WINDOW), "graceful": ([], timeline2, (1990.0, 2020.0))}
    )
    assert list(summary) == [
        "schema_version",
        "orders",
        "recommendation",
        "comparisons",
        "ranking",
        "ranking_reason",
    ]
    assert summary["schema_version"] == 1
    assert list(summary["orders"]) == ["naive", "graceful"]
    # Samples: 1000 (naive, a), 1500 (x), 250 (y, controller only); p99 = 1500 ms,
    # margin = max(1000, 750) = 1000 → 2.5 s → 3 s.
    rec = summary["recommendation"]
    assert (rec["prestop_sleep_s"], rec["shutdown_delay_s"], rec["reason"]) == (3.0, 3.0, None)
    assert rec["basis"].startswith("p99 propagation 1500 ms over 3 deletions of all orders")
    assert "2 until removal applied by the Service proxy" in rec["basis"]
    assert "1 until endpoint removed by the controller" in rec["basis"]
    assert summary["orders"]["naive"] == build_order_summary(
        "naive", [ok(1000.0)], TIMELINE, WINDOW
    )
    json.dumps(summary, allow_nan=False)


def test_summary_of_orders_pools_order_blocks_as_build_summary_does() -> None:
    per_order = {"naive": ([fail(1000.2)], TIMELINE, WINDOW), "graceful": ([], TIMELINE, WINDOW)}
    blocks = {o: build_order_summary(o, *inputs) for o, inputs in per_order.items()}
    assert summary_of_orders(blocks) == build_summary(per_order)


@pytest.mark.parametrize("count", [0, 1, 2])
def test_build_summary_with_too_few_deletions_recommends_nothing(count: int) -> None:
    timeline = [
        e
        for i in range(count)
        for e in (
            ev(1000.0 + i, EventKind.DELETE_REQUESTED, f"p{i}"),
            ev(1000.5 + i, EventKind.ENDPOINT_REMOVED, f"p{i}"),
        )
    ]
    summary = build_summary({"naive": ([], timeline, WINDOW)})
    rec = summary["recommendation"]
    assert (rec["prestop_sleep_s"], rec["shutdown_delay_s"], rec["basis"]) == (None, None, None)
    assert rec["reason"].startswith(f"{count} propagation sample(s) across all orders; at least 3")
