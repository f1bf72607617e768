"""Per-pod lifecycle rows, their durations and findings."""

from __future__ import annotations

import json

from helpers.analysis import ev, fail, ok

from harness.analysis import analyse_order, lifecycle_report, pod_lifecycles
from harness.analysis.causes import CAUSE_KEYS, UNEXPLAINED_KEY
from harness.analysis.phases import DELETION_PHASES
from harness.analysis.pods import ROW_KEYS
from harness.timeline import EventKind

# Written out of order on purpose: rows follow the sorted timeline.
TIMELINE = [
    ev(1000.0, EventKind.CHAOS_ACTION, None, action="delete_random", targets=["a"]),
    ev(1000.0, EventKind.DELETE_REQUESTED, "a", grace_period_s=30.0),
    ev(990.0, EventKind.POD_CREATED, "a"),
    ev(990.5, EventKind.POD_SCHEDULED, "a"),
    ev(990.75, EventKind.POD_NETWORK_READY, "a"),
    ev(991.0, EventKind.POD_CONTAINER_STARTED, "a"),
    ev(992.0, EventKind.POD_READY, "a"),
    ev(992.5, EventKind.POD_READY, "a"),  # a second pass of the probe: the first one counts
    ev(992.25, EventKind.ENDPOINT_ADDED, "a"),
    ev(996.0, EventKind.ENDPOINT_REMOVED, "a"),  # a readiness blip before the delete
    ev(996.5, EventKind.ENDPOINT_ADDED, "a"),
    ev(1000.05, EventKind.ENDPOINT_REMOVED, "a"),
    ev(1001.0, EventKind.REMOVAL_APPLIED, "a"),
    ev(1000.0, EventKind.PRESTOP_STARTED, "a"),
    ev(1003.0, EventKind.PRESTOP_ENDED, "a"),
    ev(1003.0, EventKind.SIGTERM_SENT, "a"),
    ev(1003.0, EventKind.APP_SIGTERM, "a"),
    ev(1003.01, EventKind.APP_READINESS_FAILED, "a"),
    ev(1003.02, EventKind.APP_LISTENER_CLOSED, "a"),
    ev(1003.5, EventKind.APP_DRAINED, "a"),
    ev(1003.6, EventKind.APP_EXIT, "a"),
    ev(1003.75, EventKind.EXITED, "a", code=1),
    # b: created later, replaces a, never deleted, never served.
    ev(1000.5, EventKind.POD_CREATED, "b"),
    ev(1002.5, EventKind.POD_READY, "b", replaces="a"),
    ev(1002.75, EventKind.ENDPOINT_ADDED, "b"),
    # c: deleted, killed at the end of a 5 s grace period, never exits on its own.
    ev(985.0, EventKind.POD_CREATED, "c"),
    ev(1010.0, EventKind.DELETE_REQUESTED, "c", grace_period_s=5.0),
    ev(1010.1, EventKind.ENDPOINT_REMOVED, "c"),
    ev(1010.1, EventKind.SIGTERM_SENT, "c"),
    ev(1015.0, EventKind.KILLED, "c"),
    # d: deleted as the run ended: nothing after the delete call.
    ev(1020.0, EventKind.DELETE_REQUESTED, "d"),
]
RECORDS = [
    ok(1002.0, pod="a"),
    ok(1003.01, pod="a"),  # a's last response
    fail(1003.1, "connection_refused", pod="a"),  # after a stopped listening
    fail(1003.02, "connection_reset", pod="a"),  # at the very moment it stopped listening
    fail(1003.0, "connection_reset", pod="a"),  # before
    ok(1011.0, pod="c"),
    ok(1005.0, pod="b"),
    ok(1006.0, pod="b"),
]
WINDOW = (990.0, 1030.0)


def rows() -> list[dict[str, object]]:
    return pod_lifecycles(TIMELINE, RECORDS, "prestop", WINDOW)


def test_one_row_per_pod_in_order_of_first_appearance_with_every_key() -> None:
    result = rows()
    assert [r["pod"] for r in result] == ["c", "a", "b", "d"]
    assert all(list(r) == list(ROW_KEYS) for r in result)
    assert all(r["order"] == "prestop" for r in result)
    json.dumps(result, allow_nan=False)


def test_a_fully_observed_pod() -> None:
    a = rows()[1]
    assert a == {
        "pod": "a",
        "order": "prestop",
        "created": 990.0,
        "scheduled": 990.5,
        "network_ready": 990.75,
        "container_started": 991.0,
        "ready": 992.0,
        "endpoint_added": 992.25,
        "delete_requested": 1000.0,
        "endpoint_removed": 1000.05,  # the first after the delete, not the blip at 996
        "removal_applied": 1001.0,
        "prestop_started": 1000.0,
        "prestop_ended": 1003.0,
        "sigterm": 1003.0,
        "readiness_failed": 1003.01,
        "listener_closed": 1003.02,
        "drained": 1003.5,
        "exit": 1003.6,
        "exited": 1003.75,
        "killed": None,
        "last_served": 1003.01,
        "exit_code": 1,
        "replaces": None,
        "grace_period_s": 30.0,
        "stopped_by": ["delete"],  # its delete_requested names no action: an older timeline
        "failed": 3,
        "failed_after_listener_closed": 2,
        # the reset at SIGTERM was in flight; the one just after, past routing's end, rode a
        # kept connection; the refusal came after the listener closed
        "cut_in_flight": 1,
        "sent_not_listening": 1,
        "cut_keepalive": 1,
        "unexplained_by_phase": dict.fromkeys(DELETION_PHASES, 0),
    }


