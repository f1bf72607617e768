"""Failure attribution: which deletion, which phase (docs/summary-v1.md, "Phases")."""

from __future__ import annotations

import math

from helpers.analysis import ev, fail

from harness.analysis import build_order_summary
from harness.analysis.deletions import find_deletions
from harness.analysis.endpoint_history import NoReadyIntervals
from harness.analysis.index import index_timeline
from harness.analysis.phases import Attributor
from harness.timeline import EventKind, TimelineEvent

WINDOW = (990.0, 1010.0)
READY = [ev(990.0, EventKind.ENDPOINT_ADDED, p) for p in ("a", "b", "c")]


def attributor(timeline: list[TimelineEvent], run_end: float | None = 1010.0) -> Attributor:
    index = index_timeline(timeline)
    return Attributor(find_deletions(index, run_end), NoReadyIntervals(index.events))


def phase(timeline: list[TimelineEvent], t: float, pod: str | None = None) -> str:
    return attributor(timeline).attribute(t, pod)[0]


# D=1000, S=1000.5, controller removal 1000.1, proxy removal R=1001, X=1002 → window [1000, 1004].
FULL = [
    *READY,
    ev(1000.0, EventKind.DELETE_REQUESTED, "a", grace_period_s=30.0),
    ev(1000.1, EventKind.ENDPOINT_REMOVED, "a"),
    ev(1000.5, EventKind.SIGTERM_SENT, "a"),
    ev(1001.0, EventKind.REMOVAL_APPLIED, "a"),
    ev(1002.0, EventKind.EXITED, "a", code=0),
]


def test_each_phase_of_a_full_deletion() -> None:
    assert phase(FULL, 999.9) == "unattributed"
    assert phase(FULL, 1000.0) == "before_sigterm"
    assert phase(FULL, 1000.4) == "before_sigterm"
    assert phase(FULL, 1000.5) == "propagating"
    assert phase(FULL, 1000.9) == "propagating"  # the controller had removed it, the proxy not
    assert phase(FULL, 1001.0) == "draining"
    assert phase(FULL, 1001.9) == "draining"
    assert phase(FULL, 1002.0) == "after_exit"
    assert phase(FULL, 1004.0) == "after_exit"  # the window's end is included
    assert phase(FULL, 1004.01) == "unattributed"


def test_window_and_moments_of_a_full_deletion() -> None:
    (d,) = find_deletions(index_timeline(FULL), 1010.0)
    assert (d.pod, d.requested, d.sigterm, d.removal, d.gone) == (
        "a",
        1000.0,
        1000.5,
        1001.0,
        1002.0,
    )
    assert (d.window_end, d.window_open, d.grace_period_s) == (1004.0, False, 30.0)
    assert (d.endpoint_removed, d.removal_applied) == (1000.1, 1001.0)


def test_controller_removal_is_r_where_no_proxy_event_exists() -> None:
    timeline = [e for e in FULL if e.kind != EventKind.REMOVAL_APPLIED]
    assert phase(timeline, 1000.5) == "draining"  # R = 1000.1 < S
    (d,) = find_deletions(index_timeline(timeline), 1010.0)
    assert d.removal == 1000.1
    assert d.window_end == 1004.0  # max(R, X) + 2 s


def test_prestop_order_removal_before_sigterm_is_still_before_sigterm() -> None:
    # preStop sleep: routing moves on at 1001, SIGTERM only at 1005, exit at 1006.
    timeline = [
        *READY,
        ev(1000.0, EventKind.DELETE_REQUESTED, "a"),
        ev(1001.0, EventKind.REMOVAL_APPLIED, "a"),
        ev(1005.0, EventKind.SIGTERM_SENT, "a"),
        ev(1006.0, EventKind.EXITED, "a"),
    ]
    assert phase(timeline, 1002.0) == "before_sigterm"
    assert phase(timeline, 1005.0) == "draining"  # propagating is empty: R <= S
    assert phase(timeline, 1006.0) == "after_exit"
    assert phase(timeline, 1008.0) == "after_exit"
    assert phase(timeline, 1008.1) == "unattributed"


