"""Cordon and uncordon against a node that another writer changes between read and patch.

The kubelet writes its node's status every few seconds, so a patch carrying the
resourceVersion that was read can lose the race (409 Conflict; seen in CI on the local cluster).
The fake API below does what the API server does with such a patch: it refuses it when the
version no longer matches, and applies a JSON merge patch otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from harness.backends.kube import nodes
from harness.backends.kube.kinds import Kind
from harness.errors import BackendError


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            _merge(target.setdefault(key, {}), value)
        else:
            target[key] = value


Write = Callable[[dict[str, Any]], None]


def status_write(node: dict[str, Any]) -> None:
    """The kubelet's: nothing a cordon looks at changes, but the version does."""
    node.setdefault("status", {})["heartbeat"] = node["metadata"]["resourceVersion"]


class RacingNodeApi:
    """One node; before each patch, the next of ``writes`` (another writer's) lands first."""

    def __init__(self, writes: list[Write]) -> None:
        self.node: dict[str, Any] = {"metadata": {"name": "n1", "resourceVersion": "1"}}
        self.writes = writes
        self.patches = 0

    def read(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any]:
        return copy.deepcopy(self.node)

    def request(self, kind: Kind, verb: str, name: str, body: Any, **_: Any) -> Callable[[], Any]:
        assert verb == "patch"
        return lambda: self._patch(copy.deepcopy(body))

    def call(self, what: str, fn: Callable[[], Any], tolerate: frozenset[int]) -> Any:
        try:
            return fn()
        except ApiException as exc:
            if exc.status in tolerate:
                return {}
            raise BackendError(f"kube API: {what} failed: HTTP {exc.status}") from None

    def _patch(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.writes:
            self._write(self.writes.pop(0))
        if body["metadata"].pop("resourceVersion") != self.node["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        self.patches += 1
        self._write(lambda node: _merge(node, body))
        return copy.deepcopy(self.node)

    def _write(self, write: Write) -> None:
        write(self.node)
        meta = self.node["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)


def test_cordon_and_uncordon_read_again_when_the_node_changed_meanwhile() -> None:
    api: Any = RacingNodeApi([status_write, status_write])
    assert nodes.cordon(api, "n1", "run-a", "ns")
    assert api.node["spec"]["unschedulable"] is True and nodes.cordoned_by(api.node) == "run-a"
    api.writes = [status_write, status_write]
    assert nodes.uncordon(api, "n1", "run-a")
    assert "unschedulable" not in api.node["spec"] and nodes.cordoned_by(api.node) is None
    assert api.patches == 2


def test_a_node_cordoned_by_someone_else_meanwhile_is_left_alone() -> None:
    """The read after the conflict sees an administrator's cordon: it stays theirs."""

    def admin_cordon(node: dict[str, Any]) -> None:
        node["spec"] = {"unschedulable": True}

    api: Any = RacingNodeApi([admin_cordon])
    assert not nodes.cordon(api, "n1", "run-a", "ns")
    assert api.node["spec"] == {"unschedulable": True} and nodes.cordoned_by(api.node) is None
    assert api.patches == 0


def test_a_node_that_never_stops_changing_ends_in_one_line() -> None:
    api: Any = RacingNodeApi([status_write] * nodes.CHANGED_ATTEMPTS)
    with pytest.raises(BackendError, match=r"cannot cordon node n1: it changed between each"):
        nodes.cordon(api, "n1", "run-a", "ns")
    assert "spec" not in api.node
