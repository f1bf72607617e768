"""The page says what each order's phases rest on, beside the phases, from the analysis' own
summary (tables.comparison, context.per_deletion, phasebasis)."""

from __future__ import annotations

from typing import Any

from helpers.analysis import ev, fail, ok

from harness.analysis import build_summary
from harness.report.context import per_deletion
from harness.report.outcome import outcome
from harness.report.tables import comparison
from harness.timeline import EventKind, TimelineEvent

WINDOW = (990.0, 1020.0)
BASE = [
    ev(990.0, EventKind.ENDPOINT_ADDED, "a"),
    ev(990.0, EventKind.ENDPOINT_ADDED, "b"),
    ev(1000.0, EventKind.DELETE_REQUESTED, "a", grace_period_s=30.0),
    ev(1000.3, EventKind.ENDPOINT_REMOVED, "a"),
    ev(1001.0, EventKind.EXITED, "a", code=0),
]
SILENT = [*BASE, ev(1000.0, EventKind.SIGTERM_SENT, "a")]
SAMPLE_APP = [*BASE, ev(1000.4, EventKind.APP_SIGTERM, "a")]
GAP = list(BASE)  # nothing shows SIGTERM


def summary(**timelines: list[TimelineEvent]) -> dict[str, Any]:
    records = [ok(995.0), fail(1000.5)]
    return build_summary({name: (records, t, WINDOW) for name, t in timelines.items()})


def basis_row(s: dict[str, Any]) -> dict[str, tuple[str, str]]:
    _, rows = comparison(s)
    (row,) = [r for r in rows if r.label == "phases rest on"]
    assert row.group == "by phase"
    return {c.order: (c.text, c.title) for c in row.cells}


def test_each_order_says_whether_its_phases_rest_on_app_lines_or_platform_events() -> None:
    shown = basis_row(summary(silent=SILENT, sample=SAMPLE_APP, gap=GAP))
    assert shown["silent"][0] == "platform events only"
    assert shown["sample"][0] == "app lines (app_sigterm) + platform"
    assert shown["gap"][0] == "platform events only; unseen: SIGTERM ×1"  # after_exit: X
    assert "before sigterm: platform (delete_requested, sigterm_sent)" in shown["silent"][1]
    assert "before sigterm: app (app_sigterm, delete_requested)" in shown["sample"][1]
    assert "before sigterm: not delimited for any deletion" in shown["gap"][1]


def test_the_unknown_phase_is_a_row_and_a_phase_count_names_its_basis_on_hover() -> None:
    s = summary(silent=SILENT, gap=GAP)
    _, rows = comparison(s)
    by_label = {r.label: r for r in rows}
    unknown = {c.order: c.text for c in by_label["unknown"].cells}
    assert unknown == {"silent": "0", "gap": "1"}
    draining = {c.order: c.title for c in by_label["draining"].cells}
    assert draining["silent"] == ("draining: platform (endpoint_removed, exited, sigterm_sent)")


def test_each_deletion_row_says_where_its_moments_came_from() -> None:
    s = summary(sample=SAMPLE_APP, gap=GAP)
    (row,) = per_deletion(s["orders"]["sample"], 990.0)
    assert row["basis"] == "SIGTERM: app line; routing stopped: endpoint controller; exit: exited"
    (row,) = per_deletion(s["orders"]["gap"], 990.0)
    assert row["basis"].startswith("SIGTERM: not seen;")


def test_a_summary_from_before_phase_basis_says_not_recorded() -> None:
    s = summary(silent=SILENT)
    entry = s["orders"]["silent"]
    del entry["phase_basis"]
    for item in entry["per_deletion"]:
        del item["basis"]
    assert basis_row(s)["silent"][0] == "not recorded"
    (row,) = per_deletion(entry, 990.0)
    assert row["basis"] == "not recorded"


def _ignored_sigterm(pod: str, d: float) -> list[TimelineEvent]:
    return [
        ev(d, EventKind.DELETE_REQUESTED, pod, grace_period_s=3.0),
        ev(d, EventKind.SIGTERM_SENT, pod),
        ev(d + 0.5, EventKind.REMOVAL_APPLIED, pod),
        ev(d + 3.0, EventKind.KILLED, pod, after_s=3.0, grace_period_s=3.0),
    ]


def test_the_verdict_says_when_no_drop_came_at_the_price_of_the_whole_grace_period() -> None:
    killed = [*BASE[:2], *_ignored_sigterm("a", 1000.0), *_ignored_sigterm("b", 1005.0)]
    # One request inside a deletion window each: without it, neither would be evidence.
    s = build_summary(
        {
            "ignores": ([ok(995.0), ok(1001.0)], killed, WINDOW),
            "exits": ([ok(995.0), ok(1001.0)], SILENT, WINDOW),
        }
    )
    lines = {line.order: line for line in outcome(s).lines}
    assert lines["ignores"].text.startswith(
        "ignores dropped no request of 2 over 2 deletions, but each stop took the full grace "
        "period: the app did not exit on SIGTERM and was killed (SIGKILL) at its end. With 1 "
        "request inside deletion windows,"
    )
    assert not lines["ignores"].bad
    assert lines["exits"].text.startswith("exits dropped no request of 2 over 1 deletion. With")
