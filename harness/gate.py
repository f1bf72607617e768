"""The CI gate: does one shutdown order stay within its failure limits?

``evaluate`` is pure: a summary (``docs/summary-v1.md``) and limits in, a verdict out, with one line
that says which order broke which limit by how much (the file itself is read by
``harness.summaryfile``).
The command line is ``harness gate`` and ``harness run --gate`` (harness/cli.py).

Three verdicts: pass, fail (a limit broken: exit 1) and inconclusive (exit 4: the evidence is
not there to judge; never a pass). Rules beyond the user's limits, because a gate must never pass
on evidence that is not there: an order that completed no request, had no deletion, or had no
request inside any deletion window is inconclusive (``harness.analysis.evidence``), and a partial
summary fails (the run was interrupted, so its numbers may stop short of the failures).

The evidence limits ask for more: ``min_deletions``, ``max_upper_bound`` (the exact 95 % upper
bound on the failure rate; above it while the measured rate is within it is inconclusive, since
more requests would decide) and ``max_outage_s`` (``orders.<v>.outage.total_s``; a summary
without it cannot be checked: inconclusive). The limits themselves: ``harness.gatelimits``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.analysis.confidence import upper_bound_95
from harness.analysis.evidence import NO_DELETION, NO_REQUEST_IN_WINDOWS, inconclusive_reason
from harness.gatelimits import (
    EVIDENCE_LIMITS,
    GateLimits,
    GateUsageError,
    check_limits,
    evidence_limit_problems,
    is_number,
    pct,
)
from harness.summaryfile import SummaryInvalidError, order_entry, summary_orders

# Re-exported: the gate's callers take the limits from here.
__all__ = [
    "EVIDENCE_LIMITS",
    "GateLimits",
    "GateResult",
    "GateUsageError",
    "LimitCheck",
    "Verdicts",
    "check_limits",
    "evaluate",
    "evaluate_run",
    "evidence_limit_problems",
]


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """One rule applied to one order: the JUnit writer turns each into a testcase."""

    order: str
    name: str  # measured | complete | evidence | max_failed | max_failure_rate | min_deletions
    # | max_upper_bound | max_outage_s
    ok: bool
    message: str
    # Not ok for want of evidence rather than because a limit was broken: inconclusive.
    inconclusive: bool = False


@dataclass(frozen=True, slots=True)
class GateResult:
    ok: bool
    line: str  # the one line the CLI prints
    order: str
    failed: int  # failures counted under the limits' classes
    requests: int
    checks: tuple[LimitCheck, ...]
    limits: GateLimits

    @property
    def inconclusive(self) -> bool:
        """Not a pass, yet no limit was broken: what is missing is evidence (exit 4)."""
        broken = [c for c in self.checks if not c.ok]
        return not self.ok and bool(broken) and all(c.inconclusive for c in broken)

    @property
    def verdict(self) -> str:
        """pass | fail | inconclusive."""
        return "pass" if self.ok else "inconclusive" if self.inconclusive else "fail"

    def to_dict(self) -> dict[str, Any]:
        """The summary's "gate" section: the limits (`harness gate` starts from them), then the
        verdict as it was when the run ended (the report shows it as it is)."""
        return {
            **self.limits.to_dict(),
            "ok": self.ok,
            "verdict": self.verdict,
            "line": self.line,
            "failed": self.failed,
            "requests": self.requests,
        }


def evaluate(summary: Mapping[str, Any], limits: GateLimits) -> GateResult:
    """Applies ``limits`` to ``limits.order`` in ``summary``; raises only for unusable input."""
    check_limits(limits)
    return _evaluate_order(summary, limits.order, limits)


@dataclass(frozen=True, slots=True)
class Verdicts:
    """A summary judged once: every order that ran under the same limits (JUnit shows them
    all), and which one, if any, decides the run."""

    limits: GateLimits
    gated: str | None  # the order that can fail the run; None: informational only
    results: dict[str, GateResult]  # by order, for every order that ran

    @property
    def gated_result(self) -> GateResult | None:
        """The gated order's verdict; None when nothing is gated. A gated order that did not
        run fails: there is no evidence for it."""
        if self.gated is None:
            return None
        if self.gated in self.results:
            return self.results[self.gated]
        ran = ", ".join(self.results) or "none"
        check = LimitCheck(
            self.gated, "ran", False, f"{self.gated}: did not run (orders run: {ran})"
        )
        return GateResult(False, f"FAIL {check.message}", self.gated, 0, 0, (check,), self.limits)


def evaluate_run(summary: Mapping[str, Any], limits: GateLimits | None) -> Verdicts:
    """The one evaluation of a summary: ``limits`` applied to every order (the defaults, for
    information only, when the run was not gated)."""
    applied = limits if limits is not None else GateLimits()
    check_limits(applied)
    results = {name: _evaluate_order(summary, name, applied) for name in summary_orders(summary)}
    return Verdicts(applied, limits.order if limits is not None else None, results)


def _evaluate_order(summary: Mapping[str, Any], order: str, limits: GateLimits) -> GateResult:
    data = order_entry(summary, order)
    requests = _int_field(data, "requests", order)
    failed = _counted_failures(data, order, limits.classes)
    rate = failed / requests if requests else 0.0
    what = f"{','.join(limits.classes)} failures" if limits.classes else "failed"
    partial = bool(summary.get("partial"))
    deletions, in_windows = _evidence(data, order)
    checks = [
        _check(
            order,
            "measured",
            requests > 0,
            f"{order}: {requests} requests completed",
            f"{order}: no request completed, so nothing was measured",
            inconclusive=True,
        ),
        _check(
            order,
            "complete",
            not partial,
            f"{order}: the run completed",
            f"{order}: the run was interrupted (summary.partial), its numbers may be incomplete",
        ),
    ]
    if requests > 0:  # with no request, "measured" has said all there is to say
        checks.append(_evidence_check(order, requests, deletions, in_windows))
    if limits.max_failed is not None:
        over = failed - limits.max_failed
        counted = f"{order}: {failed} {what} of {requests} requests"
        checks.append(
            _check(
                order,
                "max_failed",
                over <= 0,
                f"{counted} <= max_failed {limits.max_failed}",
                f"{counted} > max_failed {limits.max_failed} (over by {over})",
            )
        )
    if limits.max_failure_rate is not None:
        over_rate = rate - limits.max_failure_rate
        measured = f"{order}: failure rate {pct(rate)} ({failed}/{requests})"
        allowed = f"max_failure_rate {pct(limits.max_failure_rate)}"
        checks.append(
            _check(
                order,
                "max_failure_rate",
                over_rate <= 0,
                f"{measured} <= {allowed}",
                f"{measured} > {allowed} (over by {over_rate * 100:.3g} points)",
            )
        )
    if limits.min_deletions is not None:
        checks.append(_min_deletions_check(order, deletions, limits.min_deletions))
    if limits.max_upper_bound is not None:
        checks.append(_upper_bound_check(order, failed, requests, limits.max_upper_bound))
    if limits.max_outage_s is not None:
        checks.append(_outage_check(order, data, limits.max_outage_s))
    broken = [c for c in checks if not c.ok]
    if broken:
        word = "INCONCLUSIVE" if all(c.inconclusive for c in broken) else "FAIL"
        # What broke first, then what is missing (sorted() keeps each group's order).
        line = f"{word} " + "; ".join(c.message for c in sorted(broken, key=_is_inconclusive))
    else:
        evidence = _bound_note(failed, requests, deletions, in_windows)
        line = f"ok {order}: {failed} {what} of {requests} requests{evidence} ({limits.describe()})"
    return GateResult(not broken, line, order, failed, requests, tuple(checks), limits)


def _is_inconclusive(check: LimitCheck) -> bool:
    return check.inconclusive


def _evidence(data: Mapping[str, Any], order: str) -> tuple[int | None, int | None]:
    """(deletions, requests inside deletion windows) from ``orders.<order>.confidence``; a
    summary written before that block has the deletions alone (None: not recorded)."""
    block = data.get("confidence")
    if isinstance(block, dict):
        where = f"orders.{order}.confidence"
        return (
            _as_int(block.get("deletions"), f"{where}.deletions"),
            _as_int(block.get("requests_in_windows"), f"{where}.requests_in_windows"),
        )
    if block is not None:
        raise SummaryInvalidError(f"summary: orders.{order}.confidence is not an object")
    deletions = data.get("deletions")
    return (
        _as_int(deletions, f"orders.{order}.deletions") if deletions is not None else None
    ), None


def _evidence_check(
    order: str, requests: int, deletions: int | None, in_windows: int | None
) -> LimitCheck:
    reason = inconclusive_reason(requests, deletions, in_windows)
    why = {
        NO_DELETION: "no deletion, so no shutdown was tested",
        NO_REQUEST_IN_WINDOWS: (
            f"no request inside any deletion window ({_n(deletions, 'deletion')}), "
            "so no request met a shutdown"
        ),
    }
    return _check(
        order,
        "evidence",
        reason is None,
        f"{order}: {_n(in_windows, 'request')} inside the windows of {_n(deletions, 'deletion')}",
        f"{order}: {why.get(reason or '', reason)}",
        inconclusive=True,
    )


def _min_deletions_check(order: str, deletions: int | None, least: int) -> LimitCheck:
    if deletions is None:
        message = f"{order}: the summary does not record its deletions (min_deletions {least})"
        return LimitCheck(order, "min_deletions", False, message, inconclusive=True)
    return _check(
        order,
        "min_deletions",
        deletions >= least,
        f"{order}: {_n(deletions, 'deletion')} >= min_deletions {least}",
        f"{order}: {_n(deletions, 'deletion')} < min_deletions {least}, not enough evidence",
        inconclusive=True,
    )


def _upper_bound_check(order: str, failed: int, requests: int, allowed: float) -> LimitCheck:
    bound = upper_bound_95(failed, requests)
    limit = f"max_upper_bound {pct(allowed)}"
    if bound is None:
        message = f"{order}: no request, so no bound on the failure rate ({limit})"
        return LimitCheck(order, "max_upper_bound", False, message, inconclusive=True)
    measured = f"{order}: 95% upper bound on the failure rate {pct(bound)} ({failed}/{requests})"
    if bound <= allowed:
        return LimitCheck(order, "max_upper_bound", True, f"{measured} <= {limit}")
    if failed / requests > allowed:
        message = f"{measured} > {limit}: the measured rate alone is above it"
        return LimitCheck(order, "max_upper_bound", False, message)
    # Within the limit as measured, but too few requests to be 95 % sure: more would decide.
    needed = ""
    if failed == 0:
        needed = f"; 0 failures need {math.ceil(math.log(0.05) / math.log1p(-allowed))} requests"
    message = f"{measured} > {limit}: too few requests to be 95% sure{needed}"
    return LimitCheck(order, "max_upper_bound", False, message, inconclusive=True)


def _outage_check(order: str, data: Mapping[str, Any], allowed: float) -> LimitCheck:
    outage = data.get("outage")
    total = outage.get("total_s") if isinstance(outage, dict) else None
    if total is None:
        message = (
            f"{order}: max_outage_s {allowed:g} cannot be checked: the summary has no "
            f"orders.{order}.outage.total_s (written before drainlab measured outages)"
        )
        return LimitCheck(order, "max_outage_s", False, message, inconclusive=True)
    if not is_number(total, (int, float)) or not math.isfinite(total):
        raise SummaryInvalidError(
            f"summary: orders.{order}.outage.total_s should be a number, got {total!r}"
        )
    measured = f"{order}: outage {total:.3g} s"
    return _check(
        order,
        "max_outage_s",
        total <= allowed,
        f"{measured} <= max_outage_s {allowed:g}",
        f"{measured} > max_outage_s {allowed:g} (over by {total - allowed:.3g} s)",
    )


def _bound_note(failed: int, requests: int, deletions: int | None, in_windows: int | None) -> str:
    """The passing line's evidence: how high the failure rate may be at 95 % confidence."""
    bound = upper_bound_95(failed, requests)
    if bound is None:
        return ""
    return (
        f", failure rate < {pct(bound)} at 95% confidence, {_of_them(in_windows)} inside "
        f"the windows of {_n(deletions, 'deletion')}"
    )


