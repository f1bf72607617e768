"""A gate's limits: what one order must stay within, from the command line, a scenario's
``gate:`` section or a summary's, and the check that they make sense (exit 2 before anything
runs). The evaluation of a summary against them is ``harness.gate``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.classify import ERROR_CLASSES
from harness.errors import UsageError

# The evidence limits: each one's type and what it asks (the command line's --min-deletions,
# --max-upper-bound and --max-outage-s).
EVIDENCE_LIMITS: dict[str, tuple[type, str]] = {
    "min_deletions": (int, "fewer deletions in the variant's run: inconclusive"),
    "max_upper_bound": (float, "a fraction: the exact 95%% upper bound on the failure rate"),
    "max_outage_s": (float, "seconds with no successful request allowed (outage.total_s)"),
}


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
    min_deletions: int | None = None  # fewer deletions than this: inconclusive
    max_upper_bound: float | None = None  # a fraction: the 95 % upper bound on the failure rate
    max_outage_s: float | None = None  # orders.<v>.outage.total_s allowed

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
            "min_deletions": self.min_deletions,
            "max_upper_bound": self.max_upper_bound,
            "max_outage_s": self.max_outage_s,
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
            min_deletions=_opt_int(data.get("min_deletions"), "min_deletions"),
            max_upper_bound=_opt_float(data.get("max_upper_bound"), "max_upper_bound"),
            max_outage_s=_opt_float(data.get("max_outage_s"), "max_outage_s"),
        )
        check_limits(limits)
        return limits

    def describe(self) -> str:
        parts = []
        if self.max_failed is not None:
            parts.append(f"max_failed {self.max_failed}")
        if self.max_failure_rate is not None:
            parts.append(f"max_failure_rate {pct(self.max_failure_rate)}")
        if self.classes:
            parts.append(f"classes {','.join(self.classes)}")
        if self.min_deletions is not None:
            parts.append(f"min_deletions {self.min_deletions}")
        if self.max_upper_bound is not None:
            parts.append(f"max_upper_bound {pct(self.max_upper_bound)}")
        if self.max_outage_s is not None:
            parts.append(f"max_outage_s {self.max_outage_s:g}")
        return ", ".join(parts) or "no limits"


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
    for key, problem in evidence_limit_problems(limits):
        raise GateUsageError(f"gate: {key} {problem}")


def evidence_limit_problems(limits: GateLimits) -> list[tuple[str, str]]:
    """(key, problem) for each evidence limit no run could meet or that means nothing; the
    scenario's validation reports them under ``gate.<key>``."""
    problems = []
    if limits.min_deletions is not None and limits.min_deletions < 0:
        problems.append(("min_deletions", f"must be >= 0, got {limits.min_deletions}"))
    bound = limits.max_upper_bound
    if bound is not None and not 0 < bound <= 1:
        # An upper bound is above 0 after any finite number of requests: 0 could never hold.
        problems.append(("max_upper_bound", f"is a fraction above 0 and up to 1, got {bound:g}"))
    outage = limits.max_outage_s
    if outage is not None and not (math.isfinite(outage) and outage >= 0):
        problems.append(
            ("max_outage_s", f"must be a finite number of seconds >= 0, got {outage:g}")
        )
    return problems


def _opt_int(value: Any, key: str) -> int | None:
    return None if value is None else int(_limit(value, key, int, "a whole number"))


def _opt_float(value: Any, key: str) -> float | None:
    return None if value is None else float(_limit(value, key, (int, float), "a number"))


def _limit(value: Any, key: str, kinds: type | tuple[type, ...], what: str) -> Any:
    if not is_number(value, kinds):
        raise GateUsageError(f"gate: {key} should be {what}, got {value!r}")
    return value


def is_number(value: Any, kinds: type | tuple[type, ...]) -> bool:
    """A JSON/YAML number of ``kinds``; true and false are not numbers here."""
    return isinstance(value, kinds) and not isinstance(value, bool)


def pct(fraction: float) -> str:
    return f"{fraction * 100:.3g}%"
