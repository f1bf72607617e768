"""API objects → timeline events: the time rule, pod conditions, endpoint diffs, kubelet Events."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from harness.backends.kube.endpointstate import (
    ENDPOINTS_V1,
    SLICE_V1,
    SLICE_V1BETA1,
    EndpointTracker,
    choose_api,
)
from harness.backends.kube.podevents import EventTracker
from harness.backends.kube.podstate import PodTracker
from harness.backends.kube.rolloutstatus import (
    KILL_SLACK_S,
    rollout_state,
    settled_state,
    stuck_reason,
)
from harness.backends.kube.stamps import parse_time, stamp
from harness.timeline import TimelineEvent

T0 = datetime(2026, 11, 24, 19, 40, tzinfo=timezone.utc).timestamp()


def _iso(offset_s: int) -> str:
    return f"2026-11-24T19:40:{offset_s:02d}Z"


def kinds(events: list[TimelineEvent]) -> list[str]:
    return [e.kind for e in events]


# ----- stamps --------------------------------------------------------------------------------


def test_parse_time_handles_seconds_fractions_and_garbage() -> None:
    assert parse_time("2026-11-24T19:40:00Z") == T0
    assert parse_time("2026-11-24T19:40:00.123456789Z") == T0 + 0.123456
    assert parse_time("2026-11-24T19:40:00.5+00:00") == T0 + 0.5
    assert parse_time(None) is None
    assert parse_time("yesterday") is None


def test_live_change_gets_the_arrival_time_when_within_the_api_second() -> None:
    ts, detail = stamp(_iso(5), T0 + 5.3, live=True)
    assert ts == T0 + 5.3 and detail["source"] == "watch" and detail["api_time"] == T0 + 5


def test_late_arrival_is_capped_at_the_end_of_the_api_second() -> None:
    # The kubelet reported an exit at :05 (truncated) but it reached the watch at :06.7.
    ts, detail = stamp(_iso(5), T0 + 6.7, live=True)
    assert ts == T0 + 6.0 and detail["source"] == "api_ceil"


def test_history_gets_the_api_time_and_no_api_time_gets_the_arrival() -> None:
    ts, detail = stamp(_iso(5), T0 + 60, live=False)
    assert ts == T0 + 5 and detail["source"] == "api"
    ts, detail = stamp(None, T0 + 7.25, live=True)
    assert ts == T0 + 7.25 and detail["source"] == "watch"


def test_microsecond_api_times_are_kept() -> None:
    ts, detail = stamp("2026-11-24T19:40:05.250000Z", T0 + 5.9, live=True)
    assert ts == T0 + 5.25 and detail["source"] == "api"


# ----- pods ----------------------------------------------------------------------------------


def _pod(name: str = "p1", prestop: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "img"}
    if prestop:
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", "5"]}}}
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": _iso(0)},
        "spec": {"containers": [container], "nodeName": "node1"},
        "status": {"phase": "Pending", "conditions": []},
    }


def _cond(pod: dict[str, Any], kind: str, status: str, at: int) -> None:
    conds = [c for c in pod["status"]["conditions"] if c["type"] != kind]
    conds.append({"type": kind, "status": status, "lastTransitionTime": _iso(at)})
    pod["status"]["conditions"] = conds


def _running(pod: dict[str, Any], cid: str, at: int, restarts: int = 0) -> None:
    pod["status"]["containerStatuses"] = [
        {
            "name": "app",
            "containerID": cid,
            "restartCount": restarts,
            "state": {"running": {"startedAt": _iso(at)}},
        }
    ]


def _terminated(pod: dict[str, Any], cid: str, code: int, reason: str, at: int) -> None:
    pod["status"]["containerStatuses"] = [
        {
            "name": "app",
            "containerID": cid,
            "restartCount": 0,
            "state": {
                "terminated": {
                    "exitCode": code,
                    "reason": reason,
                    "finishedAt": _iso(at),
                    "containerID": cid,
                }
            },
        }
    ]


def test_a_pod_life_on_v1_20_gives_each_step_once_in_order() -> None:
    tracker = PodTracker()
    pod = _pod()
    seen: list[TimelineEvent] = []
    seen += tracker.observe(pod, T0 + 0.01, live=True).events
    _cond(pod, "PodScheduled", "True", 0)
    seen += tracker.observe(pod, T0 + 0.02, live=True).events
    _cond(pod, "Initialized", "True", 0)
    _cond(pod, "Ready", "False", 0)
    pod["status"]["podIP"] = "10.244.0.7"
    pod["status"]["containerStatuses"] = [
        {"name": "app", "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
    ]
    seen += tracker.observe(pod, T0 + 1.2, live=True).events
    _running(pod, "containerd://a1", 1)
    update = tracker.observe(pod, T0 + 1.9, live=True)
    seen += update.events
    assert [(t.pod, t.container_id) for t in update.follow] == [("p1", "containerd://a1")]
    _cond(pod, "Ready", "True", 3)
    seen += tracker.observe(pod, T0 + 3.1, live=True).events
    # The same version again (a resync) reports nothing.
    assert tracker.observe(copy.deepcopy(pod), T0 + 3.5, live=True).events == []
    assert kinds(seen) == [
        "pod_created",
        "pod_scheduled",
        "pod_network_ready",
        "pod_container_started",
        "pod_ready",
    ]
    by_kind = {e.kind: e for e in seen}
    assert by_kind["pod_network_ready"].detail["field"] == "status.podIP"
    assert by_kind["pod_network_ready"].ts == T0 + 1.2
    assert by_kind["pod_container_started"].ts == T0 + 1.9  # within :01's second
    assert by_kind["pod_ready"].ts == T0 + 3.1


def test_an_ip_reported_with_a_started_container_is_not_later_than_the_start() -> None:
    tracker = PodTracker()
    pod = _pod()
    tracker.observe(pod, T0 + 0.1, live=True)
    pod["status"]["podIP"] = "10.244.0.8"
    _running(pod, "containerd://c", 1)  # started in :01, reported at :02.3 with the IP
    events = {e.kind: e for e in tracker.observe(pod, T0 + 2.3, live=True).events}
    assert events["pod_container_started"].ts == T0 + 2.0
    assert events["pod_network_ready"].ts == T0 + 2.0
    assert events["pod_network_ready"].detail["bounded_by"] == "pod_container_started"


def test_the_network_condition_is_used_where_the_cluster_reports_it() -> None:
    tracker = PodTracker()
    pod = _pod()
    _cond(pod, "PodReadyToStartContainers", "False", 0)
    pod["status"]["podIP"] = "10.0.0.9"  # present, but the condition decides
    assert "pod_network_ready" not in kinds(tracker.observe(pod, T0 + 0.5, live=True).events)
    _cond(pod, "PodReadyToStartContainers", "True", 1)
    events = tracker.observe(pod, T0 + 1.4, live=True).events
    assert kinds(events) == ["pod_network_ready"]
    assert events[0].detail["field"] == "PodReadyToStartContainers"


def test_a_harness_delete_is_not_reported_twice_and_a_controller_delete_is() -> None:
    tracker = PodTracker()
    mine, theirs = _pod("mine"), _pod("theirs")
    for pod in (mine, theirs):
        _running(pod, f"containerd://{pod['metadata']['name']}", 1)
        tracker.observe(pod, T0 + 2, live=True)
    tracker.harness_deleting("mine")
    for pod in (mine, theirs):
        pod["metadata"]["deletionTimestamp"] = _iso(40)
        pod["metadata"]["deletionGracePeriodSeconds"] = 30
    assert tracker.observe(mine, T0 + 10.05, live=True).events == []
    events = tracker.observe(theirs, T0 + 10.4, live=True).events
    assert kinds(events) == ["delete_requested"]
    # Requested at deletionTimestamp - grace = :10 (whole second): the arrival is within it.
    assert events[0].ts == T0 + 10.4 and events[0].detail["cause"] == "not_the_harness"
    assert events[0].detail["grace_period_s"] == 30


def test_termination_gives_exited_and_137_also_killed() -> None:
    tracker = PodTracker()
    graceful, stubborn = _pod("graceful"), _pod("stubborn")
    for pod in (graceful, stubborn):
        _running(pod, f"containerd://{pod['metadata']['name']}", 1)
        tracker.observe(pod, T0 + 2, live=True)
    _terminated(graceful, "containerd://graceful", 0, "Completed", 8)
    events = tracker.observe(graceful, T0 + 9.3, live=True).events
    assert kinds(events) == ["exited"]
    assert events[0].detail["code"] == 0 and events[0].ts == T0 + 9.0  # capped: :08 + 1 s
    stubborn["metadata"]["deletionGracePeriodSeconds"] = 30
    _terminated(stubborn, "containerd://stubborn", 137, "Error", 32)
    events = tracker.observe(stubborn, T0 + 32.5, live=True).events
    assert kinds(events) == ["exited", "killed"]
    assert events[1].detail["grace_period_s"] == 30


def test_a_made_up_137_is_not_a_kill() -> None:
    """v1.20: a deleted pod whose container was already removed is reported terminated with
    exitCode 137 and reason ContainerStatusUnknown, no finishedAt, after the app exited 0."""
    tracker = PodTracker()
    pod = _pod()
    _running(pod, "containerd://c", 1)
    tracker.observe(pod, T0 + 2, live=True)
    pod["status"]["containerStatuses"][0]["state"] = {
        "terminated": {
            "exitCode": 137,
            "reason": "ContainerStatusUnknown",
            "message": "The container could not be located when the pod was deleted.",
        }
    }
    events = tracker.observe(pod, T0 + 9.5, live=True).events
    assert kinds(events) == ["exited"]
    assert events[0].detail["code"] is None and events[0].detail["reported_code"] == 137
    assert events[0].ts == T0 + 9.5 and events[0].detail["source"] == "watch"


def test_a_restart_reports_the_old_instance_end_and_the_new_start() -> None:
    tracker = PodTracker()
    pod = _pod()
    _running(pod, "containerd://one", 1)
    tracker.observe(pod, T0 + 1.5, live=True)
    _running(pod, "containerd://two", 20, restarts=1)
    pod["status"]["containerStatuses"][0]["lastState"] = {
        "terminated": {
            "exitCode": 1,
            "reason": "Error",
            "finishedAt": _iso(19),
            "containerID": "containerd://one",
        }
    }
    update = tracker.observe(pod, T0 + 20.2, live=True)
    assert kinds(update.events) == ["exited", "container_restarted", "pod_container_started"]
    assert update.events[1].detail["restart_count"] == 1
    assert [t.container_id for t in update.follow] == ["containerd://two"]
    assert tracker.running_instance("p1", "app") == "containerd://two"


def test_readiness_loss_and_the_replacement_link() -> None:
    tracker = PodTracker()
    old = _pod("old")
    _cond(old, "Ready", "True", 1)
    tracker.observe(old, T0 + 1.1, live=True)
    tracker.harness_deleting("old")
    _cond(old, "Ready", "False", 3)
    assert kinds(tracker.observe(old, T0 + 3.2, live=True).events) == ["pod_not_ready"]
    new = _pod("new")
    tracker.observe(new, T0 + 3.3, live=True)
    _cond(new, "Ready", "True", 5)
    ready = tracker.observe(new, T0 + 5.1, live=True).events
    assert kinds(ready) == ["pod_ready"] and ready[0].detail["replaces"] == "old"


def test_pods_listed_at_the_start_get_api_times() -> None:
    tracker = PodTracker()
    pod = _pod()
    _cond(pod, "PodScheduled", "True", 0)
    _cond(pod, "Ready", "True", 4)
    _running(pod, "containerd://x", 2)
    events = tracker.observe(pod, T0 + 50, live=False).events
    assert {e.detail["source"] for e in events if "api_time" in e.detail} == {"api"}
    assert {e.kind: e.ts for e in events}["pod_ready"] == T0 + 4


# ----- endpoints -----------------------------------------------------------------------------


def test_the_endpoints_api_is_chosen_by_discovery() -> None:
    assert choose_api({"v1", SLICE_V1, SLICE_V1BETA1}) == SLICE_V1
    assert choose_api({"v1", SLICE_V1BETA1}) == SLICE_V1BETA1
    assert choose_api({"v1", "apps/v1"}) == ENDPOINTS_V1


def _slice(name: str, *endpoints: tuple[str, str, dict[str, bool]]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": conditions,
                "targetRef": {"kind": "Pod", "name": pod},
            }
            for pod, ip, conditions in endpoints
        ],
    }


def test_slice_diffs_report_added_then_terminating_removal() -> None:
    tracker = EndpointTracker(SLICE_V1)
    ready = {"ready": True, "serving": True, "terminating": False}
    added = tracker.observe(
        "ADDED", _slice("s1", ("a", "10.0.0.1", ready), ("b", "10.0.0.2", ready)), T0 + 1
    )
    assert [(e.kind, e.pod) for e in added] == [("endpoint_added", "a"), ("endpoint_added", "b")]
    going = {"ready": False, "serving": True, "terminating": True}
    removed = tracker.observe(
        "MODIFIED", _slice("s1", ("a", "10.0.0.1", going), ("b", "10.0.0.2", ready)), T0 + 2
    )
    assert [(e.kind, e.pod, e.detail["reason"]) for e in removed] == [
        ("endpoint_removed", "a", "terminating")
    ]
    assert removed[0].detail["serving"] is True and removed[0].ts == T0 + 2
    # Then the controller drops it entirely: already out of the ready set, nothing new.
    assert tracker.observe("MODIFIED", _slice("s1", ("b", "10.0.0.2", ready)), T0 + 3) == []


def test_v1beta1_drops_the_endpoint_and_readiness_failure_is_not_ready() -> None:
    tracker = EndpointTracker(SLICE_V1BETA1)
    tracker.observe(
        "ADDED", _slice("s1", ("a", "1.1.1.1", {"ready": True}), ("b", "1.1.1.2", {})), T0
    )
    assert tracker.ready_pods == {"a", "b"}  # a missing "ready" means ready
    gone = tracker.observe("MODIFIED", _slice("s1", ("b", "1.1.1.2", {"ready": True})), T0 + 1)
    assert [(e.pod, e.detail["reason"]) for e in gone] == [("a", "gone")]
    unready = tracker.observe("MODIFIED", _slice("s1", ("b", "1.1.1.2", {"ready": False})), T0 + 2)
    assert [(e.pod, e.detail["reason"]) for e in unready] == [("b", "not_ready")]


def test_a_pod_moving_between_slices_is_not_removed() -> None:
    tracker = EndpointTracker(SLICE_V1)
    ok = {"ready": True}
    tracker.observe("ADDED", _slice("s1", ("a", "1.1.1.1", ok)), T0)
    assert tracker.observe("ADDED", _slice("s2", ("a", "1.1.1.1", ok)), T0 + 1) == []
    assert tracker.observe("DELETED", _slice("s1"), T0 + 2) == []
    assert [e.kind for e in tracker.observe("DELETED", _slice("s2"), T0 + 3)] == [
        "endpoint_removed"
    ]


def test_core_endpoints_and_a_relist_after_a_gap() -> None:
    tracker = EndpointTracker(ENDPOINTS_V1)

    def endpoints(ready: list[str], not_ready: list[str]) -> dict[str, Any]:
        def addr(pod: str) -> dict[str, Any]:
            return {"ip": f"10.1.0.{ord(pod[0])}", "targetRef": {"kind": "Pod", "name": pod}}

        return {
            "metadata": {"name": "svc"},
            "subsets": [
                {
                    "addresses": [addr(p) for p in ready],
                    "notReadyAddresses": [addr(p) for p in not_ready],
                }
            ],
        }

    first = tracker.observe("ADDED", endpoints(["a", "b"], []), T0)
    assert {e.pod for e in first} == {"a", "b"}
    events = tracker.resync([endpoints(["b", "c"], ["a"])], T0 + 9)
    assert sorted((e.kind, e.pod) for e in events) == [
        ("endpoint_added", "c"),
        ("endpoint_removed", "a"),
    ]
    assert all(e.detail["relist"] for e in events)


# ----- kubelet Events ------------------------------------------------------------------------


def _event(pod: str, reason: str, count: int = 1, at: int = 10, uid: str = "") -> dict[str, Any]:
    return {
        "metadata": {"uid": uid or f"{pod}-{reason}"},
        "involvedObject": {"kind": "Pod", "name": pod},
        "reason": reason,
        "message": "Stopping container app" if reason == "Killing" else "x",
        "type": "Normal",
        "count": count,
        "lastTimestamp": _iso(at),
        "source": {"component": "kubelet"},
    }


def test_killing_marks_the_prestop_start_or_the_sigterm() -> None:
    prestop = {"hooked": True, "plain": False}
    tracker = EventTracker(prestop.get)
    hooked = tracker.observe(_event("hooked", "Killing"), T0 + 10.2, live=True)
    assert kinds(hooked) == ["kube_event", "prestop_started"]
    plain = tracker.observe(_event("plain", "Killing"), T0 + 10.3, live=True)
    assert kinds(plain) == ["kube_event", "sigterm_sent"]
    assert plain[1].detail["source_event"] == "Killing" and plain[1].ts == T0 + 10.3


def test_events_of_other_pods_history_and_repeats_are_skipped() -> None:
    tracker = EventTracker({"mine": False}.get)
    assert tracker.observe(_event("someone-else", "Killing"), T0, live=True) == []
    assert tracker.observe(_event("mine", "Scheduled"), T0, live=True) == []
    old = _event("mine", "Unhealthy", count=3, uid="u1")
    assert tracker.observe(old, T0, live=False) == []  # before the watch: remembered only
    assert tracker.observe(old, T0 + 1, live=True) == []  # same count again
    newer = _event("mine", "Unhealthy", count=4, uid="u1", at=12)
    assert kinds(tracker.observe(newer, T0 + 12.1, live=True)) == ["kube_event"]


def test_failed_prestop_hook_ends_the_prestop() -> None:
    tracker = EventTracker({"p": True}.get)
    events = tracker.observe(_event("p", "FailedPreStopHook"), T0 + 10.5, live=True)
    assert kinds(events) == ["kube_event", "prestop_ended"] and events[1].detail["failed"]


# ----- rollout checks ------------------------------------------------------------------------


def test_rollout_state_follows_kubectl_rollout_status() -> None:
    dep: dict[str, Any] = {
        "metadata": {"generation": 2},
        "spec": {"replicas": 3},
        "status": {
            "observedGeneration": 2,
            "updatedReplicas": 3,
            "replicas": 4,
            "availableReplicas": 3,
            "readyReplicas": 3,
        },
    }
    done, account = rollout_state(dep)
    assert not done and "4 in all" in account  # an old replica is still counted
    dep["status"]["replicas"] = 3
    assert rollout_state(dep)[0]
    dep["metadata"]["generation"] = 3
    assert not rollout_state(dep)[0]


def test_settled_needs_every_shutdown_over_and_all_ready() -> None:
    def pod(ready: bool, terminating: bool = False, ended: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": "x"}
        if terminating:
            meta["deletionTimestamp"] = _iso(1)
        state = {"terminated": {"exitCode": 0}} if ended else {"running": {}}
        return {
            "metadata": meta,
            "status": {
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                "containerStatuses": [{"name": "app", "state": state}],
            },
        }

    now = T0 + 2  # a second after the pods' deletionTimestamp (_iso(1))
    assert settled_state([pod(True), pod(True)], 2, now)[0]
    assert not settled_state([pod(True), pod(True), pod(False, terminating=True)], 2, now)[0]
    assert not settled_state([pod(True), pod(False)], 2, now)[0]
    # Shut down, but not yet removed by the kubelet (1.20 may take its minute-long GC for that).
    done, account = settled_state([pod(True), pod(True), pod(False, True, ended=True)], 2, now)
    assert done, account
    assert account == (
        "2 of 2 ready, 2 running, 0 terminating "
        "(1 more ended or past their grace period, awaiting the kubelet)"
    )
    # Its grace period over, a pod's shutdown is over, whatever the kubelet's status still says
    # (1.20.2 left one "running" for a minute in CI): not before the slack has passed too.
    still_running = pod(False, terminating=True)
    deadline = T0 + 1
    for at, settled in (
        (deadline + KILL_SLACK_S - 0.5, False),
        (deadline + KILL_SLACK_S + 0.5, True),
    ):
        assert settled_state([pod(True), pod(True), still_running], 2, at)[0] is settled, at


def test_a_missing_image_is_reported_with_a_hint() -> None:
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "containerStatuses": [
                {
                    "state": {
                        "waiting": {
                            "reason": "ErrImageNeverPull",
                            "message": 'Container image "img:1" is not present',
                        }
                    }
                }
            ]
        },
    }
    reason = stuck_reason(pod, "img:1")
    assert reason is not None and reason.startswith("pod p: ErrImageNeverPull")
    assert "kind load docker-image img:1" in reason
    waiting = {"metadata": {"name": "q"}, "status": {"containerStatuses": [{"state": {}}]}}
    assert stuck_reason(waiting, "img:1") is None
