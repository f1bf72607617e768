"""How a pod stopped, from its objects: exit code, finishedAt and the kill at the end of the grace
period (podstate, termination), and SIGTERM when a preStop sleep hides it (podevents).

The pod versions are in the shape a v1.20 kubelet reports them in (whole-second times, a
terminated state with exitCode, reason, finishedAt and containerID), as the pod watch delivers
them during a deletion.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from helpers.analysis import fail, ok

from harness.analysis import build_order_summary
from harness.backends.kube.podevents import EventTracker
from harness.backends.kube.podstate import PodTracker
from harness.backends.kube.termination import ended_by, prestop_sleep_s
from harness.timeline import EventKind, TimelineEvent

T0 = datetime(2026, 11, 30, 18, 0, tzinfo=timezone.utc).timestamp()
CID = "containerd://4f1c0a9e7b"


def _iso(offset_s: int) -> str:
    return datetime.fromtimestamp(T0 + offset_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def running_pod(prestop: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": "drainlab/http-server:1",
        "command": ["python3", "-m", "http.server", "8080"],
    }
    if prestop is not None:
        container["lifecycle"] = {"preStop": prestop}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-6d4cf56db6-x2x7q",
            "namespace": "drainlab-h4",
            "uid": "0d4b7c2e-5e7a-4a43-9a8e-6b1f8f3d9c11",
            "creationTimestamp": _iso(0),
            "labels": {"app": "web", "pod-template-hash": "6d4cf56db6"},
        },
        "spec": {"containers": [container], "nodeName": "drainlab-local"},
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.17",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": _iso(0)},
                {"type": "Ready", "status": "True", "lastTransitionTime": _iso(2)},
            ],
            "containerStatuses": [
                {
                    "name": "app",
                    "containerID": CID,
                    "restartCount": 0,
                    "ready": True,
                    "state": {"running": {"startedAt": _iso(1)}},
                }
            ],
        },
    }


def deleted(pod: dict[str, Any], at: int, grace: int) -> dict[str, Any]:
    """The version the API returns for a delete at ``at`` with ``grace`` seconds."""
    pod = copy.deepcopy(pod)
    pod["metadata"]["deletionTimestamp"] = _iso(at + grace)
    pod["metadata"]["deletionGracePeriodSeconds"] = grace
    return pod


def terminated(pod: dict[str, Any], code: int, reason: str, finished: int) -> dict[str, Any]:
    pod = copy.deepcopy(pod)
    pod["status"]["phase"] = "Running"
    pod["status"]["conditions"][1] = {
        "type": "Ready",
        "status": "False",
        "lastTransitionTime": _iso(finished),
        "reason": "ContainersNotReady",
    }
    pod["status"]["containerStatuses"] = [
        {
            "name": "app",
            "containerID": CID,
            "restartCount": 0,
            "ready": False,
            "state": {
                "terminated": {
                    "exitCode": code,
                    "reason": reason,
                    "startedAt": _iso(1),
                    "finishedAt": _iso(finished),
                    "containerID": CID,
                }
            },
        }
    ]
    return pod


def stop(
    code: int, reason: str, finished: int, grace: int = 5, prestop: dict[str, Any] | None = None
) -> tuple[PodTracker, list[TimelineEvent]]:
    """A pod deleted at +10 s by someone else, then seen terminated; its lifecycle events."""
    tracker = PodTracker()
    pod = running_pod(prestop)
    events: list[TimelineEvent] = []
    events += tracker.observe(pod, T0 + 3, live=True).events
    gone = deleted(pod, 10, grace)
    events += tracker.observe(gone, T0 + 10.05, live=True).events
    ended = terminated(gone, code, reason, finished)
    events += tracker.observe(ended, T0 + finished + 0.4, live=True).events
    return tracker, events


def of(events: list[TimelineEvent], kind: str) -> list[TimelineEvent]:
    return [e for e in events if e.kind == kind]


def test_an_app_that_ignores_sigterm_is_killed_at_the_end_of_its_grace_period() -> None:
    _, events = stop(137, "Error", finished=15, grace=5)
    (exited,) = of(events, EventKind.EXITED)
    # finishedAt is :15 (whole seconds); it arrived at :15.4, within that second (stamps.py)
    assert (exited.ts, exited.detail["api_time"]) == (T0 + 15.4, T0 + 15)
    assert (exited.detail["code"], exited.detail["ended_by"]) == (137, "sigkill")
    (killed,) = of(events, EventKind.KILLED)
    assert killed.ts == T0 + 15.4
    assert killed.detail["grace_deadline"] == _iso(15)
    assert killed.detail["grace_period_s"] == 5


def test_an_app_that_leaves_sigterm_to_its_default_action_exited_on_the_signal() -> None:
    _, events = stop(143, "Error", finished=10)
    (exited,) = of(events, EventKind.EXITED)
    assert exited.detail["ended_by"] == "signal"
    assert (exited.detail["signal_number"], exited.detail["signal_name"]) == (15, "SIGTERM")
    assert of(events, EventKind.KILLED) == []


def test_an_app_that_exits_by_itself_after_draining() -> None:
    _, events = stop(0, "Completed", finished=12)
    (exited,) = of(events, EventKind.EXITED)
    assert (exited.ts, exited.detail["code"], exited.detail["ended_by"]) == (T0 + 12.4, 0, "exit")
    assert of(events, EventKind.KILLED) == []


def test_the_oom_killer_is_not_the_grace_period() -> None:
    _, events = stop(137, "OOMKilled", finished=11)
    (exited,) = of(events, EventKind.EXITED)
    assert exited.detail["ended_by"] == "oom_killed"
    assert of(events, EventKind.KILLED) == []


def test_exit_codes_read() -> None:
    assert ended_by(None, "ContainerStatusUnknown") == {"ended_by": "unknown"}
    assert ended_by(1, "Error") == {"ended_by": "exit"}
    assert ended_by(130, "Error")["signal_name"] == "SIGINT"
    assert ended_by(128 + 99, "Error") == {
        "ended_by": "signal",
        "signal_number": 99,
        "signal_name": None,
    }


def test_only_a_plain_sleep_hook_has_a_known_duration() -> None:
    assert prestop_sleep_s({"exec": {"command": ["sleep", "5"]}}) == 5.0
    assert prestop_sleep_s({"exec": {"command": ["/bin/sleep", "2.5"]}}) == 2.5
    assert prestop_sleep_s({"exec": {"command": ["/bin/sh", "-c", "sleep 3"]}}) == 3.0
    assert prestop_sleep_s({"exec": {"command": ["sh", "-c", "exec sleep 4;"]}}) == 4.0
    assert prestop_sleep_s({"sleep": {"seconds": 7}}) == 7.0
    assert prestop_sleep_s({"exec": {"command": ["sh", "-c", "nginx -s quit; sleep 3"]}}) is None
    assert prestop_sleep_s({"exec": {"command": ["sleep", "infinity"]}}) is None
    assert prestop_sleep_s({"httpGet": {"path": "/drain", "port": 8080}}) is None
    assert prestop_sleep_s({"sleep": {"seconds": True}}) is None


def _killing(at: int) -> dict[str, Any]:
    return {
        "metadata": {"uid": "ev-1"},
        "involvedObject": {"kind": "Pod", "name": "web-6d4cf56db6-x2x7q"},
        "reason": "Killing",
        "message": "Stopping container app",
        "type": "Normal",
        "count": 1,
        "lastTimestamp": _iso(at),
        "source": {"component": "kubelet"},
    }


def test_a_preStop_sleep_puts_sigterm_at_the_hooks_start_plus_its_sleep() -> None:
    tracker, _ = stop(
        143, "Error", finished=16, grace=30, prestop={"exec": {"command": ["sleep", "5"]}}
    )
    events = EventTracker(tracker.has_prestop, tracker.sigterm_due).observe(
        _killing(10), T0 + 10.3, live=True
    )
    assert [e.kind for e in events] == ["kube_event", "prestop_started", "sigterm_due"]
    due = events[2]
    assert due.ts == events[1].ts + 5.0
    assert due.detail["source"] == "derived" and due.detail["capped_by_grace"] is False
    assert due.detail["derived_from"] == "preStop started + its sleep of 5 s"
    assert due.detail["hook_started_source"] == "watch"  # :10 arrived at :10.3, in that second


def test_a_sleep_longer_than_the_grace_period_is_cut_at_its_end() -> None:
    tracker, _ = stop(
        137, "Error", finished=15, grace=5, prestop={"exec": {"command": ["sleep", "60"]}}
    )
    events = EventTracker(tracker.has_prestop, tracker.sigterm_due).observe(
        _killing(10), T0 + 10.3, live=True
    )
    (due,) = [e for e in events if e.kind == EventKind.SIGTERM_DUE]
    assert due.ts == T0 + 15  # deletionTimestamp
    assert due.detail["capped_by_grace"] is True


def test_any_other_hook_gives_no_sigterm_and_the_analysis_says_unknown() -> None:
    hook = {"exec": {"command": ["sh", "-c", "nginx -s quit; sleep 3"]}}
    tracker, pod_events = stop(0, "Completed", finished=14, grace=30, prestop=hook)
    events = EventTracker(tracker.has_prestop, tracker.sigterm_due).observe(
        _killing(10), T0 + 10.3, live=True
    )
    assert [e.kind for e in events] == ["kube_event", "prestop_started"]
    timeline = [*pod_events, *events]
    summary = build_order_summary(
        "o", [ok(T0 + 5, pod=None), fail(T0 + 12)], timeline, (T0, T0 + 30)
    )
    (d,) = summary["per_deletion"]
    assert d["basis"]["sigterm"] is None
    assert summary["failures_by_phase"]["unknown"] == 1


def test_the_analysis_of_a_silent_app_rests_on_these_platform_events() -> None:
    tracker, pod_events = stop(
        137, "Error", finished=15, grace=5, prestop={"sleep": {"seconds": 2}}
    )
    events = EventTracker(tracker.has_prestop, tracker.sigterm_due).observe(
        _killing(10), T0 + 10.3, live=True
    )
    timeline = [*pod_events, *events]
    summary = build_order_summary(
        "o", [ok(T0 + 5, pod=None), fail(T0 + 11)], timeline, (T0, T0 + 30)
    )
    (d,) = summary["per_deletion"]
    assert d["basis"]["sigterm"] == "sigterm_due"
    assert d["basis"]["exit"] in ("killed", "exited")
    assert d["exit"] == T0 + 15.4
    assert summary["failures_by_phase"]["before_sigterm"] == 1
    assert summary["phase_basis"]["before_sigterm"]["rests_on"] == "platform"
