"""The top of the page in words: did any order drop requests, how sure that is, and did the
gate hold.

Pure functions of the summary, so the wording can be tested without a browser. A variant that
dropped nothing says how high its failure rate may still be (the 95 % upper bound of
``orders.<v>.confidence``, with the deletions and the requests inside their windows it rests
on); one whose run could not show anything about shutdowns says it is inconclusive, never that
it is clean; and the comparisons say whether two variants' counts differ beyond chance (the
summary's ``comparisons``: the gated variant against each other, or every pair when ungated).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.analysis.confidence import FISHER_TEST, SIGNIFICANCE_LEVEL
from harness.analysis.evidence import NO_REQUEST
from harness.errors import HarnessError
from harness.gate import GateLimits
from harness.report.formats import as_float, as_int, fmt_int, fmt_pct, plural_s
from harness.summaryfile import order_names, summary_orders


@dataclass(frozen=True, slots=True)
class OrderLine:
    order: str
    failed: int | None
    requests: int | None
    text: str
    bad: bool
    inconclusive: str | None = None  # why its run cannot show how it shuts down


@dataclass(frozen=True, slots=True)
class GateView:
    ok: bool
    line: str
    order: str
    limits: str
    verdict: str = ""  # pass | fail | inconclusive ("": from ok, a summary written before)

    @property
    def word(self) -> str:
        return (self.verdict or ("pass" if self.ok else "fail")).upper()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the run came to: a headline, one line per order, and the gate's verdict if gated."""

    headline: str
    bad: bool
    lines: list[OrderLine]
    gate: GateView | None = None
    comparisons: list[str] = field(default_factory=list)  # "a vs b: ... p = ..." sentences


def outcome(summary: Mapping[str, Any]) -> Outcome:
    names = order_names(summary)
    lines = [_order_line(name, summary_orders(summary)[name]) for name in names]
    # Dropped: failed requests, or counts missing altogether (nothing vouches for the variant).
    dropped = [line for line in lines if line.failed or (line.bad and not line.inconclusive)]
    unsure = [line for line in lines if line.inconclusive is not None and not line.failed]
    if not names:
        headline = "No variant ran: there is nothing to judge."
    elif not dropped and len(unsure) == len(names):
        reasons = sorted({str(line.inconclusive) for line in unsure})
        headline = f"Inconclusive: no variant's run could show a shutdown ({'; '.join(reasons)})."
    elif not dropped:
        headline = f"No variant dropped a request ({len(names)} variant{plural_s(len(names))} ran)."
    else:
        who = ", ".join(line.order for line in dropped)
        headline = f"{len(dropped)} of {len(names)} variants dropped requests: {who}."
    if unsure and len(unsure) < len(names):
        headline += f" Inconclusive: {', '.join(line.order for line in unsure)}."
    gate = gate_view(summary)
    # A gated run is judged by its gate: the other orders are there to be compared, and are
    # expected to drop requests.
    bad = (not gate.ok) if gate is not None else any(line.bad for line in lines) or not names
    comparisons = comparison_lines(summary, gate.order if gate is not None else None)
    return Outcome(headline, bad, lines, gate, comparisons)


def gate_view(summary: Mapping[str, Any]) -> GateView | None:
    """The gate's verdict as the run stored it (summary's "gate" section, written by the one
    evaluation of the summary), when the run was gated."""
    section = summary.get("gate")
    if not isinstance(section, dict):
        return None
    order = str(section.get("order", "graceful"))
    ok, line = section.get("ok"), section.get("line")
    if not isinstance(ok, bool) or not isinstance(line, str):
        return GateView(False, "FAIL the summary's gate section has no verdict", order, "")
    try:
        limits = GateLimits.from_mapping(section).describe()
    except HarnessError as exc:
        return GateView(False, f"FAIL {exc}", order, "")
    verdict = section.get("verdict")
    known = verdict in ("pass", "fail", "inconclusive") and (verdict == "pass") == ok
    return GateView(ok, line, order, limits, str(verdict) if known else "")


def comparison_lines(summary: Mapping[str, Any], gated: str | None) -> list[str]:
    """One sentence per comparison of the summary: with a gate, the gated variant against each
    other; without one, every pair."""
    pairs = summary.get("comparisons")
    if not isinstance(pairs, list):
        return []
    lines = []
    for pair in pairs:
        if not isinstance(pair, dict):
            continue
        a, b = pair.get("a"), pair.get("b")
        if gated is not None and gated not in (a, b):
            continue
        if gated is not None and b == gated:  # the gated variant first
            a, b = b, a
            counts = [pair.get(k) for k in ("failed_b", "requests_b", "failed_a", "requests_a")]
        else:
            counts = [pair.get(k) for k in ("failed_a", "requests_a", "failed_b", "requests_b")]
        p_value = as_float(pair.get("p_value"))
        if p_value is None or any(as_int(c) is None for c in counts):
            continue
        failed_a, requests_a, failed_b, requests_b = (fmt_int(c) for c in counts)
        verdict = (
            "a significant difference at the 5 % level"
            if p_value < SIGNIFICANCE_LEVEL
            else "not significant at the 5 % level: the counts alone do not tell them apart"
        )
        lines.append(
            f"{a} {failed_a}/{requests_a} vs {b} {failed_b}/{requests_b} failed: "
            f"p = {_fmt_p(p_value)} ({pair.get('test') or FISHER_TEST}), {verdict}."
        )
    return lines