def test_killed_counts_as_exit_and_the_earlier_of_exited_and_killed_wins() -> None:
    timeline = [
        *READY,
        ev(1000.0, EventKind.DELETE_REQUESTED, "a"),
        ev(1000.0, EventKind.SIGTERM_SENT, "a"),
        ev(1000.6, EventKind.REMOVAL_APPLIED, "a"),
        ev(1030.0, EventKind.KILLED, "a"),
        ev(1030.2, EventKind.EXITED, "a", code=137),
    ]
    (d,) = find_deletions(index_timeline(timeline), 1040.0)
    assert (d.gone, d.window_end) == (1030.0, 1032.0)
    assert phase(timeline, 1029.9) == "draining"
    assert phase(timeline, 1030.0) == "after_exit"


def test_missing_sigterm_leaves_the_phase_unknown_until_exit() -> None:
    # No SIGTERM from the platform and no line from the app: whether a failure came before or
    # after it is not known, so it is not put in a phase by assumption.
    timeline = [e for e in FULL if e.kind != EventKind.SIGTERM_SENT]
    assert phase(timeline, 1000.0) == "unknown"
    assert phase(timeline, 1001.5) == "unknown"
    assert phase(timeline, 1002.0) == "after_exit"
    (d,) = find_deletions(index_timeline(timeline), 1010.0)
    assert (d.sigterm, d.window_end, d.window_open) == (None, 1004.0, False)


def test_the_apps_own_sigterm_line_stands_in_for_a_missing_sigterm_sent() -> None:
    timeline = [e for e in FULL if e.kind != EventKind.SIGTERM_SENT]
    timeline.append(ev(1000.6, EventKind.APP_SIGTERM, "a"))
    (d,) = find_deletions(index_timeline(timeline), 1010.0)
    assert d.sigterm == 1000.6
    assert phase(timeline, 1000.55) == "before_sigterm"
    assert phase(timeline, 1000.6) == "propagating"


def test_missing_exit_keeps_the_window_open_until_the_run_ends() -> None:
    timeline = [e for e in FULL if e.kind != EventKind.EXITED]
    (d,) = find_deletions(index_timeline(timeline), 1010.0)
    assert (d.gone, d.window_end, d.window_open) == (None, 1010.0, True)
    assert phase(timeline, 1000.9) == "propagating"  # before R: X does not bound it
    # After routing moved on, draining or after_exit: without X, not known which.
    assert phase(timeline, 1009.0) == "unknown"
    assert phase(timeline, 1010.0) == "unknown"
    assert phase(timeline, 1010.5) == "unattributed"
    # Without a run end the window never closes.
    assert attributor(timeline, run_end=None).attribute(5000.0, None) == ("unknown", 0)
    (unbounded,) = find_deletions(index_timeline(timeline), None)
    assert unbounded.window_end == math.inf


def test_missing_removal_leaves_the_phase_after_sigterm_unknown_and_the_window_open() -> None:
    timeline = [
        e for e in FULL if e.kind not in (EventKind.ENDPOINT_REMOVED, EventKind.REMOVAL_APPLIED)
    ]
    (d,) = find_deletions(index_timeline(timeline), 1010.0)
    assert (d.removal, d.window_end, d.window_open) == (None, 1010.0, True)
    assert phase(timeline, 1000.4) == "before_sigterm"
    assert phase(timeline, 1001.5) == "unknown"  # propagating or draining: not seen which
    assert phase(timeline, 1008.0) == "after_exit"


def test_nothing_but_the_delete_call_is_unknown_until_the_run_ends() -> None:
    timeline = [*READY, ev(1000.0, EventKind.DELETE_REQUESTED, "a")]
    assert phase(timeline, 1000.0) == "unknown"
    assert phase(timeline, 1010.0) == "unknown"
    assert phase(timeline, 1010.1) == "unattributed"


def test_an_endpoint_already_removed_before_the_delete_is_r() -> None:
    # "a" failed readiness at 995 and was taken out; it never came back before the delete.
    timeline = [
        *READY,
        ev(995.0, EventKind.ENDPOINT_REMOVED, "a"),
        ev(1000.0, EventKind.DELETE_REQUESTED, "a"),
        ev(1000.5, EventKind.SIGTERM_SENT, "a"),
        ev(1002.0, EventKind.EXITED, "a"),
    ]
    (d,) = find_deletions(index_timeline(timeline), 1010.0)
    assert (d.removal, d.endpoint_removed, d.window_end) == (995.0, None, 1004.0)
    assert d.propagation_ms is None  # nothing propagated because of this delete
    assert phase(timeline, 1000.7) == "draining"


