"""What each order's phases rest on, in words for the page: the app's own lines or the platform's
events (summary.json ``phase_basis`` and ``per_deletion[].basis``, docs/summary-v1.md). Pure.

A summary written before these fields existed says nothing about it; the page then says "not
recorded" rather than guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The phases phase_basis describes, in the order the page lists phases.
DELIMITED = ("before_sigterm", "propagating", "draining", "after_exit")
# Where a moment was taken from, in words.
SOURCE_WORDS: dict[str, str] = {
    "sigterm_sent": "kubelet",
    "app_sigterm": "app line",
    "prestop_ended": "preStop hook's end",
    "sigterm_due": "preStop sleep's end (derived)",
    "removal_applied": "Service proxy",
    "endpoint_removed": "endpoint controller",
    "exited": "exited",
    "killed": "SIGKILL",
}
MOMENT_WORDS: dict[str, str] = {"sigterm": "SIGTERM", "removal": "routing stopped", "exit": "exit"}
NOT_RECORDED = "not recorded"


def order_basis(entry: Mapping[str, Any]) -> tuple[str, str]:
    """(short text, long text) for one order: what its phases rest on, and what was unseen."""
    block = entry.get("phase_basis")
    if not isinstance(block, dict):
        return NOT_RECORDED, "this summary predates phase_basis"
    phases = [block.get(p) for p in DELIMITED]
    rests = {p.get("rests_on") for p in phases if isinstance(p, dict)}
    app_events = sorted(
        {
            e
            for p in phases
            if isinstance(p, dict) and p.get("rests_on") == "app"
            for e in p.get("events") or []
            if str(e).startswith("app_")
        }
    )
    if "app" in rests:
        short = f"app lines ({', '.join(app_events)}) + platform"
    elif "platform" in rests:
        short = "platform events only"
    else:
        short = "nothing delimited"
    unseen = _unseen(block.get("missing"))
    if unseen:
        short += f"; unseen: {unseen}"
    return short, "; ".join(_phase_line(p, block.get(p)) for p in DELIMITED)


def phase_title(entry: Mapping[str, Any], phase: str) -> str:
    """What one phase's count rests on, for the hover text of its cell; "" when not known."""
    block = entry.get("phase_basis")
    if not isinstance(block, dict) or phase not in DELIMITED:
        return ""
    return _phase_line(phase, block.get(phase))


def deletion_basis(item: Mapping[str, Any]) -> str:
    """One deletion's moments and where each came from, e.g. "SIGTERM: app line; ..."."""
    basis = item.get("basis")
    if not isinstance(basis, dict):
        return NOT_RECORDED
    parts = []
    for moment, words in MOMENT_WORDS.items():
        kind = basis.get(moment)
        parts.append(f"{words}: {SOURCE_WORDS.get(str(kind), str(kind)) if kind else 'not seen'}")
    return "; ".join(parts)


def _phase_line(phase: str, part: Any) -> str:
    name = phase.replace("_", " ")
    if not isinstance(part, dict):
        return f"{name}: {NOT_RECORDED}"
    rests = part.get("rests_on")
    undelimited = part.get("undelimited") or 0
    if rests is None:
        return f"{name}: not delimited for any deletion (its failures are unknown)"
    line = f"{name}: {rests} ({', '.join(str(e) for e in part.get('events') or [])})"
    if undelimited:
        line += f", not delimited for {undelimited} deletion(s)"
    return line


def _unseen(missing: Any) -> str:
    if not isinstance(missing, dict):
        return ""
    return ", ".join(
        f"{words} ×{missing[m]}"
        for m, words in MOMENT_WORDS.items()
        if isinstance(missing.get(m), int) and missing[m] > 0
    )
