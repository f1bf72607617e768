"""The data plane's moment on the kube backend: per node the most direct method, then the last
node; its blocks (by method, by node, controller → proxy, agreement, data_plane, last_routed) and
the recommendation's stage and basis."""

from __future__ import annotations

from typing import Any

from helpers.analysis import ev, ok, unavailable

from harness.analysis import build_order_summary, summary_of_orders
from harness.analysis.dataplane import data_plane_states
from harness.analysis.proxygap import KEEPALIVE_NO_BOUND, new_connection_per_request
from harness.timeline import EventKind, TimelineEvent

WINDOW = (990.0, 1060.0)


def applied(ts: float, pod: str, node: str, method: str, removed: float) -> TimelineEvent:
    return ev(
        ts,
        EventKind.REMOVAL_APPLIED,
        pod,
        node=node,
        method=method,
        address="10.0.0.1:8080",
        endpoint_removed_ts=removed,
    )


def watching(node: str, method: str) -> TimelineEvent:
    return ev(980.0, EventKind.DATA_PLANE, None, node=node, method=method, state="watching")


# Two nodes. Pod a: n1 by host NAT rules 280 ms (its metrics said 300), n2 by the agent's NAT
# rules 450 ms (its metrics said 500): the data plane's moment is n2's nat_rules, 450 ms.
# Pod b: n1 metrics only 200 ms, n2 metrics 150 ms: n1's, 200 ms.
TIMELINE = [
    watching("n1", "nat_rules_host"),
    watching("n1", "kube_proxy_metrics"),
    ev(1000.0, EventKind.DELETE_REQUESTED, "a"),
    ev(1000.1, EventKind.ENDPOINT_REMOVED, "a"),
    applied(1000.28, "a", "n1", "nat_rules_host", 1000.1),
    applied(1000.3, "a", "n1", "kube_proxy_metrics", 1000.1),
    applied(1000.45, "a", "n2", "nat_rules", 1000.1),
    applied(1000.5, "a", "n2", "kube_proxy_metrics", 1000.1),
    ev(1001.0, EventKind.EXITED, "a"),
    ev(1010.0, EventKind.DELETE_REQUESTED, "b"),
    ev(1010.05, EventKind.ENDPOINT_REMOVED, "b"),
    applied(1010.2, "b", "n1", "kube_proxy_metrics", 1010.05),
    applied(1010.15, "b", "n2", "kube_proxy_metrics", 1010.05),
    ev(1011.0, EventKind.EXITED, "b"),
]


def summary(records: list[Any] | None = None, **kw: Any) -> dict[str, Any]:
    return build_order_summary("naive", records or [], TIMELINE, WINDOW, **kw)


def test_the_data_plane_moment_is_the_last_node_by_its_most_direct_method() -> None:
    s = summary()
    per = [
        (d["pod"], d["propagation_ms"], d["propagation_node"], d["propagation_method"])
        for d in s["per_deletion"]
    ]
    assert per == [("a", 450.0, "n2", "nat_rules"), ("b", 200.0, "n1", "kube_proxy_metrics")]
    assert s["per_deletion"][0]["propagation_by_node"] == {"n1": 280.0, "n2": 450.0}
    # R, the end of routing that bounds the window, is the last node's too
    assert s["per_deletion"][0]["removal"] == 1000.45


def test_removal_applied_by_method_and_by_node() -> None:
    stage = summary()["propagation_ms"]["stages"]["removal_applied"]
    assert (stage["p50"], stage["p99"], stage["samples"]) == (200.0, 450.0, 2)
    by_method = {m: (b["p50"], b["p99"], b["samples"]) for m, b in stage["by_method"].items()}
    assert by_method == {
        "nat_rules_host": (280.0, 280.0, 1),
        "nat_rules": (450.0, 450.0, 1),
        "kube_proxy_metrics": (200.0, 500.0, 2),  # a: n2 500; b: n1 200
    }
    by_node = {n: (b["p50"], b["p99"], b["samples"]) for n, b in stage["by_node"].items()}
    assert by_node == {"n1": (200.0, 280.0, 2), "n2": (150.0, 450.0, 2)}


