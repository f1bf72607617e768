"""Stops that are not one delete per pod: crashes, a pod stopped more than once, and the action
each stop is grouped by (docs/summary-v1.md, "Deletions and their moments", ``by_action``)."""

from __future__ import annotations

from helpers.analysis import ev, fail

from harness.analysis import build_order_summary, pod_lifecycles
from harness.analysis.deletions import find_deletions
from harness.analysis.endpoint_history import NoReadyIntervals
from harness.analysis.index import index_timeline
from harness.analysis.phases import DELETION_PHASES, Attributor
from harness.timeline import EventKind, TimelineEvent

WINDOW = (990.0, 1020.0)
READY = [ev(990.0, EventKind.ENDPOINT_ADDED, p) for p in ("a", "b", "c")]
# "a" crashes twice (restarted in between), then is evicted; a crash after its delete call is
# part of that shutdown. Windows: crash 1 [1000, 1004], crash 2 [1006, 1009.5], evict
# [1009, 1012].
CRASH_1 = [
    ev(1000.0, EventKind.POD_CRASHED, "a", method="signal"),
    ev(1000.01, EventKind.EXITED, "a", code=137),
    ev(1001.5, EventKind.ENDPOINT_REMOVED, "a"),
    ev(1002.0, EventKind.REMOVAL_APPLIED, "a"),
]
AFTER_CRASH_1 = [
    ev(1003.0, EventKind.CONTAINER_RESTARTED, "a", restart_count=1),
    ev(1004.5, EventKind.ENDPOINT_ADDED, "a"),
    ev(1006.0, EventKind.POD_CRASHED, "a", method="signal"),
    ev(1006.02, EventKind.EXITED, "a", code=137),
    ev(1007.0, EventKind.ENDPOINT_REMOVED, "a"),
    ev(1007.5, EventKind.REMOVAL_APPLIED, "a"),
    ev(1008.5, EventKind.ENDPOINT_ADDED, "a"),
    ev(1009.0, EventKind.DELETE_REQUESTED, "a", stopped_by="evict", grace_period_s=30.0),
    ev(1009.05, EventKind.ENDPOINT_REMOVED, "a"),
    ev(1009.2, EventKind.SIGTERM_SENT, "a"),
    ev(1009.6, EventKind.REMOVAL_APPLIED, "a"),
    ev(1010.0, EventKind.EXITED, "a", code=0),
    ev(1011.0, EventKind.POD_CRASHED, "a"),
]
STOPS = [*READY, *CRASH_1, *AFTER_CRASH_1]


def attributor(timeline: list[TimelineEvent]) -> Attributor:
    index = index_timeline(timeline)
    return Attributor(find_deletions(index, WINDOW[1]), NoReadyIntervals(index.events))


def test_each_crash_and_the_delete_after_them_is_a_stop_with_its_own_moments() -> None:
    crash_1, crash_2, evict = find_deletions(index_timeline(STOPS), WINDOW[1])
    assert [d.stopped_by for d in (crash_1, crash_2, evict)] == ["crash", "crash", "evict"]
    assert (crash_1.requested, crash_1.sigterm, crash_1.removal, crash_1.gone) == (
        1000.0,
        None,  # SIGKILL: no SIGTERM
        1002.0,
        1000.0,  # SIGKILL cannot be caught: gone at the kill, before its exit is seen
    )
    assert (crash_1.endpoint_removed, crash_1.window_end, crash_1.window_open) == (
        1001.5,
        1004.0,
        False,
    )
    assert crash_1.basis == {
        "delete": "pod_crashed",
        "sigterm": None,
        "removal": "removal_applied",
        "exit": "pod_crashed",
    }
    assert crash_1.grace_period_s is None
    assert (crash_2.requested, crash_2.removal, crash_2.gone, crash_2.window_end) == (
        1006.0,
        1007.5,
        1006.0,
        1009.5,
    )
    assert (evict.requested, evict.sigterm, evict.removal, evict.gone) == (
        1009.0,
        1009.2,
        1009.6,
        1010.0,
    )
    assert evict.grace_period_s == 30.0
    # A crash's endpoint leaves when readiness fails: no delete call's propagation.
    assert (crash_1.propagation_ms, crash_1.propagation_to) == (None, None)
    assert evict.propagation_ms == 600.0


