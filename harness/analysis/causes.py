"""What cut each failure that a stop (a deletion or a crash) owns: the counts the pod findings
state.

Every failure attributed to a deletion falls in exactly one of these, tested in this order, so
the counts add up to the deletion's ``failed`` and a finding never says less than the table:

- ``in_flight``: a request the pod had accepted and answered with nothing (connection reset or
  remote disconnected) that was in flight when the pod got SIGTERM or exited: it started before
  that moment and failed at or after it.
- ``not_listening``: a request sent to the pod after it had stopped listening (its listener-closed
  line, else its exit) while the Service still routed to it: refused at any time after that (a
  refusal is proof that a connection still reached it), or reset or disconnected when it started
  before routing stopped (a Service proxy that accepts the client's connection and then finds no
  pod behind it resets it rather than refuse it).
- ``keepalive``: a reset or disconnect that failed once the Service had stopped routing to the
  pod. New connections went elsewhere by then, so this request rode a connection opened before,
  which the pod closed under it (or lost as it exited).
- ``unexplained``: the rest, by phase; the report says so instead of keeping silent.

A request's start is its end less its latency (``harness.records``: end = start + latency).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.analysis.deletions import Deletion
from harness.analysis.phases import DELETION_PHASES
from harness.classify import CONNECTION_REFUSED, CONNECTION_RESET, REMOTE_DISCONNECTED

# A connection the pod accepted and then closed without an answer.
CUT_CLASSES = frozenset({CONNECTION_RESET, REMOTE_DISCONNECTED})
# The pod-row keys of the counts, in row order (docs/summary-v1.md, pods-<order>.jsonl).
CAUSE_KEYS: tuple[str, ...] = ("cut_in_flight", "sent_not_listening", "cut_keepalive")
UNEXPLAINED_KEY = "unexplained_by_phase"


@dataclass(slots=True)
class FailureCauses:
    """Per deletion (same order as the deletions): how many of its failures had each cause."""

    deletions: Sequence[Deletion]
    in_flight: list[int] = field(init=False)
    not_listening: list[int] = field(init=False)
    keepalive: list[int] = field(init=False)
    unexplained: list[dict[str, int]] = field(init=False)
    # Per deletion: the moments a request in flight was cut at (SIGTERM, exit), when routing
    # stopped, and when the pod stopped listening.
    _cut_at: list[tuple[float, ...]] = field(init=False)
    _routed_until: list[float | None] = field(init=False)
    _deaf_from: list[float | None] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.deletions)
        self.in_flight = [0] * n
        self.not_listening = [0] * n
        self.keepalive = [0] * n
        self.unexplained = [dict.fromkeys(DELETION_PHASES, 0) for _ in range(n)]
        self._cut_at = [
            tuple(m for m in (d.sigterm, d.gone) if m is not None) for d in self.deletions
        ]
        self._routed_until = [d.removal for d in self.deletions]
        self._deaf_from = [
            d.listener_closed if d.listener_closed is not None else d.gone for d in self.deletions
        ]

    def add(self, owner: int, phase: str, end: float, latency_ms: float, error: str) -> None:
        """One failure of deletion ``owner``, in ``phase``, that ended at ``end``."""
        start = end - latency_ms / 1000.0
        cut = error in CUT_CLASSES
        routed_until, deaf_from = self._routed_until[owner], self._deaf_from[owner]
        if cut and any(start < moment <= end for moment in self._cut_at[owner]):
            self.in_flight[owner] += 1
        elif deaf_from is not None and (
            (error == CONNECTION_REFUSED and end >= deaf_from)
            or (cut and routed_until is not None and deaf_from <= start < routed_until)
        ):
            self.not_listening[owner] += 1
        elif cut and routed_until is not None and end >= routed_until:
            self.keepalive[owner] += 1
        else:
            self.unexplained[owner][phase] += 1

    def row_counts(self, owners: Sequence[int]) -> dict[str, object]:
        """The pod-row keys of a pod whose stops are ``owners``, added up (none: all zeros)."""
        unexplained = dict.fromkeys(DELETION_PHASES, 0)
        for owner in owners:
            for phase, n in self.unexplained[owner].items():
                unexplained[phase] += n
        return {
            "cut_in_flight": sum(self.in_flight[i] for i in owners),
            "sent_not_listening": sum(self.not_listening[i] for i in owners),
            "cut_keepalive": sum(self.keepalive[i] for i in owners),
            UNEXPLAINED_KEY: unexplained,
        }
