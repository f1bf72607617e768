"""The top of the page in words: did any order drop requests, and did the gate hold.

Pure functions of the summary, so the wording can be tested without a browser.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.gate import GateLimits
from harness.report.formats import as_int, fmt_int, fmt_pct, plural_s
from harness.summaryfile import order_names, summary_orders


@dataclass(frozen=True, slots=True)
class OrderLine:
    order: str
    failed: int | None
    requests: int | None
    text: str
    bad: bool


@dataclass(frozen=True, slots=True)
class GateView:
    ok: bool
    line: str
    order: str
    limits: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the run came to: a headline, one line per order, and the gate's verdict if gated."""

    headline: str
    bad: bool
    lines: list[OrderLine]
    gate: GateView | None = None


def outcome(summary: Mapping[str, Any]) -> Outcome:
    names = order_names(summary)
    lines = [_order_line(name, summary_orders(summary)[name]) for name in names]
    dropped = [line for line in lines if line.bad]
    if not names:
        headline = "No variant ran: there is nothing to judge."
    elif not dropped:
        headline = f"No variant dropped a request ({len(names)} variant{plural_s(len(names))} ran)."
    else:
        who = ", ".join(line.order for line in dropped)
        headline = f"{len(dropped)} of {len(names)} variants dropped requests: {who}."
    gate = gate_view(summary)
    # A gated run is judged by its gate: the other orders are there to be compared, and are
    # expected to drop requests.
    bad = (not gate.ok) if gate is not None else bool(dropped) or not names
    return Outcome(headline, bad, lines, gate)


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
    return GateView(ok, line, order, limits)


def _order_line(name: str, entry: Mapping[str, Any]) -> OrderLine:
    failed, requests = as_int(entry.get("failed")), as_int(entry.get("requests"))
    deletions = as_int(entry.get("deletions"))
    over = f" over {deletions} deletion{plural_s(deletions)}" if deletions is not None else ""
    if failed is None or requests is None:
        return OrderLine(name, failed, requests, f"{name}: no request counts recorded.", True)
    if requests == 0:
        return OrderLine(name, failed, requests, f"{name}: no request completed.", True)
    if failed == 0:
        text = f"{name} dropped no request of {fmt_int(requests)}{over}{_killed_note(entry)}."
        return OrderLine(name, failed, requests, text, False)
    text = (
        f"{name} dropped {fmt_int(failed)} of {fmt_int(requests)} requests "
        f"({fmt_pct(failed / requests)}){over}"
    )
    top_phase = _largest(entry.get("failures_by_phase"))
    top_class = _largest(entry.get("failures_by_class"))
    if top_phase and top_class:
        phase = "in an unknown phase" if top_phase[0] == "unknown" else top_phase[0]
        text += f"; mostly {phase.replace('_', ' ')} ({fmt_int(top_phase[1])})"
        text += f" and {top_class[0].replace('_', ' ')} ({fmt_int(top_class[1])})"
    return OrderLine(name, failed, requests, text + ".", True)


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


def _largest(section: Any) -> tuple[str, int] | None:
    if not isinstance(section, dict):
        return None
    counts = [(k, v) for k, v in section.items() if isinstance(v, int) and v > 0]
    return max(counts, key=lambda kv: kv[1]) if counts else None
