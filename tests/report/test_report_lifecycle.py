"""Pod lifecycle durations and findings, and the traffic chart's event markers."""

from __future__ import annotations

from typing import Any

import pytest

from harness.report.lifecycle import _count_within, complete_rows, lifecycle
from harness.report.markers import markers
from harness.timeline import TimelineEvent

T0 = 1000.0


def pod(name: str, **steps: float | None) -> dict[str, Any]:
    row: dict[str, Any] = {"pod": name, "order": "x"}
    row.update({k: (T0 + v if v is not None else None) for k, v in steps.items()})
    return row


def naive(name: str, d: float, routed_for: float = 1.0) -> dict[str, Any]:
    return pod(
        name,
        created=-10,
        ready=-8,
        endpoint_added=-7.9,
        delete_requested=d,
        endpoint_removed=d + 0.3,
        removal_applied=d + routed_for,
        sigterm=d + 0.02,
        exited=d + 0.05,
        last_served=d + 0.01,
    )


def graceful(name: str, d: float) -> dict[str, Any]:
    return pod(
        name,
        created=-10,
        ready=-8.5,
        endpoint_added=-8.4,
        delete_requested=d,
        endpoint_removed=d + 0.3,
        removal_applied=d + 1.0,
        sigterm=d + 0.02,
        listener_closed=d + 3.0,
        exited=d + 3.2,
        last_served=d + 1.8,
    )


