"""Every phase attribution says what it rests on: the app's own lines or the platform's events,
and a phase that neither delimits is "unknown", never guessed (docs/summary-v1.md, "Phase basis").
"""

from __future__ import annotations

from typing import Any

from helpers.analysis import ev, fail, ok

from harness.analysis import build_order_summary, lifecycle_report, pod_lifecycles
from harness.timeline import EventKind, TimelineEvent

WINDOW = (990.0, 1020.0)
READY = [ev(990.0, EventKind.ENDPOINT_ADDED, p) for p in ("a", "b")]
# An app that writes no lines, on the embedded backend: the kubelet's SIGTERM (exact), the
# Service proxy's removal, the exit. D=1000, S=1000.0, R=1000.6, X=1000.05.
PLATFORM_ONLY = [
    *READY,
    ev(1000.0, EventKind.DELETE_REQUESTED, "a", grace_period_s=30.0),
    ev(1000.0, EventKind.SIGTERM_SENT, "a", pid=4242),
    ev(1000.05, EventKind.EXITED, "a", code=-15, signal=15),
    ev(1000.1, EventKind.ENDPOINT_REMOVED, "a"),
    ev(1000.6, EventKind.REMOVAL_APPLIED, "a"),
]
# The sample app on a real cluster: no kubelet SIGTERM, the app's own line; the controller's
# removal (the proxy's moment is not visible there).
WITH_APP_LINE = [
    *READY,
    ev(1000.0, EventKind.DELETE_REQUESTED, "a", grace_period_s=30.0),
    ev(1000.3, EventKind.ENDPOINT_REMOVED, "a"),
    ev(1000.4, EventKind.APP_SIGTERM, "a", signal="SIGTERM"),
    ev(1000.5, EventKind.APP_LISTENER_CLOSED, "a"),
    ev(1001.0, EventKind.EXITED, "a", code=0),
]


def summary(timeline: list[TimelineEvent], *failures: float) -> dict[str, Any]:
    records = [ok(995.0), *(fail(t) for t in failures)]
    return build_order_summary("o", records, timeline, WINDOW)


def test_a_silent_app_is_attributed_from_platform_events_alone() -> None:
    s = summary(PLATFORM_ONLY, 1000.2)  # after exit, while the proxy still routed to it
    (d,) = s["per_deletion"]
    assert d["basis"] == {
        "delete": "delete_requested",
        "sigterm": "sigterm_sent",
        "removal": "removal_applied",
        "exit": "exited",
    }
    assert s["failures_by_phase"]["after_exit"] == 1
    basis = s["phase_basis"]
    assert basis["after_exit"] == {
        "rests_on": "platform",
        "events": ["exited"],
        "deletions": 1,
        "undelimited": 0,
    }
    assert basis["before_sigterm"]["rests_on"] == "platform"
    assert basis["before_sigterm"]["events"] == ["delete_requested", "sigterm_sent"]
    assert basis["draining"]["events"] == ["exited", "removal_applied", "sigterm_sent"]
    assert basis["missing"] == {"sigterm": 0, "removal": 0, "exit": 0}


def test_phases_cut_by_the_apps_own_line_say_they_rest_on_the_app() -> None:
    s = summary(WITH_APP_LINE, 1000.2, 1000.45)
    (d,) = s["per_deletion"]
    assert d["basis"]["sigterm"] == "app_sigterm"
    assert d["basis"]["removal"] == "endpoint_removed"
    assert d["by_phase"]["before_sigterm"] == 1 and d["by_phase"]["draining"] == 1
    basis = s["phase_basis"]
    assert basis["before_sigterm"]["rests_on"] == "app"
    assert basis["before_sigterm"]["events"] == ["app_sigterm", "delete_requested"]
    assert basis["draining"]["rests_on"] == "app"
    assert basis["after_exit"]["rests_on"] == "platform"  # X is the platform's, whatever S is


def test_the_kubelets_own_sigterm_is_preferred_to_the_apps_line_and_to_the_derived_one() -> None:
    timeline = [
        *WITH_APP_LINE,
        ev(1000.35, EventKind.SIGTERM_SENT, "a", source="kube_event/watch"),
        ev(1000.2, EventKind.SIGTERM_DUE, "a", derived_from="Killing + preStop sleep 0 s"),
    ]
    (d,) = summary(timeline)["per_deletion"]
    assert (d["sigterm"], d["basis"]["sigterm"]) == (1000.35, "sigterm_sent")
    # Without the kubelet's: the app's observation beats the time the kubelet's rules give.
    timeline = [e for e in timeline if e.kind != EventKind.SIGTERM_SENT]
    (d,) = summary(timeline)["per_deletion"]
    assert (d["sigterm"], d["basis"]["sigterm"]) == (1000.4, "app_sigterm")


# A silent app with a preStop hook on a real cluster: the kubelet's Killing Event (the hook's
# start) at 1000.1, the controller's removal, the container's exit. Nothing else.
SILENT_WITH_HOOK = [
    *READY,
    ev(1000.0, EventKind.DELETE_REQUESTED, "a", grace_period_s=30.0),
    ev(1000.1, EventKind.PRESTOP_STARTED, "a", source_event="Killing"),
    ev(1000.8, EventKind.ENDPOINT_REMOVED, "a"),
]


