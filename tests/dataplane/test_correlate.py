"""The rules that decide when a node's proxy applied an endpoint removal (correlate.py)."""

from __future__ import annotations

import pytest

from harness.dataplane.correlate import RemovalCorrelator, host_of
from harness.timeline import EventKind

POD, ADDR = "web-1", "10.0.0.5:8080"


def metrics_ready(node: str = "n1") -> RemovalCorrelator:
    """A correlator whose node has reported one sync before the removal at t=10."""
    c = RemovalCorrelator()
    assert c.proxy_metrics(node, 9.0, 8.5, changes_total=4, changes_pending=0) == []
    return c


def test_metrics_the_first_sync_after_the_removal_that_took_in_a_new_change_applies_it() -> None:
    c = metrics_ready()
    assert c.endpoint_removed(POD, ADDR, 10.0) == []
    assert c.proxy_metrics("n1", 10.02, 8.5, changes_total=5, changes_pending=1) == []
    (event,) = c.proxy_metrics("n1", 10.31, 10.3, changes_total=5, changes_pending=0)
    assert event.kind == EventKind.REMOVAL_APPLIED and event.pod == POD and event.ts == 10.3
    assert event.detail == {
        "node": "n1",
        "method": "kube_proxy_metrics",
        "address": ADDR,
        "endpoint_removed_ts": 10.0,
        "sync_ts": 10.3,
        "poll_ms": 10.0,
        "changes_total": 5,
    }


def test_metrics_a_sync_with_changes_still_pending_is_not_taken() -> None:
    c = metrics_ready()
    c.endpoint_removed(POD, ADDR, 10.0)
    # Synced, but another change arrived meanwhile: was ours in it? Not judged; the next is.
    assert c.proxy_metrics("n1", 10.2, 10.15, changes_total=6, changes_pending=1) == []
    (event,) = c.proxy_metrics("n1", 11.2, 11.15, changes_total=6, changes_pending=0)
    assert event.ts == 11.15


def test_metrics_a_sync_without_a_new_change_counted_is_not_taken() -> None:
    c = metrics_ready()
    c.endpoint_removed(POD, ADDR, 10.0)
    # A periodic resync after R, before kube-proxy counted the change: not the one.
    assert c.proxy_metrics("n1", 10.1, 10.05, changes_total=4, changes_pending=0) == []
    (event,) = c.proxy_metrics("n1", 10.6, 10.55, changes_total=5, changes_pending=0)
    assert event.ts == 10.55


def test_metrics_a_sync_that_ended_before_the_removal_is_not_taken() -> None:
    c = metrics_ready()
    c.endpoint_removed(POD, ADDR, 10.0)
    assert c.proxy_metrics("n1", 10.1, 9.9, changes_total=5, changes_pending=0) == []


def test_metrics_a_node_with_no_reading_before_the_removal_is_not_judged() -> None:
    c = metrics_ready("n1")
    c.endpoint_removed(POD, ADDR, 10.0)
    assert c.proxy_metrics("n2", 10.1, 10.05, changes_total=9, changes_pending=0) == []
    assert len(c.proxy_metrics("n1", 10.1, 10.05, changes_total=5, changes_pending=0)) == 1


def test_metrics_each_node_reports_once_per_pod() -> None:
    c = metrics_ready("n1")
    c.proxy_metrics("n2", 9.0, 8.0, changes_total=1, changes_pending=0)
    c.endpoint_removed(POD, ADDR, 10.0)
    first = c.proxy_metrics("n1", 10.1, 10.05, changes_total=5, changes_pending=0)
    again = c.proxy_metrics("n1", 10.6, 10.55, changes_total=6, changes_pending=0)
    other = c.proxy_metrics("n2", 10.2, 10.15, changes_total=2, changes_pending=0)
    assert [e.detail["node"] for e in first + again + other] == ["n1", "n2"]


def test_nat_the_first_snapshot_without_the_address_applies_the_removal() -> None:
    c = RemovalCorrelator()
    c.endpoint_added(POD, ADDR, 1.0)
    c.nat_snapshot("n1", "nat_rules_host", 9.95, {ADDR, "10.0.0.6:8080"})
    assert c.endpoint_removed(POD, ADDR, 10.0) == []
    assert c.nat_snapshot("n1", "nat_rules_host", 10.05, {ADDR}) == []
    (event,) = c.nat_snapshot("n1", "nat_rules_host", 10.1, set())
    assert event.ts == 10.1 and event.pod == POD
    assert event.detail == {
        "node": "n1",
        "method": "nat_rules_host",
        "address": ADDR,
        "endpoint_removed_ts": 10.0,
        "poll_ms": 50.0,
    }


def test_nat_an_address_gone_before_the_controllers_moment_counts_from_when_it_went() -> None:
    c = RemovalCorrelator()
    c.endpoint_added(POD, ADDR, 1.0)
    c.nat_snapshot("n1", "nat_rules", 9.9, {ADDR})
    c.nat_snapshot("n1", "nat_rules", 9.95, set())
    (event,) = c.endpoint_removed(POD, ADDR, 10.0)
    assert event.ts == 9.95 and event.detail["method"] == "nat_rules"


