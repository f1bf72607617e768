"""The CI gate: does one shutdown order stay within its failure limits?

``evaluate`` is pure: a summary (``docs/summary-v1.md``) and limits in, a verdict out, with one line
that says which order broke which limit by how much (the file itself is read by
``harness.summaryfile``).
The command line is ``harness gate`` and ``harness run --gate`` (harness/cli.py).

Two rules beyond the user's limits, because a gate must never pass on evidence that is not there:
an order that completed no request breaks the gate ("nothing was measured"), and so does a partial
summary (the run was interrupted, so its numbers may stop short of the failures).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.classify import ERROR_CLASSES
from harness.errors import UsageError
from harness.summaryfile import SummaryInvalidError, order_entry, summary_orders


class GateUsageError(UsageError):
    """Limits that make no sense (negative, a rate above 1, an unknown error class): exit 2,
    before anything runs."""


@dataclass(frozen=True, slots=True)
class GateLimits:
    """The limits one order must stay within: the scenario's ``gate:`` section, overridden by
    the command line's flags, and the summary's ``gate`` section."""

    order: str = "graceful"
    max_failed: int | None = 0  # None: no limit on the count
    max_failure_rate: float | None = None  # a fraction, 0.001 = 0.1 %
    classes: tuple[str, ...] | None = None  # count only these error classes (None or empty: all)

    def __post_init__(self) -> None:
        # Kept as a tuple whatever the caller passed (a list from argparse or a scenario), so
        # limits stay hashable and compare equal however they were built.
        classes = tuple(self.classes) if self.classes else None
        object.__setattr__(self, "classes", classes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "max_failed": self.max_failed,
            "max_failure_rate": self.max_failure_rate,
            "classes": list(self.classes) if self.classes else None,
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> GateLimits:
        """Limits from a scenario's ``gate`` section or a summary's; unknown keys are ignored."""
        classes = data.get("classes")
        if isinstance(classes, str):
            classes = [c.strip() for c in classes.split(",") if c.strip()]
        limits = cls(
            order=str(data.get("order", "graceful")),
            max_failed=_opt_int(data.get("max_failed", 0), "max_failed"),
            max_failure_rate=_opt_float(data.get("max_failure_rate"), "max_failure_rate"),
            classes=tuple(str(c) for c in classes) if classes else None,
        )
        check_limits(limits)
        return limits

    def describe(self) -> str:
        parts = []
        if self.max_failed is not None:
            parts.append(f"max_failed {self.max_failed}")
        if self.max_failure_rate is not None:
            parts.append(f"max_failure_rate {_pct(self.max_failure_rate)}")
        if self.classes:
            parts.append(f"classes {','.join(self.classes)}")
        return ", ".join(parts) or "no limits"


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """One rule applied to one order: the JUnit writer turns each into a testcase."""

    order: str
    name: str  # max_failed | max_failure_rate | measured | complete
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class GateResult:
    ok: bool
    line: str  # the one line the CLI prints
    order: str
    failed: int  # failures counted under the limits' classes
    requests: int
    checks: tuple[LimitCheck, ...]
    limits: GateLimits

    def to_dict(self) -> dict[str, Any]:
        """The summary's "gate" section: the limits (`harness gate` starts from them), then the
        verdict as it was when the run ended (the report shows it as it is)."""
        return {
            **self.limits.to_dict(),
            "ok": self.ok,
            "line": self.line,
            "failed": self.failed,
            "requests": self.requests,
        }


def check_limits(limits: GateLimits) -> None:
    """Raises GateUsageError for limits no run could be measured against."""
    if not limits.order:
        raise GateUsageError("gate: name the order to gate on")
    if limits.max_failed is not None and limits.max_failed < 0:
        raise GateUsageError(f"gate: max_failed must be >= 0, got {limits.max_failed}")
    rate = limits.max_failure_rate
    if rate is not None and not 0 <= rate <= 1:
        raise GateUsageError(f"gate: max_failure_rate is a fraction from 0 to 1, got {rate:g}")
    unknown = [c for c in limits.classes or () if c not in ERROR_CLASSES]
    if unknown:
        raise GateUsageError(
            f"gate: unknown error class {unknown[0]!r} (known: {', '.join(ERROR_CLASSES)})"
        )


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
    checks = [
        _check(
            order,
            "measured",
            requests > 0,
            f"{order}: {requests} requests completed",
            f"{order}: no request completed, so nothing was measured",
        ),
        _check(
            order,
            "complete",
            not partial,
            f"{order}: the run completed",
            f"{order}: the run was interrupted (summary.partial), its numbers may be incomplete",
        ),
    ]
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
        measured = f"{order}: failure rate {_pct(rate)} ({failed}/{requests})"
        allowed = f"max_failure_rate {_pct(limits.max_failure_rate)}"
        checks.append(
            _check(
                order,
                "max_failure_rate",
                over_rate <= 0,
                f"{measured} <= {allowed}",
                f"{measured} > {allowed} (over by {over_rate * 100:.3g} points)",
            )
        )
    broken = [c for c in checks if not c.ok]
    if broken:
        line = "FAIL " + "; ".join(c.message for c in broken)
    else:
        line = f"ok {order}: {failed} {what} of {requests} requests ({limits.describe()})"
    return GateResult(not broken, line, order, failed, requests, tuple(checks), limits)


def _check(order: str, name: str, ok: bool, if_ok: str, if_broken: str) -> LimitCheck:
    return LimitCheck(order, name, ok, if_ok if ok else if_broken)


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
    if not _is_number(value, int):
        raise SummaryInvalidError(f"summary: {where} should be a whole number, got {value!r}")
    return int(value)


def _opt_int(value: Any, key: str) -> int | None:
    return None if value is None else int(_limit(value, key, int, "a whole number"))


def _opt_float(value: Any, key: str) -> float | None:
    return None if value is None else float(_limit(value, key, (int, float), "a number"))


def _limit(value: Any, key: str, kinds: type | tuple[type, ...], what: str) -> Any:
    if not _is_number(value, kinds):
        raise GateUsageError(f"gate: {key} should be {what}, got {value!r}")
    return value


def _is_number(value: Any, kinds: type | tuple[type, ...]) -> bool:
    """A JSON/YAML number of ``kinds``; true and false are not numbers here."""
    return isinstance(value, kinds) and not isinstance(value, bool)


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.3g}%"