def test_steps_not_observed_are_none_never_guessed() -> None:
    by_pod = {r["pod"]: r for r in rows()}
    b, d = by_pod["b"], by_pod["d"]
    assert (b["created"], b["ready"], b["replaces"], b["last_served"]) == (
        1000.5,
        1002.5,
        "a",
        1006.0,
    )
    assert b["scheduled"] is None and b["delete_requested"] is None and b["exited"] is None
    assert (b["failed"], b["failed_after_listener_closed"]) == (0, 0)
    assert b["stopped_by"] is None
    assert d["delete_requested"] == 1020.0 and d["stopped_by"] == ["delete"]
    counts = {"failed", "failed_after_listener_closed", *CAUSE_KEYS, UNEXPLAINED_KEY}
    given = {"pod", "order", "delete_requested", "stopped_by", *counts}
    assert all(d[k] is None for k in ROW_KEYS if k not in given)
    assert all(b[k] == 0 for k in CAUSE_KEYS) and not any(b[UNEXPLAINED_KEY].values())


def test_without_a_delete_the_last_removal_is_reported() -> None:
    timeline = [
        ev(990.0, EventKind.ENDPOINT_ADDED, "e"),
        ev(995.0, EventKind.ENDPOINT_REMOVED, "e"),
        ev(996.0, EventKind.ENDPOINT_ADDED, "e"),
        ev(997.0, EventKind.ENDPOINT_REMOVED, "e"),
    ]
    (e,) = pod_lifecycles(timeline, [], "naive")
    assert (e["endpoint_added"], e["endpoint_removed"]) == (990.0, 997.0)


def test_analyse_order_gives_the_same_rows() -> None:
    assert analyse_order("prestop", RECORDS, TIMELINE, WINDOW).pods == rows()


def test_durations_median_and_max() -> None:
    report = lifecycle_report(rows())
    assert report["durations_ms"] == {
        "create_to_ready": {"median": 2000.0, "max": 2000.0, "samples": 2},  # a 2000, b 2000
        "ready_to_endpoint_added": {"median": 250.0, "max": 250.0, "samples": 2},
        "delete_to_endpoint_removed": {"median": 75.0, "max": 100.0, "samples": 2},  # 50, 100
        "delete_to_sigterm": {"median": 1550.0, "max": 3000.0, "samples": 2},  # 3000, 100
        "sigterm_to_exit": {"median": 2825.0, "max": 4900.0, "samples": 2},  # 750, 4900 (killed)
        "delete_to_last_served": {"median": 2005.0, "max": 3010.0, "samples": 2},  # 3010, 1000
    }


def test_durations_without_samples_are_none() -> None:
    assert lifecycle_report([])["durations_ms"]["create_to_ready"] == {
        "median": None,
        "max": None,
        "samples": 0,
    }


def test_findings_in_words() -> None:
    findings = [(f["pod"], f["kind"], f["text"]) for f in lifecycle_report(rows())["findings"]]
    assert findings == [
        (
            "c",
            "killed",
            "c was killed (SIGKILL) 5.0 s after its delete call: it did not exit within its "
            "grace period of 5 s",
        ),
        ("a", "exit_code", "a exited with code 1, not 0"),
        ("d", "no_exit", "d was deleted but no exit was observed before the run ended"),
        (
            None,
            "killed_at_grace",
            "1 of 3 deleted pods did not exit on SIGTERM and were killed (SIGKILL) at the end of "
            "their grace period: no request failed, but each of those stops took the full grace "
            "period of 5 s (5.0 to 5.0 s from the delete call to the kill)",
        ),
        # a's three failures, each said with its cause and count (none left unexplained)
        (
            None,
            "cut_in_flight",
            "1 request was cut in flight: accepted before the pod got SIGTERM or exited, then "
            "closed with no answer (connection reset or remote disconnected). Per pod: a 1",
        ),
        (
            None,
            "sent_while_not_listening",
            "1 request was sent to a pod after it had stopped listening (closed its listener, or "
            "exited) while the Service still routed new connections to it (refused, reset or "
            "disconnected). Per pod: a 1",
        ),
        (
            None,
            "cut_keepalive",
            "1 request failed on kept-alive connections after the Service had stopped routing to "
            "the pod: connections opened before, which the pod closed (or lost as it exited) "
            "while its clients still reused them (connection reset or remote disconnected). "
            "Per pod: a 1",
        ),
    ]


def test_finding_listener_closed_before_routing_moved_on() -> None:
    timeline = [
        ev(1000.0, EventKind.DELETE_REQUESTED, "n"),
        ev(1000.0, EventKind.SIGTERM_SENT, "n"),
        ev(1000.01, EventKind.APP_LISTENER_CLOSED, "n"),
        ev(1000.06, EventKind.ENDPOINT_REMOVED, "n"),
        ev(1000.9, EventKind.REMOVAL_APPLIED, "n"),
        ev(1000.02, EventKind.EXITED, "n", code=0),
    ]
    records = [fail(1000.5, pod=None)]
    report = lifecycle_report(pod_lifecycles(timeline, records, "naive", (990.0, 1010.0)))
    assert [(f["kind"], f["text"]) for f in report["findings"]] == [
        (
            "closed_before_removal",
            "n stopped listening 890 ms before the Service stopped sending it new connections",
        ),
        (
            "sent_while_not_listening",
            "1 request was sent to a pod after it had stopped listening (closed its listener, or "
            "exited) while the Service still routed new connections to it (refused, reset or "
            "disconnected). Per pod: n 1",
        ),
    ]


def test_a_pods_file_without_the_causes_keeps_the_older_finding() -> None:
    (row,) = [r for r in rows() if r["pod"] == "a"]
    for key in (*CAUSE_KEYS, UNEXPLAINED_KEY):
        del row[key]
    kinds = [f["kind"] for f in lifecycle_report([row])["findings"]]
    assert kinds == ["exit_code", "failed_after_listener_closed"]
