"""``harness run --verify-fix``: each variant that dropped requests runs again with its fix.

Once a run's variants have run and been analysed, a fix source (harness.fixes.derive, or any
callable of the same shape) gives a ``Fix`` per variant; each fix of a variant that dropped
requests becomes the variant ``<variant>+fix``: the fix's change on top of the variant's own
(``composed``), run with the run's seed, traffic, duration and chaos schedule, into the same run
folder (records-<variant>+fix.jsonl and so on), so the summary and the report cover both and
the report opens with before -> after (harness.report.beforeafter).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from harness.appspec import PROBES, ProbeChange, Variant
from harness.backends.base import DeploySpec
from harness.console import Console
from harness.fixes.files import derive_fixes
from harness.fixes.model import FIX_SUFFIX, Fix, fixed_variant_name
from harness.scenario import Scenario

NOTHING_TO_FIX = "verify: no variant dropped requests: nothing to fix"


class FixSource(Protocol):
    """Makes the fixes of a run from its summary (the variants that ran, analysed), its folder
    (pods-<variant>.jsonl) and its scenario: {variant: Fix}."""

    def __call__(
        self, summary: Mapping[str, Any], run_dir: Path, scenario: Scenario
    ) -> Mapping[str, Fix]: ...


def base_of(variant: str) -> str | None:
    """The variant a fix's variant verifies (``naive+fix`` -> ``naive``); None for any other."""
    base = variant.removesuffix(FIX_SUFFIX)
    return base if base != variant else None


def dropped(summary: Mapping[str, Any]) -> list[str]:
    """The variants (not themselves a fix's) that failed at least one request, in run order."""
    orders = summary.get("orders") or {}
    return [
        name
        for name, entry in orders.items()
        if base_of(name) is None and isinstance(entry, dict) and (entry.get("failed") or 0) > 0
    ]


def composed(own: Variant, fix: Variant) -> Variant:
    """The fix's change on top of a variant's own: what the fix sets wins, env merges by name,
    a probe change merges setting by setting, and a preStop the fix names replaces the variant's
    (a hook has one handler: a sleep or a command)."""
    fields = {
        f.name: getattr(fix, f.name)
        for f in dataclasses.fields(fix)
        if getattr(fix, f.name) is not None and f.name not in ("env", *PROBES)
    }
    if fix.prestop_sleep_s:
        fields["prestop_command"] = None
    if fix.prestop_command:
        fields["prestop_sleep_s"] = 0.0
    for probe in PROBES:
        fields[probe] = _probe_on_top(getattr(own, probe), getattr(fix, probe))
    return dataclasses.replace(own, **fields, env={**own.env, **fix.env})


def _probe_on_top(own: ProbeChange | None, fix: ProbeChange | None) -> ProbeChange | None:
    if own is None or fix is None:
        return fix or own
    return dataclasses.replace(own, **fix.changes())  # type: ignore[arg-type]


def fix_specs(
    scenario: Scenario, fixes: Mapping[str, Fix], variants: list[str]
) -> list[DeploySpec]:
    """One deployment per variant of ``variants`` that has a fix: ``<variant>+fix``, the same
    replicas, the fix's change on top of the variant's own."""
    return [
        DeploySpec(
            variant=fixed_variant_name(name),
            replicas=scenario.replicas,
            change=composed(scenario.variant(name), fixes[name].change),
        )
        for name in variants
        if name in fixes
    ]


async def verify_fixes(
    summary: Mapping[str, Any],
    run_dir: Path,
    scenario: Scenario,
    source: FixSource,
    run_variant: Callable[[DeploySpec], Awaitable[None]],
    console: Console,
) -> list[str]:
    """Runs the fix of each variant that dropped requests (``run_variant``: the run's own way of
    running one variant, same seed, traffic and chaos); returns the fix variants that ran. With
    nothing to fix it says so in one line and runs nothing."""
    failing = dropped(summary)
    specs = fix_specs(scenario, source(summary, run_dir, scenario) if failing else {}, failing)
    if not specs:
        console.info(NOTHING_TO_FIX if not failing else _no_fix_line(failing))
        return []
    for index, spec in enumerate(specs, start=1):
        console.info(f"[fix {index}/{len(specs)}] variant {spec.variant}")
        await run_variant(spec)
    return [spec.variant for spec in specs]


def _no_fix_line(failing: list[str]) -> str:
    return f"verify: no fix was derived for {', '.join(failing)}: nothing to run"


def measured_fixes(
    summary: Mapping[str, Any], run_dir: Path, scenario: Scenario
) -> Mapping[str, Fix]:
    """The fix source of `harness run --verify-fix`: each variant's fix derived from the run's
    measurements (harness.fixes), the same one fix-<variant>.yaml is written from."""
    variants = {name: scenario.variant(name) for name in scenario.variant_names()}
    return derive_fixes(run_dir, dict(summary), variants, scenario.app)