def run(
    rows: list[dict[str, Any]], grace: float | None = 30.0, refused: tuple[float, ...] = ()
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    stats, groups = lifecycle(rows, T0, grace, sorted(T0 + t for t in refused))
    return {s.label: s for s in stats}, {g.kind: g.items for g in groups}


def test_durations_median_max_and_the_slowest_pod() -> None:
    stats, _ = run([graceful("g-0", 3.0), graceful("g-1", 6.0), naive("g-2", 9.0)])
    assert stats["create → ready"].median_ms == pytest.approx(1500)
    assert stats["create → ready"].max_ms == pytest.approx(2000)
    assert stats["create → ready"].max_pod == "g-2"
    assert stats["SIGTERM → exit or kill"].max_ms == pytest.approx(3180)
    assert stats["SIGTERM → exit or kill"].max_pod in ("g-0", "g-1")
    assert stats["delete → endpoint removed"].samples == 3
    assert stats["ready → endpoint added"].median_ms == pytest.approx(100)


def test_durations_without_data_say_so() -> None:
    stats, findings = run([pod("new", created=1.0)])
    assert stats["create → ready"].samples == 0
    assert stats["create → ready"].median_ms is None and stats["create → ready"].max_pod is None
    assert findings == {
        "no_deletion": ["No pod was deleted in this variant: no shutdown to judge."]
    }


def test_a_killed_pod_counts_its_kill_as_its_end() -> None:
    row = pod("k", delete_requested=0.0, sigterm=5.0, killed=8.0, removal_applied=1.0)
    stats, findings = run([row], grace=8.0)
    assert stats["SIGTERM → exit or kill"].max_ms == pytest.approx(3000)
    assert findings["killed"][0].startswith("k was killed (SIGKILL) 8.0 s after its delete")
    assert next(iter(findings)) == "killed"  # the worst kind comes first
    assert findings["killed_at_grace"] == [
        "1 of 1 deleted pods did not exit on SIGTERM and were killed (SIGKILL) at the end of "
        "their grace period: no request failed, but each stop took the full grace period "
        "(8.0 to 8.0 s from the delete call to the kill)"
    ]


def test_refused_requests_while_an_exited_pod_was_still_routed() -> None:
    rows = [naive("n-0", 3.0), naive("n-1", 3.5, routed_for=0.8)]
    # gaps: n-0 [3.05, 4.0), n-1 [3.55, 4.3)
    _, findings = run(rows, refused=(3.0, 3.1, 3.6, 4.1, 4.4))
    assert findings["exited_before_removal"] == [
        "n-0 exited at 3.05 s, 950 ms before the Service stopped routing to it: "
        "2 refused requests fell in that gap.",
        "n-1 exited at 3.55 s, 750 ms before the Service stopped routing to it: "
        "2 refused requests fell in that gap.",
    ]


def test_a_closed_listener_is_left_to_the_analysis() -> None:
    row = pod(
        "cf-0",
        delete_requested=3.0,
        sigterm=3.02,
        listener_closed=3.03,
        exited=3.5,
        removal_applied=4.0,
    )
    row["failed_after_listener_closed"] = 4
    _, findings = run([row])
    assert "exited_before_removal" not in findings  # the analysis tells this one
    assert findings["closed_before_removal"] == [
        "cf-0 stopped listening 970 ms before the Service stopped sending it new connections"
    ]
    assert findings["failed_after_listener_closed"][0].startswith("4 request(s) failed at cf-0")


def test_a_graceful_shutdown_is_said_to_be_fine() -> None:
    _, findings = run([graceful("g-0", 3.0), graceful("g-1", 6.0)])
    assert list(findings) == ["all_clear"]
    assert findings["all_clear"][0].startswith("All 2 deleted pods kept their listener open")


def test_near_the_grace_period_and_never_stopped() -> None:
    slow = pod("slow", delete_requested=0.0, removal_applied=1.0, sigterm=0.1, exited=7.0)
    open_ = pod("open", delete_requested=10.0, removal_applied=11.0, sigterm=10.1)
    _, findings = run([slow, open_], grace=8.0)
    assert findings["near_grace"] == [
        "slow took 7.0 s of its 8 s grace period to exit: a little more load and it would have "
        "been killed."
    ]
    assert findings["no_exit"][0].startswith("open was deleted but no exit was observed")
    # the row's own grace period wins over the scenario's
    slow["grace_period_s"] = 30.0
    assert "near_grace" not in run([slow], grace=8.0)[1]


def test_endpoint_removed_stands_in_where_the_proxy_is_not_observed() -> None:
    row = pod("k8s", delete_requested=0.0, endpoint_removed=2.0, sigterm=0.01, exited=0.1)
    _, findings = run([row])
    assert findings["exited_before_removal"][0].startswith(
        "k8s exited at 0.10 s, 1900 ms before the Service stopped routing"
    )


def test_rows_missing_keys_are_completed_not_rejected() -> None:
    sparse = {"pod": "old", "delete_requested": T0, "exited": T0 + 1.0, "removal_applied": T0 + 0.5}
    (row,) = complete_rows([sparse])
    assert row["killed"] is None and row["failed_after_listener_closed"] is None
    assert list(run([sparse])[1]) == ["all_clear"]


def test_count_within_merges_overlaps() -> None:
    times = [1.0, 2.0, 2.5, 3.0, 5.0]
    assert _count_within(times, [(2.0, 3.0), (2.4, 3.5), (0.0, 0.5)]) == 3
    assert _count_within(times, [(4.0, 6.0), (1.0, 1.5)]) == 2
    assert _count_within([], [(0.0, 1.0)]) == 0


def ev(ts: float, kind: str, pod: str | None = "p-0", **detail: Any) -> TimelineEvent:
    return TimelineEvent(T0 + ts, kind, pod, detail)


def test_markers_pick_the_deletion_events() -> None:
    events = [
        ev(-5, "pod_ready", "p-0"),  # initial pod: not a replacement
        ev(0, "load_started", None),
        ev(3.0, "delete_requested"),
        ev(3.02, "sigterm_sent"),
        ev(3.03, "app_sigterm"),  # the backend's own event wins for this pod
        ev(3.3, "endpoint_removed"),
        ev(3.5, "exited", code=0),
        ev(4.8, "pod_ready", "p-9"),  # after the first delete: a replacement
        ev(6.0, "delete_requested", "p-1"),
        ev(6.1, "app_sigterm", "p-1"),  # no sigterm_sent for p-1: the app's line stands in
        ev(14.0, "killed", "p-1"),
    ]
    got = [(m.kind, round(m.t, 2), m.pod) for m in markers(events, T0)]
    assert got == [
        ("delete", 3.0, "p-0"),
        ("SIGTERM", 3.02, "p-0"),
        ("endpoint removed", 3.3, "p-0"),
        ("exit", 3.5, "p-0"),
        ("replacement ready", 4.8, "p-9"),
        ("delete", 6.0, "p-1"),
        ("SIGTERM", 6.1, "p-1"),
        ("kill", 14.0, "p-1"),
    ]


def test_a_silent_apps_sigterm_is_marked_where_the_kubelets_rules_put_it() -> None:
    events = [
        ev(3.0, "delete_requested", "quiet"),
        ev(3.1, "prestop_started", "quiet"),
        ev(8.1, "sigterm_due", "quiet", prestop_sleep_s=5.0),  # nothing else shows SIGTERM
        ev(6.0, "delete_requested", "talks"),
        ev(6.1, "prestop_started", "talks"),
        ev(11.1, "sigterm_due", "talks", prestop_sleep_s=5.0),
        ev(11.12, "app_sigterm", "talks"),  # the app's own line wins over the derived time
        ev(12.0, "delete_requested", "failed-hook"),
        ev(12.1, "prestop_started", "failed-hook"),
        ev(12.11, "prestop_ended", "failed-hook", failed=True),  # SIGTERM right after
        ev(17.1, "sigterm_due", "failed-hook", prestop_sleep_s=5.0),
    ]
    got = [(m.kind, round(m.t, 2), m.pod) for m in markers(events, T0)]
    assert [g for g in got if g[0] == "SIGTERM"] == [
        ("SIGTERM", 8.1, "quiet"),
        ("SIGTERM", 11.12, "talks"),
        ("SIGTERM", 12.11, "failed-hook"),
    ]


def test_a_named_replacement_counts_even_before_any_delete() -> None:
    events = [ev(1.0, "pod_ready", "new", replaces="old")]
    assert [m.kind for m in markers(events, T0)] == ["replacement ready"]