def test_a_readiness_flap_before_the_delete_does_not_count_as_removal() -> None:
    timeline = [
        *READY,
        ev(995.0, EventKind.ENDPOINT_REMOVED, "a"),
        ev(996.0, EventKind.ENDPOINT_ADDED, "a"),
        ev(1000.0, EventKind.DELETE_REQUESTED, "a"),
        ev(1000.3, EventKind.ENDPOINT_REMOVED, "a"),
        ev(1002.0, EventKind.EXITED, "a"),
    ]
    (d,) = find_deletions(index_timeline(timeline), 1010.0)
    assert (d.removal, d.endpoint_removed, d.propagation_ms) == (1000.3, 1000.3, 300.0)


def test_a_second_delete_of_the_same_pod_is_the_same_deletion() -> None:
    timeline = [*FULL, ev(1001.5, EventKind.DELETE_REQUESTED, "a")]
    (d,) = find_deletions(index_timeline(timeline), 1010.0)
    assert d.requested == 1000.0


# "a": D=1000, window [1000, 1004]; "b": D=1001, S=1001.2, R=1002, X=1003, window [1001, 1005].
OVERLAP = [
    *FULL,
    ev(1001.0, EventKind.DELETE_REQUESTED, "b"),
    ev(1001.2, EventKind.SIGTERM_SENT, "b"),
    ev(1002.0, EventKind.REMOVAL_APPLIED, "b"),
    ev(1003.0, EventKind.EXITED, "b"),
]


def test_overlapping_deletions_prefer_the_failed_pods_own_deletion() -> None:
    a = attributor(OVERLAP)
    assert a.attribute(1002.5, "a") == ("after_exit", 0)
    assert a.attribute(1002.5, "b") == ("draining", 1)
    assert a.attribute(1000.7, "b") == ("propagating", 0)  # b's window has not begun


def test_overlapping_deletions_otherwise_take_the_most_recent_open_window() -> None:
    a = attributor(OVERLAP)
    assert a.attribute(1000.7, None) == ("propagating", 0)
    assert a.attribute(1002.5, None) == ("draining", 1)
    assert a.attribute(1004.5, None) == ("after_exit", 1)
    assert a.attribute(1004.5, "a") == ("after_exit", 1)  # a's own window has closed
    assert a.attribute(1005.5, None) == ("unattributed", None)
    assert a.attribute(1002.5, "c") == ("draining", 1)  # c was not deleted


def test_a_request_in_flight_at_an_older_deletions_exit_is_that_deletions() -> None:
    """b's delete is the newest, but a's exit (1002.0) cut the request: it is a's, after exit.
    Without the request's start (older records) the newest window keeps it."""
    a = attributor(OVERLAP)
    assert a.attribute(1002.01, None, start=1001.8) == ("after_exit", 0)
    assert a.attribute(1002.01, None) == ("draining", 1)
    # b's SIGTERM (1001.2) is the latest moment in flight: b's, propagating.
    assert a.attribute(1001.3, None, start=1000.9) == ("propagating", 1)
    # Nothing cut it while in flight: the newest open window, as before.
    assert a.attribute(1002.5, None, start=1002.4) == ("draining", 1)
    # The pod that served it still comes first.
    assert a.attribute(1002.01, "b", start=1001.8) == ("draining", 1)


def test_an_older_window_still_open_takes_over_when_the_newer_one_closes() -> None:
    timeline = [
        *READY,
        ev(1000.0, EventKind.DELETE_REQUESTED, "a"),
        ev(1000.5, EventKind.SIGTERM_SENT, "a"),
        ev(1001.0, EventKind.REMOVAL_APPLIED, "a"),
        ev(1008.0, EventKind.EXITED, "a"),  # window [1000, 1010]
        ev(1001.0, EventKind.DELETE_REQUESTED, "b"),
        ev(1001.2, EventKind.SIGTERM_SENT, "b"),
        ev(1002.0, EventKind.REMOVAL_APPLIED, "b"),
        ev(1003.0, EventKind.EXITED, "b"),  # window [1001, 1005]
    ]
    a = attributor(timeline, run_end=1020.0)
    assert a.attribute(1004.0, None) == ("after_exit", 1)
    assert a.attribute(1006.0, None) == ("draining", 0)
    assert a.attribute(1010.0, None) == ("after_exit", 0)
    assert a.attribute(1010.5, None) == ("unattributed", None)


