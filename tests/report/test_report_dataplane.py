"""The propagation section's data plane part: the controller → proxy gap per deletion with its
node and method, the agreement with the ground truth, and why the proxy's moment was not
measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.analysis import ev, unavailable
from helpers.synthetic import make_run
from markupsafe import escape

from harness.analysis import build_order_summary, summary_of_orders
from harness.report import write_report
from harness.report.dataplane import data_plane_section
from harness.timeline import EventKind, TimelineEvent

WINDOW = (990.0, 1060.0)


def applied(ts: float, pod: str, node: str, method: str) -> TimelineEvent:
    return ev(ts, EventKind.REMOVAL_APPLIED, pod, node=node, method=method)


def deleted(pod: str, d: float, *moments: TimelineEvent) -> list[TimelineEvent]:
    return [
        ev(d, EventKind.DELETE_REQUESTED, pod),
        ev(d + 0.1, EventKind.ENDPOINT_REMOVED, pod),
        *moments,
        ev(d + 1.0, EventKind.EXITED, pod),
    ]


MEASURED = [
    *deleted(
        "a",
        1000.0,
        applied(1000.3, "a", "n1", "nat_rules_host"),
        applied(1000.32, "a", "n1", "kube_proxy_metrics"),
    ),
    *deleted(
        "b",
        1010.0,
        applied(1010.5, "b", "n1", "nat_rules_host"),
        applied(1010.54, "b", "n1", "kube_proxy_metrics"),
    ),
    *deleted("c", 1020.0, applied(1020.2, "c", "n1", "kube_proxy_metrics")),
]
REFUSED = "the agent DaemonSet was refused: forbidden"
NOT_MEASURED = [
    unavailable("n1", "nat_rules", REFUSED),
    *deleted("x", 1000.0),
    *deleted("y", 1010.0),
    *deleted("z", 1020.0),
]


def summary_of(timeline: list[TimelineEvent], **kw: Any) -> dict[str, Any]:
    order = build_order_summary("naive", [], timeline, WINDOW, **kw)
    return summary_of_orders({"naive": order})


def test_gap_per_deletion_with_node_and_method_and_the_agreement_line() -> None:
    section = data_plane_section(summary_of(MEASURED, new_connections=False))
    rows = [
        (g.pod, g.node, g.method, g.endpoint_removed, g.removal_applied, g.gap)
        for g in section.gaps
    ]
    assert rows == [
        ("a", "n1", "the node's NAT rules read from the host", "100 ms", "300 ms", "200 ms"),
        ("b", "n1", "the node's NAT rules read from the host", "100 ms", "500 ms", "400 ms"),
        ("c", "n1", "kube-proxy metrics", "100 ms", "200 ms", "100 ms"),
    ]
    assert section.lines[0] == "Controller → proxy: p50 200 ms, p99 400 ms over 3 deletions."
    assert section.lines[1] == (
        "Agreement with the ground truth (the node's NAT rules read from the host): kube-proxy "
        "metrics: n 2, |difference| p50 20.0 ms, max 40.0 ms."
    )
    assert section.lines[2].startswith("No served-by bound: the clients keep connections alive")


def test_not_measured_says_why() -> None:
    section = data_plane_section(summary_of(NOT_MEASURED))
    assert section.gaps == []
    assert section.lines == [f"The proxy's moment was not measured: nat_rules on n1: {REFUSED}."]


def test_the_page_shows_the_gap_table_the_lines_and_the_stage(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, orders=("naive",))
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text())
    measured = summary_of(MEASURED)
    summary["orders"]["naive"]["propagation_ms"] = measured["orders"]["naive"]["propagation_ms"]
    summary["recommendation"] = measured["recommendation"]
    path.write_text(json.dumps(summary))
    page = write_report(run_dir).read_text(encoding="utf-8")
    assert 'id="controller-to-proxy"' in page
    assert '<td class="num" data-value="400.0">400 ms</td>' in page
    assert "Agreement with the ground truth" in page
    assert "Sized from the data plane" in page
    assert str(escape(measured["recommendation"]["basis"])) in page