def test_the_sigterm_the_kubelets_rules_give_cuts_the_phases_when_nothing_else_does() -> None:
    # The hook is a 5 s sleep: SIGTERM was due at 1005.1.
    timeline = [
        *SILENT_WITH_HOOK,
        ev(1005.1, EventKind.SIGTERM_DUE, "a", prestop_sleep_s=5.0),
        ev(1005.2, EventKind.EXITED, "a", code=143, ended_by="signal"),
    ]
    s = summary(timeline, 1003.0, 1005.15)
    assert s["failures_by_phase"]["before_sigterm"] == 1
    assert s["failures_by_phase"]["draining"] == 1
    assert s["phase_basis"]["before_sigterm"] == {
        "rests_on": "platform",
        "events": ["delete_requested", "sigterm_due"],
        "deletions": 1,
        "undelimited": 0,
    }


def test_a_failed_hook_ends_at_once_whatever_its_sleep_so_its_end_beats_the_derived_time() -> None:
    # `sleep` missing from the image: the hook fails at 1000.15 and SIGTERM follows at once;
    # the 5 s its command asked for never happened.
    timeline = [
        *SILENT_WITH_HOOK,
        ev(1000.15, EventKind.PRESTOP_ENDED, "a", failed=True, source_event="FailedPreStopHook"),
        ev(1005.1, EventKind.SIGTERM_DUE, "a", prestop_sleep_s=5.0),
        ev(1000.2, EventKind.EXITED, "a", code=143, ended_by="signal"),
    ]
    s = summary(timeline, 1000.1, 1000.3)
    (d,) = s["per_deletion"]
    assert (d["sigterm"], d["basis"]["sigterm"]) == (1000.15, "prestop_ended")
    assert d["by_phase"]["before_sigterm"] == 1 and d["by_phase"]["after_exit"] == 1


def test_with_neither_source_showing_sigterm_failures_are_unknown_not_guessed() -> None:
    # The hook is not a plain sleep: nothing says when SIGTERM came, so before_sigterm,
    # propagating and draining are not delimited.
    timeline = [*SILENT_WITH_HOOK, ev(1004.0, EventKind.EXITED, "a", code=0)]
    s = summary(timeline, 1000.5, 1002.0, 1004.5)
    assert s["failures_by_phase"]["unknown"] == 2
    assert s["failures_by_phase"]["after_exit"] == 1
    assert s["failures_by_phase"]["before_sigterm"] == 0
    (d,) = s["per_deletion"]
    assert d["basis"]["sigterm"] is None and d["sigterm"] is None
    assert d["by_phase"]["unknown"] == 2
    basis = s["phase_basis"]
    for phase in ("before_sigterm", "propagating", "draining"):
        assert basis[phase]["rests_on"] is None
        assert (basis[phase]["deletions"], basis[phase]["undelimited"]) == (0, 1)
    assert basis["after_exit"]["rests_on"] == "platform"
    assert basis["missing"] == {"sigterm": 1, "removal": 0, "exit": 0}


def test_a_kill_at_the_end_of_the_grace_period_is_the_exit_the_platform_shows() -> None:
    timeline = [
        *READY,
        ev(1000.0, EventKind.DELETE_REQUESTED, "a", grace_period_s=3.0),
        ev(1000.0, EventKind.SIGTERM_SENT, "a"),
        ev(1000.5, EventKind.REMOVAL_APPLIED, "a"),
        ev(1003.0, EventKind.KILLED, "a", after_s=3.0, grace_period_s=3.0),
        ev(1003.01, EventKind.EXITED, "a", code=-9, signal=9),
    ]
    (d,) = summary(timeline)["per_deletion"]
    assert d["basis"]["exit"] == "killed" and d["exit"] == 1003.0


# ----- the order's finding when pods ignored SIGTERM ----------------------------------------


def _ignored_sigterm(pod: str, d: float, grace: float = 3.0) -> list[TimelineEvent]:
    return [
        ev(d, EventKind.DELETE_REQUESTED, pod, grace_period_s=grace),
        ev(d, EventKind.SIGTERM_SENT, pod),
        ev(d + 0.5, EventKind.REMOVAL_APPLIED, pod),
        ev(d + grace, EventKind.KILLED, pod, after_s=grace, grace_period_s=grace),
        ev(d + grace + 0.01, EventKind.EXITED, pod, code=-9, signal=9),
    ]


def test_pods_killed_at_the_grace_period_without_drops_are_said_to_have_taken_all_of_it() -> None:
    timeline = [*READY, *_ignored_sigterm("a", 1000.0), *_ignored_sigterm("b", 1005.0)]
    rows = pod_lifecycles(timeline, [ok(995.0)], "o", WINDOW)
    findings = [f for f in lifecycle_report(rows)["findings"] if f["kind"] == "killed_at_grace"]
    assert findings == [
        {
            "pod": None,
            "kind": "killed_at_grace",
            "text": "2 of 2 deleted pods did not exit on SIGTERM and were killed (SIGKILL) at the "
            "end of their grace period: no request failed, but each stop took the full grace "
            "period of 3 s (3.0 to 3.0 s from the delete call to the kill)",
        }
    ]


def test_the_killed_at_grace_finding_counts_the_failures_of_those_stops() -> None:
    timeline = [*READY, *_ignored_sigterm("a", 1000.0)]
    rows = pod_lifecycles(timeline, [ok(995.0), fail(1003.5)], "o", WINDOW)
    (finding,) = [f for f in lifecycle_report(rows)["findings"] if f["kind"] == "killed_at_grace"]
    assert "1 of 1 deleted pods" in finding["text"]
    assert "1 request(s) failed during those stops" in finding["text"]