def test_controller_to_proxy_gap_per_deletion() -> None:
    gap = summary()["propagation_ms"]["controller_to_proxy"]
    assert gap["per_deletion"] == [
        {
            "pod": "a",
            "node": "n2",
            "method": "nat_rules",
            "endpoint_removed_ms": 100.0,
            "removal_applied_ms": 450.0,
            "gap_ms": 350.0,
        },
        {
            "pod": "b",
            "node": "n1",
            "method": "kube_proxy_metrics",
            "endpoint_removed_ms": 50.0,
            "removal_applied_ms": 200.0,
            "gap_ms": 150.0,
        },
    ]
    assert (gap["p50"], gap["p99"], gap["samples"]) == (150.0, 350.0, 2)


def test_agreement_with_the_host_nat_rules() -> None:
    agreement = summary()["propagation_ms"]["agreement"]
    # only n1 of pod a was seen by the ground truth; its metrics were 20 ms later
    assert agreement == {
        "reference": "nat_rules_host",
        "methods": {"kube_proxy_metrics": {"n": 1, "p50_ms": 20.0, "max_ms": 20.0}},
        "reason": None,
    }


def test_data_plane_measured_names_its_methods() -> None:
    assert summary()["propagation_ms"]["data_plane"] == {
        "measured": True,
        "methods": ["nat_rules_host", "nat_rules", "kube_proxy_metrics"],
        "reason": None,
    }


NOT_MEASURED = [
    unavailable("n1", "kube_proxy_metrics", "kube-proxy metrics not reachable at 127.0.0.1:10249"),
    *(
        e
        for i, pod in enumerate("cde")
        for e in (
            ev(1000.0 + 10 * i, EventKind.DELETE_REQUESTED, pod),
            ev(1000.2 + 10 * i, EventKind.ENDPOINT_REMOVED, pod),
            ev(1001.0 + 10 * i, EventKind.EXITED, pod),
        )
    ),
]
WHY = "kube_proxy_metrics on n1: kube-proxy metrics not reachable at 127.0.0.1:10249"


def test_not_measured_says_why_from_the_observers_events() -> None:
    s = build_order_summary("naive", [], NOT_MEASURED, WINDOW)
    plane = s["propagation_ms"]["data_plane"]
    assert plane == {"measured": False, "methods": [], "reason": WHY}
    assert s["propagation_ms"]["stages"]["removal_applied"]["reason"] == (
        f"no Service proxy removal was observed: {WHY}"
    )
    no_events = build_order_summary("naive", [], NOT_MEASURED[1:], WINDOW)
    assert no_events["propagation_ms"]["data_plane"]["reason"] == "no agent events"


def test_recommendation_falls_back_to_the_controller_and_says_why() -> None:
    s = build_order_summary("naive", [], NOT_MEASURED, WINDOW)
    rec = summary_of_orders({"naive": s})["recommendation"]
    assert rec["stage"] == "controller"
    assert (rec["propagation_p99_ms"], rec["margin_ms"]) == (200.0, 1000.0)
    assert (
        f"3 until endpoint removed by the controller (the proxy's moment was not measured: {WHY})"
        in rec["basis"]
    )
    assert "+ margin 1000 ms" in rec["basis"]


def test_recommendation_on_the_data_plane_names_method_nodes_and_the_slowest_node() -> None:
    three = [
        *TIMELINE,
        ev(1020.0, EventKind.DELETE_REQUESTED, "c"),
        ev(1020.1, EventKind.ENDPOINT_REMOVED, "c"),
        applied(1020.9, "c", "n2", "kube_proxy_metrics", 1020.1),
        applied(1020.3, "c", "n1", "kube_proxy_metrics", 1020.1),
    ]
    s = build_order_summary("naive", [], three, WINDOW)
    rec = summary_of_orders({"naive": s})["recommendation"]
    assert rec["stage"] == "data_plane"
    assert rec["propagation_p99_ms"] == 900.0  # a 450, b 200, c 900 (n2)
    assert rec["nodes"] == {"n1": 300.0, "n2": 900.0}
    assert rec["slowest_node"] == "n2"
    assert (
        "3 until removal applied by the Service proxy: the data plane (the node's NAT rules read "
        "by the agent on n2, kube-proxy metrics on n1, n2; each deletion at the last node to "
        "stop routing); p99 per node: n1 300 ms, n2 900 ms; it covers the slowest node, n2)"
    ) in rec["basis"]


