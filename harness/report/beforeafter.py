"""Before -> after: each variant that dropped requests beside its fix's run (``<variant>+fix``,
harness.verify), as summary.json's ``verify`` block and as the table the report opens with and
the terminal prints.

Pure functions of the summary's per-variant blocks (harness.table prints ``lines``). A variant's
measures: its failures (of its requests), their classes and phases (the non-zero ones), the p99
latency of its successful requests, and its pods' termination time: delete -> stopped (the
deletion's ``exit``, the first ``exited`` or ``killed`` at or after the delete: the same moments
as the pods rows' ``delete_requested`` and ``exited``/``killed``).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.fixes.model import FIX_SUFFIX
from harness.report.formats import MISSING, as_float, as_int, fmt_int, fmt_ms, fmt_pct

# The short words for the classes in a narrow cell (the rest keep their own name).
_SHORT = {
    "connection_refused": "refused",
    "connection_reset": "reset",
    "remote_disconnected": "disconnected",
}


def verify_block(orders: Mapping[str, Any]) -> dict[str, Any]:
    """summary.json's ``verify``: for each variant whose fix ran, {"fixed_variant", "before",
    "after"}, in run order; empty when no fix ran."""
    block = {}
    for name, entry in orders.items():
        base = name.removesuffix(FIX_SUFFIX)
        if base != name and isinstance(entry, dict) and isinstance(orders.get(base), dict):
            block[base] = {
                "fixed_variant": name,
                "before": measures(orders[base]),
                "after": measures(entry),
            }
    return block


def measures(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One variant's before (or after) measures, from its summary block."""
    latency = entry.get("latency_ms")
    return {
        "requests": as_int(entry.get("requests")),
        "failed": as_int(entry.get("failed")),
        "failure_rate": as_float(entry.get("failure_rate")),
        "failures_by_class": _non_zero(entry.get("failures_by_class")),
        "failures_by_phase": _non_zero(entry.get("failures_by_phase")),
        "latency_p99_ms": as_float(latency.get("p99")) if isinstance(latency, dict) else None,
        "termination_s": _termination(entry.get("per_deletion")),
    }


def _non_zero(counts: Any) -> dict[str, int]:
    if not isinstance(counts, dict):
        return {}
    return {k: n for k, v in counts.items() if (n := as_int(v))}


def _termination(per_deletion: Any) -> dict[str, Any]:
    """delete -> stopped over the deletions whose pod was seen stopping."""
    spans = []
    for deletion in per_deletion if isinstance(per_deletion, list) else []:
        start = as_float(deletion.get("ts")) if isinstance(deletion, dict) else None
        stop = as_float(deletion.get("exit")) if isinstance(deletion, dict) else None
        if start is not None and stop is not None:
            spans.append(round(stop - start, 6))
    return {
        "median": statistics.median(spans) if spans else None,
        "max": max(spans) if spans else None,
        "samples": len(spans),
    }


@dataclass(frozen=True, slots=True)
class Line:
    """One measure of one variant: its text before and after, and whether the fix helped."""

    variant: str
    fixed_variant: str
    measure: str
    before: str
    after: str
    verdict: str  # "better", "worse" or "same": how the after compares (lower is better)


def lines(summary: Mapping[str, Any]) -> list[Line]:
    """The rows of the before -> after table (summary.json's ``verify``): five measures per
    variant, then what its fix could not change (the ``fixes`` block): a partial fix is never
    shown as a success."""
    block = summary.get("verify")
    fixes = summary.get("fixes")
    rows = []
    for variant, pair in (block if isinstance(block, dict) else {}).items():
        before, after = pair.get("before") or {}, pair.get("after") or {}
        fixed = str(pair.get("fixed_variant", variant + FIX_SUFFIX))
        for measure, text, key in _MEASURES:
            verdict = _verdict(key, before, after)
            rows.append(Line(variant, fixed, measure, text(before), text(after), verdict))
        fix = fixes.get(variant) if isinstance(fixes, dict) else None
        if isinstance(fix, dict):
            rows.append(_fix_line(variant, fixed, fix))
    return rows


def _fix_line(variant: str, fixed: str, fix: Mapping[str, Any]) -> Line:
    """The fix itself: its file, and whether it can remove every cause the run saw."""
    unfixable = [u for u in fix.get("unfixable") or [] if isinstance(u, dict)]
    if fix.get("partial"):
        causes = "; ".join(_headline(str(u.get("what", ""))) for u in unfixable)
        causes = causes or "see the Fix section"
        return Line(
            variant, fixed, "fix", str(fix.get("file") or "-"), f"partial: {causes}", "worse"
        )
    return Line(variant, fixed, "fix", str(fix.get("file") or "-"), "complete", "same")


def _headline(what: str) -> str:
    """A cause's words up to its first colon outside `code`: the table names it, the Fix
    section explains it."""
    in_code = False
    for i, char in enumerate(what):
        if char == "`":
            in_code = not in_code
        elif char == ":" and not in_code:
            return what[:i]
    return what


def _failed(m: Mapping[str, Any]) -> str:
    failed, requests = fmt_int(m.get("failed")), fmt_int(m.get("requests"))
    return f"{failed} of {requests} ({fmt_pct(m.get('failure_rate'))})"


def _counts(key: str) -> Any:
    def text(m: Mapping[str, Any]) -> str:
        counts = m.get(key) or {}
        said = ", ".join(f"{_SHORT.get(k, k).replace('_', ' ')} {n:,}" for k, n in counts.items())
        return said or "none"

    return text


def _p99(m: Mapping[str, Any]) -> str:
    return fmt_ms(m.get("latency_p99_ms"))


def _termination_text(m: Mapping[str, Any]) -> str:
    t = m.get("termination_s") or {}
    if not t.get("samples"):
        return MISSING
    return f"{t['median']:.2f} s median, {t['max']:.2f} s max ({t['samples']} pods)"


_MEASURES = (
    ("failed", _failed, "failed"),
    ("classes", _counts("failures_by_class"), "failed"),
    ("phases", _counts("failures_by_phase"), "failed"),
    ("p99 latency", _p99, "latency_p99_ms"),
    ("termination (delete -> stopped)", _termination_text, None),
)


def _verdict(key: str | None, before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """Lower is better for failures and latency; termination is reported, not judged (a preStop
    sleep makes it longer on purpose)."""
    old, new = (as_float(before.get(key)), as_float(after.get(key))) if key else (None, None)
    if old is None or new is None or old == new:
        return "same"
    return "better" if new < old else "worse"
