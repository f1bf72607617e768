"""The verdict at the top of the page with its confidence: the upper bound on a clean variant's
failure rate and what it rests on, inconclusive variants, and whether two variants differ beyond
chance (harness.report.outcome)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.analysis import deletion, ev, fail, ok

from harness.analysis import build_summary
from harness.gate import GateLimits, evaluate
from harness.report.html import render_report
from harness.report.outcome import outcome
from harness.timeline import EventKind, TimelineEvent

WINDOW = (990.0, 1030.0)
# One deletion of pod a: D=1000, R=1001, X=1002 -> its window is [1000, 1004].
NO_DELETION = [ev(990.0, EventKind.ENDPOINT_ADDED, pod) for pod in "ac"]
DELETION = [*NO_DELETION, *deletion("a", 1000.0, 1000.5, 1001.0, 1002.0)]
CLEAN = [ok(1000.0 + i * 0.01, pod="c") for i in range(300)]  # 300, all inside the window
DROPPED = [*CLEAN[:274], *(fail(1001.5) for _ in range(26))]


def run(**variants: tuple[list[Any], list[TimelineEvent]]) -> dict[str, Any]:
    return build_summary({name: (r, t, WINDOW) for name, (r, t) in variants.items()})


def gated(summary: dict[str, Any], order: str) -> dict[str, Any]:
    summary["gate"] = evaluate(summary, GateLimits(order)).to_dict()
    return summary


def test_a_clean_variant_states_its_upper_bound_deletions_and_requests_in_windows() -> None:
    (line,) = outcome(run(graceful=(CLEAN, DELETION))).lines
    assert not line.bad and line.inconclusive is None
    assert line.text == (
        "graceful dropped no request of 300 over 1 deletion. With 300 requests inside deletion "
        "windows, its failure rate is below 0.994 % at 95 % confidence (exact binomial upper "
        "bound; 0.994 % inside the windows)."
    )


def test_no_deletion_is_inconclusive_for_every_variant() -> None:
    view = outcome(run(graceful=(CLEAN, NO_DELETION), naive=(CLEAN, NO_DELETION)))
    assert view.headline == "Inconclusive: no variant's run could show a shutdown (no deletion)."
    assert view.bad
    for line in view.lines:
        assert line.bad and line.inconclusive == "no deletion"
        assert line.text.startswith(f"{line.order}: inconclusive, no deletion: 300 requests")


def test_requests_outside_every_window_are_inconclusive_too() -> None:
    outside = [ok(995.0 + i * 0.01, pod="c") for i in range(100)]
    (line,) = outcome(run(graceful=(outside, DELETION))).lines
    assert line.inconclusive == "no request inside any deletion window"
    assert "inconclusive" in line.text and line.bad


def test_the_headline_names_inconclusive_variants_beside_the_dropping_ones() -> None:
    view = outcome(run(naive=(DROPPED, DELETION), graceful=(CLEAN, NO_DELETION)))
    assert view.headline == "1 of 2 variants dropped requests: naive. Inconclusive: graceful."


def test_gated_comparisons_put_the_gated_variant_against_each_other() -> None:
    summary = gated(
        run(naive=(DROPPED, DELETION), prestop=(CLEAN[:299], DELETION), graceful=(CLEAN, DELETION)),
        "graceful",
    )
    lines = outcome(summary).comparisons
    assert len(lines) == 2  # graceful vs naive, graceful vs prestop; not naive vs prestop
    assert lines[0] == (
        "graceful 0/300 vs naive 26/300 failed: p = 1.7e-08 (Fisher's exact test, two-sided), "
        "a significant difference at the 5 % level."
    )
    assert lines[1].startswith("graceful 0/300 vs prestop 0/299 failed: p = 1 (Fisher's")
    assert lines[1].endswith("not significant at the 5 % level: the counts alone do not tell "
                             "them apart.")  # fmt: skip


def test_ungated_comparisons_cover_every_pair() -> None:
    summary = run(a=(DROPPED, DELETION), b=(CLEAN, DELETION), c=(CLEAN[:299], DELETION))
    assert [line.split(" failed:")[0] for line in outcome(summary).comparisons] == [
        "a 26/300 vs b 0/300",
        "a 26/300 vs c 0/299",
        "b 0/300 vs c 0/299",
    ]


def test_the_page_shows_inconclusive_and_the_significance(tmp_path: Path) -> None:
    page = render_report(tmp_path, gated(run(graceful=(CLEAN, NO_DELETION)), "graceful"))
    assert '<span class="gate-word">INCONCLUSIVE</span>' in page
    assert 'data-ok="false" data-verdict="inconclusive"' in page
    page = render_report(tmp_path, run(naive=(DROPPED, DELETION), graceful=(CLEAN, DELETION)))
    assert 'id="significance"' in page and "Fisher&#39;s exact test, two-sided" in page


def test_a_summary_from_before_the_confidence_block_reads_as_it_did() -> None:
    summary = run(graceful=(CLEAN, DELETION))
    del summary["orders"]["graceful"]["confidence"]
    del summary["comparisons"]
    view = outcome(summary)
    assert view.lines[0].text == "graceful dropped no request of 300 over 1 deletion."
    assert view.comparisons == []
