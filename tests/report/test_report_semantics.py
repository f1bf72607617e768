"""The report's endpoint semantics: the line near the top, a variant's sentence when a readiness
flip disabled the fallback, and the terminating endpoints' states on the waterfall."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.analysis import ev
from helpers.synthetic import make_run

from harness.kubeversion import embedded_semantics, server_semantics
from harness.report import write_report
from harness.report.markers import EndpointState, endpoint_states
from harness.report.semantics import fallback_sentence, semantics_line
from harness.timeline import EventKind

WHY = "2 requests failed with no ready endpoint while p-1 was terminating and had failed readiness"


def _chart(page: str, order: str) -> str:
    start = page.index(f'data-chart="{order}"')
    return page[start : page.index("</svg>", start)]


def test_the_semantics_line_names_version_source_conditions_and_fallback() -> None:
    embedded = {**embedded_semantics("1.20").block(), "conditions_seen": False}
    assert semantics_line({"semantics": embedded}) == (
        "Endpoint semantics: Kubernetes 1.20, from the embedded profile; serving/terminating "
        "conditions (KEP-1672) not published; serving-terminating fallback (KEP-1669) off."
    )
    server = {**server_semantics("v1.28.3", 28).block(), "conditions_seen": None}
    line = semantics_line({"semantics": server})
    assert line is not None and line.startswith(
        "Endpoint semantics: Kubernetes v1.28.3, from the server;"
    )
    assert "published by the version (no endpoint event showed them)" in line
    assert line.endswith("fallback (KEP-1669) on.")
    unknown = {**server_semantics(None, None).block(), "conditions_seen": None}
    assert "version unknown" in str(semantics_line({"semantics": unknown}))
    assert "fallback (KEP-1669) not known" in str(semantics_line({"semantics": unknown}))
    assert semantics_line({}) is None


def test_the_fallback_sentence_is_the_finding_or_nothing() -> None:
    entry = {"fallback_disabled": {"failed": 2, "pods": ["p-1"], "why": WHY}}
    assert fallback_sentence(entry) == f"A readiness flip disabled the fallback: {WHY}."
    assert fallback_sentence({"failed": 0}) is None


def test_endpoint_states_are_the_terminating_removals_that_say_whether_they_served() -> None:
    events = [
        ev(10.0, EventKind.ENDPOINT_REMOVED, "a", reason="deleted", serving=True, terminating=True),
        ev(
            11.0,
            EventKind.ENDPOINT_REMOVED,
            "a",
            reason="not_serving",
            serving=False,
            terminating=True,
        ),
        ev(
            12.0,
            EventKind.ENDPOINT_REMOVED,
            "b",
            reason="not_ready",
            serving=False,
            terminating=False,
        ),
        ev(13.0, EventKind.ENDPOINT_REMOVED, "c", reason="deleted", serving=None, terminating=None),
        ev(14.0, EventKind.ENDPOINT_ADDED, "d", serving=True, terminating=True),
    ]
    assert endpoint_states(events, 10.0) == [
        EndpointState("a", 0.0, True),
        EndpointState("a", 1.0, False),
    ]


def _with_semantics(root: Path) -> Path:
    """A synthetic 1.28 run: graceful's first deleted pod published as serving-terminating,
    then not serving; graceful has the finding, prestop not."""
    run_dir = make_run(root, orders=("prestop", "graceful"), gate=None)
    rows = [json.loads(line) for line in (run_dir / "pods-graceful.jsonl").read_text().splitlines()]
    first = next(r for r in rows if r.get("delete_requested") is not None)
    d = float(first["delete_requested"])
    with (run_dir / "timeline-graceful.jsonl").open("a", encoding="utf-8") as handle:
        for t, serving in ((d, True), (d + 0.4, False)):
            detail = {"reason": "deleted", "ready": False, "serving": serving, "terminating": True}
            event: dict[str, Any] = {
                "ts": t,
                "kind": "endpoint_removed",
                "pod": first["pod"],
                "detail": detail,
            }
            handle.write(json.dumps(event) + "\n")
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["semantics"] = {**embedded_semantics("1.28").block(), "conditions_seen": True}
    summary["orders"]["graceful"]["fallback_disabled"] = {
        "failed": 2,
        "pods": [first["pod"]],
        "why": WHY,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def test_the_report_shows_semantics_the_finding_and_the_endpoint_states(tmp_path: Path) -> None:
    page = write_report(_with_semantics(tmp_path)).read_text(encoding="utf-8")
    assert (
        'id="semantics" data-fallback="true">Endpoint semantics: Kubernetes 1.28, from the '
        "embedded profile" in page
    )
    assert (
        'id="fallback-graceful">A readiness flip disabled the fallback: 2 requests failed' in page
    )
    assert 'id="fallback-prestop"' not in page
    graceful = _chart(page, "graceful")
    assert "terminating, serving" in graceful and "terminating, not serving" in graceful
    assert "terminating, " not in _chart(page, "prestop")  # no conditions in its events


def test_a_run_without_conditions_or_semantics_shows_neither(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="semantics"' not in page and "fallback-disabled" not in page
    assert "terminating, " not in page