def test_nat_an_address_never_seen_is_never_reported() -> None:
    c = RemovalCorrelator()
    c.nat_snapshot("n1", "nat_rules", 9.9, {"10.0.0.6:8080"})
    assert c.endpoint_removed(POD, ADDR, 10.0) == []
    assert c.nat_snapshot("n1", "nat_rules", 10.1, set()) == []


def test_nat_a_vanishing_before_the_pod_was_added_is_another_pods() -> None:
    c = RemovalCorrelator()
    c.nat_snapshot("n1", "nat_rules", 1.0, {ADDR})
    c.nat_snapshot("n1", "nat_rules", 2.0, set())  # an earlier pod with the same IP went
    c.endpoint_added(POD, ADDR, 5.0)
    assert c.endpoint_removed(POD, ADDR, 10.0) == []


def test_metrics_a_sync_that_began_after_the_removal_applies_it_with_changes_pending() -> None:
    c = RemovalCorrelator()
    c.proxy_metrics("n1", 9.0, 8.5, changes_total=4, changes_pending=0, durations=(1.0, 10))
    c.endpoint_removed(POD, ADDR, 10.0)
    # kube-proxy counted the removal before the harness saw it (the total is not above the
    # baseline then) and changes came in during the sync: its start, after R, decides.
    c.proxy_metrics("n1", 9.99, 8.5, changes_total=5, changes_pending=1, durations=(1.0, 10))
    (event,) = c.proxy_metrics("n1", 10.2, 10.15, 5, 1, durations=(1.08, 11))
    assert event.ts == 10.15 and event.detail["sync_started_ts"] == 10.07


def test_metrics_a_sync_that_began_before_the_removal_and_left_changes_pending_is_not_taken() -> (
    None
):
    c = RemovalCorrelator()
    c.proxy_metrics("n1", 9.0, 8.5, changes_total=4, changes_pending=0, durations=(1.0, 10))
    c.endpoint_removed(POD, ADDR, 10.0)
    assert c.proxy_metrics("n1", 10.1, 10.05, 5, 1, durations=(1.08, 11)) == []  # began 9.97
    # Two syncs between readings: no one duration; the drained one decides.
    (event,) = c.proxy_metrics("n1", 11.2, 11.1, 6, 0, durations=(1.2, 13))
    assert event.ts == 11.1 and "sync_started_ts" not in event.detail


def test_metrics_a_change_queued_after_the_sync_ended_means_it_is_not_drained() -> None:
    c = metrics_ready()
    c.endpoint_removed(POD, ADDR, 10.0)
    # No change pending, but one was queued after the sync ended: a sync under way took it.
    assert c.proxy_metrics("n1", 10.1, 10.05, 5, 0, queued_ts=10.07) == []
    (event,) = c.proxy_metrics("n1", 10.3, 10.25, 5, 0, queued_ts=10.07)
    assert event.ts == 10.25


def test_nat_the_controllers_ip_matches_the_rules_ip_and_port_on_every_port() -> None:
    c = RemovalCorrelator()
    c.nat_snapshot("n1", "nat_rules_host", 9.9, {"10.0.0.5:8080", "10.0.0.5:9090", "10.0.0.6:80"})
    assert c.endpoint_removed(POD, "10.0.0.5", 10.0) == []
    assert c.nat_snapshot("n1", "nat_rules_host", 10.05, {"10.0.0.5:9090", "10.0.0.6:80"}) == []
    (event,) = c.nat_snapshot("n1", "nat_rules_host", 10.1, {"10.0.0.6:80"})
    assert event.ts == 10.1 and event.detail["address"] == "10.0.0.5"


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        ("10.0.0.5:80", "10.0.0.5"),
        ("10.0.0.5", "10.0.0.5"),
        ("[fd00::5]:80", "fd00::5"),
        ("fd00::5", "fd00::5"),
    ],
)
def test_host_of(endpoint: str, host: str) -> None:
    assert host_of(endpoint) == host


def test_metrics_a_change_kube_proxy_counted_before_the_harness_saw_it_still_counts() -> None:
    """Readings of the local cluster's kube-proxy (close-first, 2026-12-01): the removal was
    counted (53 -> 54) and its sync began at 777.241, 94 ms before the harness's watch saw the
    removal at 777.335; the sync wrote the rules at 777.356 (the host's NAT reads saw the pod
    leave at 777.391). A baseline taken at R had counted it already, and the next sync, at
    779.299, was taken."""
    c = RemovalCorrelator()
    c.proxy_metrics("n1", 774.573, 774.556, 53, 0, (1.9027, 23), 774.017)
    c.proxy_metrics("n1", 777.304, 774.556, 54, 0, (1.9027, 23), 777.241)
    assert c.endpoint_removed(POD, ADDR, 777.335) == []
    (event,) = c.proxy_metrics("n1", 777.411, 777.356, 54, 0, (2.0182, 24), 777.241)
    assert event.ts == 777.356