def test_last_routed_bounds_the_data_plane_with_a_new_connection_per_request() -> None:
    # a served a request that began 600 ms after its delete: a proxy still routed a new
    # connection to it then, later than the data plane's 450 ms: one deletion against the bound
    records = [ok(1000.7, latency_ms=100.0, pod="a"), ok(1010.1, latency_ms=10.0, pod="b")]
    block = summary(records, new_connections=True)["propagation_ms"]
    stage = block["stages"]["last_routed"]
    assert (stage["p50"], stage["p99"], stage["samples"], stage["client_group"]) == (
        90.0,
        600.0,
        2,
        "host",
    )
    assert block["last_routed_check"] == {
        "bound": True,
        "checked": 2,
        "earlier_than_bound": 1,
        "pods": ["a"],
        "reason": None,
    }


def test_last_routed_is_no_bound_on_kept_connections() -> None:
    records = [ok(1000.7, latency_ms=100.0, pod="a")]
    block = summary(records, new_connections=False)["propagation_ms"]
    assert block["stages"]["last_routed"]["samples"] == 0
    assert block["stages"]["last_routed"]["reason"] == KEEPALIVE_NO_BOUND
    assert block["last_routed_check"]["bound"] is False
    assert block["last_routed_check"]["reason"] == KEEPALIVE_NO_BOUND


def test_a_new_connection_per_request_needs_keepalive_off_for_every_request() -> None:
    assert new_connection_per_request({"keepalive": False}) is True
    assert new_connection_per_request({}) is False
    assert new_connection_per_request({"keepalive": True}) is False
    mixed = {"keepalive": False, "requests": [{"path": "/", "keepalive": True}]}
    assert new_connection_per_request(mixed) is False


def test_embedded_runs_read_as_the_embedded_proxy_with_no_nodes() -> None:
    embedded = [
        e
        for i, pod in enumerate("xyz")
        for e in (
            ev(1000.0 + 10 * i, EventKind.DELETE_REQUESTED, pod),
            ev(1000.1 + 10 * i, EventKind.ENDPOINT_REMOVED, pod),
            ev(1000.4 + 10 * i, EventKind.REMOVAL_APPLIED, pod, delay_s=0.3),
            ev(1001.0 + 10 * i, EventKind.EXITED, pod),
        )
    ]
    s = build_order_summary("naive", [], embedded, WINDOW)
    block = s["propagation_ms"]
    assert list(block["stages"]["removal_applied"]["by_method"]) == ["embedded_proxy"]
    assert block["stages"]["removal_applied"]["by_node"] == {}
    assert block["data_plane"] == {"measured": True, "methods": ["embedded_proxy"], "reason": None}
    assert [r["gap_ms"] for r in block["controller_to_proxy"]["per_deletion"]] == [300.0] * 3
    rec = summary_of_orders({"naive": s})["recommendation"]
    assert (rec["stage"], rec["nodes"], rec["slowest_node"]) == ("data_plane", {}, None)
    assert (
        "3 until removal applied by the Service proxy: the data plane (the embedded Service "
        "proxy))" in rec["basis"]
    )


def test_a_removal_before_the_delete_that_an_unseen_addition_undid_is_not_its_end() -> None:
    # kube: the pod failed readiness (removed on n1), came back (the controller's endpoint_added;
    # the node's observers report removals only), then was deleted: routing stopped at 400 ms
    timeline = [
        ev(990.0, EventKind.ENDPOINT_ADDED, "a"),
        ev(995.0, EventKind.ENDPOINT_REMOVED, "a"),
        applied(995.3, "a", "n1", "kube_proxy_metrics", 995.0),
        ev(997.0, EventKind.ENDPOINT_ADDED, "a"),
        ev(1000.0, EventKind.DELETE_REQUESTED, "a"),
        ev(1000.1, EventKind.ENDPOINT_REMOVED, "a"),
        applied(1000.4, "a", "n1", "kube_proxy_metrics", 1000.1),
        ev(1001.0, EventKind.EXITED, "a"),
    ]
    d = build_order_summary("naive", [], timeline, WINDOW)["per_deletion"][0]
    assert (d["removal"], d["propagation_ms"], d["basis"]["removal"]) == (
        1000.4,
        400.0,
        "removal_applied",
    )


def test_an_observer_that_never_started_on_any_node_says_so_without_a_node() -> None:
    reason = "a --target run starts no node agent"
    detail = {"node": None, "method": "kube_proxy_metrics", "state": "unavailable"}
    event = TimelineEvent(1.0, EventKind.DATA_PLANE, None, {**detail, "reason": reason})
    states = data_plane_states([event])
    assert states.unavailable == (f"kube_proxy_metrics: {reason}",)
