"""Teardown's gone-waits reap the objects of pods whose shutdown is over, and only those.

Kubernetes 1.20.0-1.20.2's kubelet leaves a pod's object behind for up to a minute after its
containers ended (kubernetes#97288); on the local cluster each order's teardown waited 30-65 s
for that. The fake API below holds pods as the API server would show them and applies deletes
the way it does: grace period 0 removes the object, a UID precondition that does not match
refuses (the Api's delete answers ``{}`` then).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes.client.exceptions import ApiException

from harness.backends.kube import reap
from harness.backends.kube.api import Api
from harness.backends.kube.kinds import POD, Kind


def pod(name: str, *, deleted_in_s: float | None, containers: list[str]) -> dict[str, Any]:
    """A pod whose deletion's deadline is ``deleted_in_s`` from now (None: not deleted), with
    containers in the states named ("running", "terminated"). Times are from the moment of the
    call: the reaper compares them with its own clock, read a moment later."""
    meta: dict[str, Any] = {"name": name, "namespace": "drainlab", "uid": f"uid-{name}"}
    if deleted_in_s is not None:
        deadline = datetime.fromtimestamp(time.time() + deleted_in_s, tz=UTC)
        meta["deletionTimestamp"] = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
    states = {"running": {"startedAt": "2026-12-02T05:00:00Z"}, "terminated": {"exitCode": 0}}
    statuses = [{"name": f"c{i}", "state": {s: states[s]}} for i, s in enumerate(containers)]
    return {"metadata": meta, "status": {"containerStatuses": statuses}}


class PodsApi:
    """Pods as the API server holds them; a pod delete as it answers one (``refuse``: with that
    status, every time)."""

    def __init__(self, *pods: dict[str, Any], refuse: int | None = None) -> None:
        self.pods = {p["metadata"]["name"]: p for p in pods}
        self.deletes: list[tuple[str, dict[str, Any]]] = []
        self.refuse = refuse

    def request(self, kind: Kind, verb: str, name: str, namespace: str, body: Any) -> Any:
        assert (kind, verb, namespace) == (POD, "delete", "drainlab")
        return lambda: self._delete(name, body)

    def _delete(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.deletes.append((name, body))
        found = self.pods.get(name)
        if self.refuse is not None:
            raise ApiException(status=self.refuse, reason="Forbidden")
        if found is None:
            raise ApiException(status=404, reason="Not Found")
        if found["metadata"]["uid"] != body["preconditions"]["uid"]:
            raise ApiException(status=409, reason="Conflict")
        if body.get("gracePeriodSeconds") == 0:
            del self.pods[name]
        return found

    def listed(self) -> list[dict[str, Any]]:
        return list(self.pods.values())


def reaper(api: PodsApi) -> reap.Reaper:
    return reap.Reaper(cast(Api, api))


def test_only_terminating_pods_whose_shutdown_is_over_are_reaped() -> None:
    api = PodsApi(
        pod("ended", deleted_in_s=25, containers=["terminated", "terminated"]),
        pod("past-grace", deleted_in_s=-30, containers=["running"]),  # status left behind
        pod("stopping", deleted_in_s=25, containers=["terminated", "running"]),
        pod("in-grace", deleted_in_s=-1, containers=["running"]),  # within the kill slack
        pod("live-but-exited", deleted_in_s=None, containers=["terminated"]),  # not deleted
    )
    assert reaper(api).reap_ended(api.listed()) == 2
    assert api.deletes == [
        ("ended", {"gracePeriodSeconds": 0, "preconditions": {"uid": "uid-ended"}}),
        ("past-grace", {"gracePeriodSeconds": 0, "preconditions": {"uid": "uid-past-grace"}}),
    ]
    assert sorted(api.pods) == ["in-grace", "live-but-exited", "stopping"]


def test_the_wait_is_done_only_when_a_listing_finds_none() -> None:
    api = PodsApi(pod("ended", deleted_in_s=25, containers=["terminated"]))
    check = reaper(api)
    done, account = check.gone(api.listed())
    assert not done  # reaped on the way: the next listing confirms it
    assert account == "1 left: ended (1 of them ended, their objects removed)"
    assert check.gone(api.listed()) == (True, "none left")


def test_a_pod_still_shutting_down_is_waited_for() -> None:
    api = PodsApi(pod("draining", deleted_in_s=25, containers=["running"]))
    check = reaper(api)
    for _ in range(3):
        assert check.gone(api.listed()) == (False, "1 left: draining")
    assert api.deletes == []


def test_a_pod_replaced_under_the_same_name_is_not_deleted() -> None:
    ended = pod("web-0", deleted_in_s=25, containers=["terminated"])
    api = PodsApi(pod("web-0", deleted_in_s=None, containers=["running"]))
    api.pods["web-0"]["metadata"]["uid"] = "uid-new"
    check = reaper(api)
    assert check.reap_ended([ended]) == 0  # asked on the old UID: 409, refused
    assert api.pods["web-0"]["metadata"]["uid"] == "uid-new"
    assert check.refused is None  # a conflict is no refusal: later pods are still reaped


def test_a_refused_reap_is_asked_once_and_the_wait_goes_on() -> None:
    """A user without ``delete`` on pods, or an API server refusing: one call, then the wait is
    the kubelet's, as before reaping existed."""
    api = PodsApi(
        pod("a", deleted_in_s=25, containers=["terminated"]),
        pod("b", deleted_in_s=25, containers=["terminated"]),
        refuse=403,
    )
    check = reaper(api)
    for _ in range(3):
        assert check.gone(api.listed()) == (False, "2 left: a, b")
    assert [name for name, _ in api.deletes] == ["a"]
    assert check.refused == "HTTP 403 Forbidden"
    del api.pods["a"], api.pods["b"]  # the kubelet's cleanup, in its own time
    assert check.gone(api.listed()) == (True, "none left")