# All endpoints go: a and b are deleted together; c becomes ready at 1003.
DELETE_ALL = [
    ev(990.0, EventKind.ENDPOINT_ADDED, "a"),
    ev(990.0, EventKind.ENDPOINT_ADDED, "b"),
    ev(1000.0, EventKind.DELETE_REQUESTED, "a"),
    ev(1000.05, EventKind.DELETE_REQUESTED, "b"),
    ev(1000.1, EventKind.ENDPOINT_REMOVED, "a"),
    ev(1000.2, EventKind.ENDPOINT_REMOVED, "b"),
    ev(1000.3, EventKind.SIGTERM_SENT, "a"),
    ev(1000.3, EventKind.SIGTERM_SENT, "b"),
    ev(1000.4, EventKind.EXITED, "a"),
    ev(1000.4, EventKind.EXITED, "b"),
    ev(1003.0, EventKind.ENDPOINT_ADDED, "c"),
]


def test_no_ready_replica_is_checked_first_and_still_counts_for_the_deletion() -> None:
    a = attributor(DELETE_ALL)
    assert a.attribute(1000.15, None) == ("before_sigterm", 1)  # b was still an endpoint
    assert a.attribute(1000.2, None) == ("no_ready_replica", 1)
    assert a.attribute(1002.0, "a") == ("no_ready_replica", 0)
    assert a.attribute(1002.0, None) == ("no_ready_replica", 1)
    assert a.attribute(1002.9, None) == ("no_ready_replica", None)  # windows ended at 1002.4
    assert a.attribute(1003.0, None) == ("unattributed", None)  # c is ready


def test_no_ready_replica_applies_outside_deletion_windows_too() -> None:
    timeline = [
        ev(990.0, EventKind.ENDPOINT_ADDED, "a"),
        ev(995.0, EventKind.ENDPOINT_REMOVED, "a"),
    ]
    a = attributor(timeline)
    assert a.attribute(994.9, None) == ("unattributed", None)
    assert a.attribute(996.0, None) == ("no_ready_replica", None)


def test_nothing_is_no_ready_before_the_first_endpoint_event_or_without_any() -> None:
    late = [ev(1000.0, EventKind.ENDPOINT_ADDED, "a")]
    assert attributor(late).attribute(999.0, None) == ("unattributed", None)
    assert attributor([]).attribute(999.0, None) == ("unattributed", None)


def test_a_pod_first_seen_being_removed_was_an_endpoint_before() -> None:
    # No additions were recorded; a and b must have been endpoints, so the set empties at 1000.2.
    timeline = [
        ev(1000.1, EventKind.ENDPOINT_REMOVED, "a"),
        ev(1000.2, EventKind.ENDPOINT_REMOVED, "b"),
    ]
    a = attributor(timeline)
    assert a.attribute(1000.15, None) == ("unattributed", None)
    assert a.attribute(1000.25, None) == ("no_ready_replica", None)


def test_per_deletion_counts_by_phase() -> None:
    records = [
        fail(1000.2),  # a: before_sigterm
        fail(1000.7),  # a: propagating
        fail(1002.5, pod="a"),  # a: after_exit (its own deletion)
        fail(1002.5),  # b (most recent): draining
        fail(1004.5),  # b: after_exit
        fail(1009.0),  # outside both windows
    ]
    summary = build_order_summary("naive", records, OVERLAP, WINDOW)
    assert summary["deletions"] == 2
    assert [(d["pod"], d["ts"], d["failed"]) for d in summary["per_deletion"]] == [
        ("a", 1000.0, 3),
        ("b", 1001.0, 2),
    ]
    assert summary["per_deletion"][0]["by_phase"] == {
        "before_sigterm": 1,
        "propagating": 1,
        "draining": 0,
        "after_exit": 1,
        "unknown": 0,
        "no_ready_replica": 0,
    }
    assert summary["per_deletion"][1]["by_phase"] == {
        "before_sigterm": 0,
        "propagating": 0,
        "draining": 1,
        "after_exit": 1,
        "unknown": 0,
        "no_ready_replica": 0,
    }
    assert summary["failures_by_phase"] == {
        "before_sigterm": 1,
        "propagating": 1,
        "draining": 1,
        "after_exit": 2,
        "unknown": 0,
        "no_ready_replica": 0,
        "unattributed": 1,
    }
    first = summary["per_deletion"][0]
    assert (first["sigterm"], first["removal"], first["exit"]) == (1000.5, 1001.0, 1002.0)
    assert (first["window_end"], first["window_open"]) == (1004.0, False)
