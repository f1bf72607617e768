"""A fix for one variant that dropped requests: what to change, why, and what no change can fix.

``harness.fixes.derive`` makes one from the measurements; ``harness.fixes.patch`` writes it as a
strategic merge patch of the Deployment (fix-<variant>.yaml); ``harness.verify`` runs it as the
variant ``<variant>+fix`` through ``change``, the same ``Variant`` a scenario can name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.appspec import Variant

# The suffix of the variant that runs a variant's fix: "naive" -> "naive+fix".
FIX_SUFFIX = "+fix"


def fixed_variant_name(variant: str) -> str:
    return f"{variant}{FIX_SUFFIX}"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of the patch, its value as written, and the measured numbers behind it."""

    field: str  # as the Deployment spells it, e.g. "preStop", "terminationGracePeriodSeconds"
    value: str
    why: str


@dataclass(frozen=True, slots=True)
class Unfixable:
    """What no patch of the Deployment can fix (the app's own code must change), with the
    evidence the run holds for it."""

    what: str
    evidence: str


@dataclass(frozen=True, slots=True)
class Fix:
    variant: str
    # The change, on top of the variant's own, as a variant: what `--verify-fix` runs.
    change: Variant
    fields: tuple[FieldChange, ...] = ()
    unfixable: tuple[Unfixable, ...] = ()
    # True when the patch cannot remove every cause the run saw (``unfixable`` says which).
    partial: bool = False
    # One sentence a person can act on, naming the file.
    sentence: str = ""
    file: str | None = None  # fix-<variant>.yaml, once written
    notes: tuple[str, ...] = field(default_factory=tuple)