def _fmt_p(p_value: float) -> str:
    if p_value <= 0.0:
        return "< 1e-300"  # below what a float holds
    return f"{p_value:.2g}" if p_value >= 1e-3 else f"{p_value:.1e}"


def _order_line(name: str, entry: Mapping[str, Any]) -> OrderLine:
    failed, requests = as_int(entry.get("failed")), as_int(entry.get("requests"))
    deletions = as_int(entry.get("deletions"))
    over = f" over {deletions} deletion{plural_s(deletions)}" if deletions is not None else ""
    confidence = entry.get("confidence")
    confidence = confidence if isinstance(confidence, dict) else {}
    unsure = confidence.get("inconclusive")
    unsure = unsure if isinstance(unsure, str) else None
    if failed is None or requests is None:
        return OrderLine(name, failed, requests, f"{name}: no request counts recorded.", True)
    if requests == 0:
        text = f"{name}: inconclusive, no request completed."
        return OrderLine(name, failed, requests, text, True, NO_REQUEST)
    if failed == 0 and unsure is not None:
        text = (
            f"{name}: inconclusive, {unsure}: {fmt_int(requests)} request{plural_s(requests)} "
            "and none dropped, "
            "but none of them met a shutdown, so they say nothing about one."
        )
        return OrderLine(name, failed, requests, text, True, unsure)
    if failed == 0:
        text = f"{name} dropped no request of {fmt_int(requests)}{over}{_killed_note(entry)}."
        return OrderLine(name, failed, requests, text + _bound_note(confidence), False)
    text = (
        f"{name} dropped {fmt_int(failed)} of {fmt_int(requests)} requests "
        f"({fmt_pct(failed / requests)}){over}"
    )
    top_phase = largest(entry.get("failures_by_phase"))
    top_class = largest(entry.get("failures_by_class"))
    if top_phase and top_class:
        phase = "in an unknown phase" if top_phase[0] == "unknown" else top_phase[0]
        text += f"; mostly {phase.replace('_', ' ')} ({fmt_int(top_phase[1])})"
        text += f" and {top_class[0].replace('_', ' ')} ({fmt_int(top_class[1])})"
    if unsure is not None:
        text += f". Inconclusive about shutdowns: {unsure}"
    return OrderLine(name, failed, requests, text + ".", True, unsure)


def _bound_note(confidence: Mapping[str, Any]) -> str:
    """ " With N requests inside deletion windows, ..." : how high the failure rate of a variant
    that dropped nothing may still be (the 95 % upper bound), and what that rests on."""
    bound = as_float(confidence.get("upper_bound_95"))
    in_windows = as_int(confidence.get("requests_in_windows"))
    if bound is None or in_windows is None:
        return ""
    inside = as_float(confidence.get("upper_bound_95_in_windows"))
    there = f"; {fmt_pct(inside)} inside the windows" if inside is not None else ""
    return (
        f" With {fmt_int(in_windows)} request{plural_s(in_windows)} inside deletion windows, its "
        f"failure rate is below {fmt_pct(bound)} at 95 % confidence (exact binomial upper "
        f"bound{there})."
    )


def _killed_note(entry: Mapping[str, Any]) -> str:
    """ ", but ..." when its deleted pods were killed at the end of their grace period: no drops,
    yet the app ignored SIGTERM and every such stop took the whole grace period."""
    items = entry.get("per_deletion")
    deletions = [d for d in items if isinstance(d, dict)] if isinstance(items, list) else []
    killed = sum(
        1
        for d in deletions
        if isinstance(d.get("basis"), dict) and d["basis"].get("exit") == "killed"
    )
    if not killed:
        return ""
    who = "each stop" if killed == len(deletions) else f"{killed} of {len(deletions)} stops"
    return (
        f", but {who} took the full grace period: the app did not exit on SIGTERM and was "
        "killed (SIGKILL) at its end"
    )


def largest(section: Any) -> tuple[str, int] | None:
    if not isinstance(section, dict):
        return None
    counts = [(k, v) for k, v in section.items() if isinstance(v, int) and v > 0]
    return max(counts, key=lambda kv: kv[1]) if counts else None