def _of_them(count: int | None) -> str:
    return "an uncounted number of them" if count is None else f"{count} of them"


def _n(count: int | None, noun: str) -> str:
    if count is None:
        return f"uncounted {noun}s"
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _check(
    order: str, name: str, ok: bool, if_ok: str, if_broken: str, *, inconclusive: bool = False
) -> LimitCheck:
    return LimitCheck(order, name, ok, if_ok if ok else if_broken, inconclusive and not ok)


def _counted_failures(data: Mapping[str, Any], order: str, classes: Sequence[str] | None) -> int:
    if classes is None:
        return _int_field(data, "failed", order)
    by_class = data.get("failures_by_class")
    if not isinstance(by_class, dict):
        raise SummaryInvalidError(f"summary: orders.{order}.failures_by_class is missing")
    # A class the run never saw is absent or 0: either way nothing to count.
    return sum(
        _as_int(by_class.get(c, 0), f"orders.{order}.failures_by_class.{c}") for c in classes
    )


def _int_field(data: Mapping[str, Any], key: str, order: str) -> int:
    if key not in data:
        raise SummaryInvalidError(f"summary: orders.{order}.{key} is missing")
    return _as_int(data[key], f"orders.{order}.{key}")


def _as_int(value: Any, where: str) -> int:
    if not is_number(value, int):
        raise SummaryInvalidError(f"summary: {where} should be a whole number, got {value!r}")
    return int(value)