def test_a_stop_never_borrows_a_moment_of_the_pods_next_stop() -> None:
    """Crash 1's removal not seen: the removal of crash 2 is not its; its window, open, ends at
    crash 2's D rather than at the run's end."""
    seen_once = {(EventKind.ENDPOINT_REMOVED, 1001.5), (EventKind.REMOVAL_APPLIED, 1002.0)}
    timeline = [e for e in STOPS if (e.kind, e.ts) not in seen_once]
    crash_1, crash_2, _ = find_deletions(index_timeline(timeline), WINDOW[1])
    assert crash_1.removal is None and crash_1.basis["removal"] is None
    assert (crash_1.window_end, crash_1.window_open) == (1006.0, True)
    assert crash_2.removal == 1007.5
    a = attributor(timeline)
    assert a.attribute(1005.0, "a") == ("after_exit", 0)
    assert a.attribute(1006.5, "a") == ("after_exit", 1)


def test_a_crash_is_after_exit_once_the_process_is_gone_and_each_failure_finds_its_stop() -> None:
    a = attributor(STOPS)
    assert a.attribute(1000.005, "a") == ("after_exit", 0)  # killed, its exit not yet seen
    assert a.attribute(1001.0, "a") == ("after_exit", 0)
    assert a.attribute(1003.9, None) == ("after_exit", 0)
    assert a.attribute(1004.5, "a") == ("unattributed", None)  # between crash 1 and crash 2
    assert a.attribute(1006.5, "a") == ("after_exit", 1)
    # Crash 2's window still holds 1009.3, but the pod's latest stop holding it is the evict.
    assert a.attribute(1009.3, "a") == ("propagating", 2)
    assert a.attribute(1011.5, "a") == ("after_exit", 2)  # the late crash started no stop


def test_a_crash_of_every_ready_pod_is_no_ready_replica_and_still_the_crashs() -> None:
    timeline = [
        ev(990.0, EventKind.ENDPOINT_ADDED, "a"),
        *CRASH_1,
        ev(1004.5, EventKind.ENDPOINT_ADDED, "a"),
    ]
    a = attributor(timeline)
    assert a.attribute(1001.7, "a") == ("no_ready_replica", 0)
    assert a.attribute(1001.2, "a") == ("after_exit", 0)


RECORDS = [
    fail(1001.0),  # crash 1, after exit (the only window then)
    fail(1006.5, "connection_reset"),  # crash 2, after exit
    fail(1009.3, pod="a"),  # the evict, propagating
    fail(1015.0),  # outside every window
]


def test_by_action_groups_the_stops_and_their_failures_and_leaves_the_rest_out() -> None:
    summary = build_order_summary("naive", RECORDS, STOPS, WINDOW)
    assert summary["deletions"] == 3
    assert [d["stopped_by"] for d in summary["per_deletion"]] == ["crash", "crash", "evict"]
    assert [d["propagation_ms"] for d in summary["per_deletion"]] == [None, None, 600.0]
    assert summary["by_action"] == {
        "crash": {
            "stops": 2,
            "failed": 2,
            "by_phase": {**dict.fromkeys(DELETION_PHASES, 0), "after_exit": 2},
        },
        "evict": {
            "stops": 1,
            "failed": 1,
            "by_phase": {**dict.fromkeys(DELETION_PHASES, 0), "propagating": 1},
        },
    }
    assert summary["failures_by_phase"]["unattributed"] == 1
    # A crash has no SIGTERM by nature, and no delete call: neither is counted as missing.
    assert summary["phase_basis"]["missing"] == {"sigterm": 0, "removal": 0, "exit": 0}
    assert summary["propagation_ms"]["samples"] == 1


def test_by_action_is_empty_when_nothing_stopped_and_delete_when_the_event_names_none() -> None:
    assert build_order_summary("naive", [fail(1001.0)], READY, WINDOW)["by_action"] == {}
    timeline = [*READY, ev(1000.0, EventKind.DELETE_REQUESTED, "b")]
    by_action = build_order_summary("naive", [fail(1000.5)], timeline, WINDOW)["by_action"]
    assert list(by_action) == ["delete"]
    assert (by_action["delete"]["stops"], by_action["delete"]["failed"]) == (1, 1)


def test_a_pods_row_names_every_action_that_stopped_it_and_adds_their_failures() -> None:
    rows = {r["pod"]: r for r in pod_lifecycles(STOPS, RECORDS, "naive", WINDOW)}
    a = rows["a"]
    assert a["stopped_by"] == ["crash", "crash", "evict"]
    assert a["failed"] == 3
    assert a["removal_applied"] == 1009.6  # the delete's data plane moment, not a crash's
    assert rows["b"]["stopped_by"] is None and rows["b"]["failed"] == 0
