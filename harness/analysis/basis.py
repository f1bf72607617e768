"""What each phase attribution rests on: the app's own lines, or what the platform showed.

A deletion's phases are cut by its moments D, S, R and X (deletions.py), and each moment was taken
from one kind of event (``Deletion.basis``). A phase rests on the moments that bound it, so it
rests on the app when one of them came from an app line (``app_sigterm``), and on the platform
otherwise (the delete call, ``sigterm_sent``, ``prestop_ended`` or ``sigterm_due``,
``removal_applied`` or ``endpoint_removed``, ``exited`` or ``killed``). A phase one of whose
moments is missing was not delimited for that deletion: its failures are ``unknown``
(phases.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.analysis.deletions import Deletion
from harness.analysis.phases import AFTER_EXIT, BEFORE_SIGTERM, DRAINING, PROPAGATING
from harness.timeline import is_app_kind

APP = "app"
PLATFORM = "platform"
# The moments that bound each phase that a deletion's own moments delimit.
BOUNDED_BY: dict[str, tuple[str, ...]] = {
    BEFORE_SIGTERM: ("delete", "sigterm"),
    PROPAGATING: ("sigterm", "removal"),
    DRAINING: ("sigterm", "removal", "exit"),
    AFTER_EXIT: ("exit",),
}
# The moments whose absence can leave a failure ``unknown``.
DECIDING: tuple[str, ...] = ("sigterm", "removal", "exit")


def rests_on(kinds: Sequence[str]) -> str:
    """``app`` when any of the events is one of the app's own lines, else ``platform``."""
    return APP if any(is_app_kind(k) for k in kinds) else PLATFORM


def phase_events(deletion: Deletion, phase: str) -> list[str] | None:
    """The kinds of event the phase's bounds were taken from for this deletion; None when a
    bound was not observed (the phase was not delimited)."""
    kinds = [deletion.basis.get(moment) for moment in BOUNDED_BY[phase]]
    return None if any(k is None for k in kinds) else [str(k) for k in kinds]


def phase_basis_block(deletions: Sequence[Deletion]) -> dict[str, Any]:
    """summary.json's ``phase_basis`` for one order (docs/summary-v1.md, "Phase basis")."""
    block: dict[str, Any] = {}
    for phase in BOUNDED_BY:
        kinds: dict[str, None] = {}
        delimited = 0
        for d in deletions:
            found = phase_events(d, phase)
            if found is None:
                continue
            delimited += 1
            kinds.update(dict.fromkeys(found))
        block[phase] = {
            "rests_on": rests_on(list(kinds)) if delimited else None,
            "events": sorted(kinds),
            "deletions": delimited,
            "undelimited": len(deletions) - delimited,
        }
    block["missing"] = {
        moment: sum(1 for d in deletions if d.basis.get(moment) is None) for moment in DECIDING
    }
    return block
