"""The deploy waits on the app's own readiness probe path, and a probe that never passes ends it
with one line saying what the probes answered (from the kubelet's Unhealthy Events)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from helpers.fakekube import FakeApi
from helpers.kubeobjects import objects_of

from harness.backends.base import DeploySpec
from harness.backends.kube import checks, readiness
from harness.backends.kube.kinds import DEPLOYMENT, EVENT, NAMESPACE, POD
from harness.backends.kube.objects import Names, names_for, namespace_object
from harness.errors import BackendError

NS = "drainlab"


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _pod(name: str, names: Names, started: float, ready: bool = False) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "labels": dict(names.labels)},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": "app", "state": {"running": {"startedAt": _stamp(started)}}}
            ],
        },
    }


def _unhealthy(pod: str, message: str, at: float, uid: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{pod}.{uid}", "namespace": NS, "uid": uid},
        "involvedObject": {"kind": "Pod", "name": pod},
        "reason": "Unhealthy",
        "message": message,
        "lastTimestamp": _stamp(at),
    }


def _cluster(pods: list[dict[str, Any]], events: list[dict[str, Any]]) -> tuple[FakeApi, Names]:
    fake = FakeApi()
    fake.put(NAMESPACE, namespace_object(NS))
    names = names_for("graceful", NS, "run-1")
    dep, _ = objects_of(DeploySpec("graceful", replicas=len(pods)), names)
    fake.put(DEPLOYMENT, dep)
    for pod in pods:
        fake.put(POD, pod)
    for event in events:
        fake.put(EVENT, event)
    return fake, names


CONTAINER = {"image": "img", "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}}}
NOT_FOUND = "Readiness probe failed: HTTP probe failed with statuscode: 404"


def test_a_probe_that_never_passes_is_one_line_saying_what_it_answered() -> None:
    long_ago = time.time() - 120
    names = names_for("graceful", NS, "run-1")
    pods = [_pod(f"p{i}", names, long_ago) for i in range(3)]
    events = [_unhealthy(f"p{i}", NOT_FOUND, long_ago + 5, f"u{i}") for i in range(3)]
    fake, names = _cluster(pods, events)
    with pytest.raises(BackendError) as caught:
        checks.ready_in_time(fake, names, CONTAINER, readiness_s=60)  # type: ignore[arg-type]
    assert str(caught.value) == "kube: readiness never passed: GET /readyz -> 404 on all 3 pods"


def test_pods_still_within_the_probes_patience_are_waited_for() -> None:
    names = names_for("graceful", NS, "run-1")
    pods = [_pod("p0", names, time.time() - 120), _pod("p1", names, time.time() - 2)]
    fake, names = _cluster(pods, [_unhealthy("p0", NOT_FOUND, time.time(), "u0")])
    done, _ = checks.ready_in_time(fake, names, CONTAINER, readiness_s=60)  # type: ignore[arg-type]
    assert not done


def test_the_patience_counts_the_initial_delay_and_the_startup_probe() -> None:
    container = {
        "readinessProbe": {"initialDelaySeconds": 5},
        "startupProbe": {"periodSeconds": 2, "failureThreshold": 10},
    }
    assert readiness.probe_patience_s(container, 60) == 5 + 2 * 10 + 60
    assert readiness.probe_patience_s({}, 60) == 60


def test_the_path_is_the_readiness_probes_or_the_root() -> None:
    assert readiness.readiness_path(CONTAINER) == "/readyz"
    assert readiness.readiness_path({"readinessProbe": {"tcpSocket": {"port": 80}}}) == "/"
    assert readiness.readiness_path({}) == "/"


def test_answers_are_read_from_the_latest_readiness_event_of_each_pod() -> None:
    refused = (
        'Readiness probe failed: Get "http://10.1.0.5:8080/readyz": dial tcp 10.1.0.5:8080: '
        "connect: connection refused"
    )
    events = [
        _unhealthy("a", refused, 100, "1"),
        _unhealthy("a", NOT_FOUND, 200, "2"),
        _unhealthy("b", refused, 150, "3"),
        _unhealthy("b", "Liveness probe failed: HTTP probe failed with statuscode: 500", 300, "4"),
        _unhealthy("other", NOT_FOUND, 300, "5"),
    ]
    answers = readiness.last_answers(events, ["a", "b", "c"])
    assert answers == {"a": "404", "b": "connection refused"}
    line = readiness.failure_line("/readyz", ["a", "b", "c"], answers)
    assert line == (
        "readiness never passed: GET /readyz -> 404 on 1 pod, connection refused on 1 pod, "
        "no probe result reported on 1 pod"
    )
    assert readiness.failure_line("/", ["a"], {"a": "503"}) == (
        "readiness never passed: GET / -> 503 on the pod"
    )
