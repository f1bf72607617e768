"""The fix a variant's measurements call for (pure): which Deployment fields, to what, and why.

From the variant's summary block, its pod rows (pods-<v>.jsonl), the run's recommendation, the
variant as the scenario describes it and the evidence (harness.fixes.evidence):

- preStop sleep: when new connections reached pods after SIGTERM, before routing to them
  stopped, the recommendation's sleep (harness.analysis.recommend: p99 propagation over every
  deletion of the run plus its margin, whole seconds), never less than the variant's own;
- terminationGracePeriodSeconds: at least preStop + p99 drain (SIGTERM to exit of the variant's
  pods that exited by themselves) + the same margin rule as the preStop's (the larger of 1 s and
  50 % of the p99: a drain under heavier load takes longer than the one measured), whole
  seconds; only written when the grace period the pods had is shorter;
- readiness: period 1 s and failure threshold 1 when pods kept getting new connections for more
  than a second after the app said it was no longer ready (the endpoint waited on the probe);
- what no patch fixes, with its evidence: requests cut at SIGTERM (the app exits with work in
  flight), kept connections closed after routing moved on (keep-alive closed without
  ``Connection: close``), pods killed at the end of their grace period (the process ignores
  SIGTERM: PID 1 without a handler; an init or the exec form fixes it), and failures none of
  these explain. Any of them makes the fix partial.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.analysis.recommend import MARGIN_MIN_MS, MARGIN_SHARE
from harness.analysis.stats import finite_sorted, percentile
from harness.appspec import App, Probe, ProbeChange, Variant
from harness.classify import CONNECTION_REFUSED, CONNECTION_RESET
from harness.fixes.evidence import Evidence
from harness.fixes.model import FieldChange, Fix, Unfixable
from harness.timeline import EventKind

PRESTOP = "preStop"
GRACE = "terminationGracePeriodSeconds"
READINESS = "readinessProbe"
# A readiness probe that notices within this long once the app fails it.
READINESS_NOTICE_S = 1.0


def fix_file_name(variant: str) -> str:
    return f"fix-{variant}.yaml"


def derive_fix(
    variant: str,
    block: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    recommendation: Mapping[str, Any],
    current: Variant,
    app: App,
    evidence: Evidence,
) -> Fix | None:
    """The fix for ``variant``, None when it dropped no request."""
    if not block.get("failed"):
        return None
    fields: list[FieldChange] = []
    notes: list[str] = []
    change: dict[str, Any] = {}
    prestop = _prestop(evidence, recommendation, current, fields, notes)
    if prestop is not None:
        change["prestop_sleep_s"] = prestop
    sleep = prestop if prestop is not None else _own_sleep(current)
    grace = _grace(block, pods, sleep, fields, notes)
    if grace is not None:
        change["grace_period_s"] = grace
    readiness = _readiness(pods, evidence, current, app, fields)
    if readiness is not None:
        change["readiness"] = readiness
    causes = _unfixable(evidence, pods)
    fix = Fix(
        variant=variant,
        change=Variant(**change),
        fields=tuple(fields),
        unfixable=tuple(u for u, _, _ in causes),
        # Partial when a cause that dropped requests remains (a kill that dropped none does not).
        partial=any(dropped for _, _, dropped in causes),
        # Nothing to patch (every cause is in the app): no file.
        file=fix_file_name(variant) if fields else None,
        notes=tuple(notes),
    )
    failed = int(block["failed"])
    words = [w for _, w, _ in causes]
    return dataclasses.replace(
        fix, sentence=_sentence(fix, failed, evidence, recommendation, words)
    )


def _own_sleep(current: Variant) -> float:
    return float(current.prestop_sleep_s or 0.0)


def _prestop(
    evidence: Evidence,
    recommendation: Mapping[str, Any],
    current: Variant,
    fields: list[FieldChange],
    notes: list[str],
) -> float | None:
    if not evidence.routed_after_sigterm:
        return None
    seconds = recommendation.get("prestop_sleep_s")
    if seconds is None:
        notes.append(f"{PRESTOP}: not sized: {recommendation.get('reason') or 'no recommendation'}")
        return None
    own = _own_sleep(current)
    value = float(max(seconds, own))
    span = _span(evidence.routed_span_s)
    why = (
        f"{evidence.routed_after_sigterm} new connections reached pods {span} after SIGTERM, "
        f"before routing to them stopped; {recommendation.get('basis')}"
    )
    if own and own >= seconds:
        why += f"; the variant's own sleep of {own:g} s is kept (it is not shorter)"
    elif own:
        why += f"; the variant's own sleep of {own:g} s is shorter"
    if current.prestop_command:
        own_hook = " ".join(current.prestop_command)
        notes.append(
            f"{PRESTOP}: the variant's own hook ({own_hook}) is replaced by the sleep; to keep "
            f"it, run it after the sleep in one hook (sh -c 'sleep {value:g}; {own_hook}')"
        )
    fields.append(FieldChange(PRESTOP, f"sleep {value:g}", why))
    return value


def _grace(
    block: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    prestop_s: float,
    fields: list[FieldChange],
    notes: list[str],
) -> float | None:
    """The drain is each deletion's S to X (summary-v1, "Deletions and their moments": S from
    the best source the run had), over those whose process exited by itself."""
    drains = [
        float(d["exit"]) - float(d["sigterm"])
        for d in block.get("per_deletion") or []
        if d.get("exit") is not None
        and d.get("sigterm") is not None
        and (d.get("basis") or {}).get("exit") == EventKind.EXITED
    ]
    deleted = [p for p in pods if p.get("delete_requested") is not None]
    ordered = finite_sorted(drains)
    p99 = percentile(ordered, 99)
    if p99 is None:
        notes.append(f"{GRACE}: not sized: no deleted pod exited by itself after SIGTERM")
        return None
    p99 = max(p99, 0.0)
    margin = max(MARGIN_MIN_MS / 1000.0, MARGIN_SHARE * p99)
    needed = float(math.ceil(round(prestop_s + p99 + margin, 3)))
    graces = [float(p["grace_period_s"]) for p in deleted if p.get("grace_period_s") is not None]
    had = max(graces) if graces else None
    basis = (
        f"preStop {prestop_s:g} s + p99 drain {p99:.2f} s (SIGTERM to exit over "
        f"{len(ordered)} pods that exited by themselves) + margin {margin:.2f} s (the larger of "
        f"1 s and 50 % of the p99), rounded up"
    )
    if had is not None and had >= needed:
        notes.append(f"{GRACE}: the pods' {had:g} s already covers {basis}: {needed:g} s")
        return None
    fields.append(FieldChange(GRACE, f"{needed:g}", basis))
    return needed


def _readiness(
    pods: Sequence[Mapping[str, Any]],
    evidence: Evidence,
    current: Variant,
    app: App,
    fields: list[FieldChange],
) -> ProbeChange | None:
    """A faster readiness probe, when pods with routed failures kept their endpoint for more
    than READINESS_NOTICE_S after the app said it failed readiness."""
    lags = []
    for p in pods:
        failed_at, removed = p.get("readiness_failed"), p.get("endpoint_removed")
        if p.get("pod") in evidence.routed_pods and failed_at is not None and removed is not None:
            lags.append(float(removed) - float(failed_at))
    slow = [lag for lag in lags if lag > READINESS_NOTICE_S]
    if not slow:
        return None
    probe: Probe = (
        current.readiness.applied_to(app.readiness) if current.readiness else app.readiness
    )
    fields.append(
        FieldChange(
            READINESS,
            f"periodSeconds {READINESS_NOTICE_S:g}, failureThreshold 1",
            f"{len(slow)} pods kept their endpoint {min(slow):.1f}-{max(slow):.1f} s after "
            f"failing readiness, while new connections still reached them; a probe every "
            f"{READINESS_NOTICE_S:g} s that fails at the first miss notices within "
            f"{READINESS_NOTICE_S:g} s (the scenario's probe: every {probe.period_s:g} s, "
            f"{probe.failure_threshold} misses)",
        )
    )
    return ProbeChange(period_s=READINESS_NOTICE_S, failure_threshold=1)


def _unfixable(
    evidence: Evidence, pods: Sequence[Mapping[str, Any]]
) -> list[tuple[Unfixable, str, int]]:
    """What no patch fixes, each with the words the sentence uses for it and the failures it
    explains."""
    found = []
    killed = [p for p in pods if p.get("killed") is not None and p.get("delete_requested")]
    if killed:
        took = [float(p["killed"]) - float(p["delete_requested"]) for p in killed]
        graces = sorted({float(p["grace_period_s"]) for p in killed if p.get("grace_period_s")})
        grace = f" of {graces[-1]:g} s" if graces else ""
        pods_were = _n(len(killed), "deleted pod was", "deleted pods were")
        at_kill = _n(evidence.at_kill, "failure", "failures")
        if evidence.at_kill:
            words = f"{evidence.at_kill} came when {pods_were} killed"
        else:  # a slow stop, not a drop: said, but it leaves the patch whole
            words = f"none came at the kill, but {pods_were} killed"
        found.append(
            (
                Unfixable(
                    "the process ignores SIGTERM (PID 1 without a signal handler): run it under "
                    "an init (tini, dumb-init) or start it in the exec form "
                    '(`CMD ["prog"]`, not `CMD prog`) so that the signal reaches it',
                    f"{pods_were} killed (SIGKILL) at the end of their grace period{grace}, "
                    f"{min(took):.1f}-{max(took):.1f} s after the delete call; {at_kill} at or "
                    "after the kill",
                ),
                f"{words} at the end of the grace period{grace}: it ignores SIGTERM (no patch "
                "fixes that: an init or the exec form does)",
                evidence.at_kill,
            )
        )
    if evidence.cut_at_sigterm:
        found.append(
            (
                Unfixable(
                    "the app exits on SIGTERM with requests in flight: it must finish them "
                    "before it exits (a drain); a preStop sleep only makes fewer of them",
                    f"{evidence.cut_at_sigterm} requests started before their pod's SIGTERM "
                    "and got no answer after it",
                ),
                f"{_n(evidence.cut_at_sigterm, 'was a request', 'were requests')} in flight "
                "that the app cut at SIGTERM (no patch fixes that: the app must drain)",
                evidence.cut_at_sigterm,
            )
        )
    if evidence.kept_after_routing:
        found.append(
            (
                Unfixable(
                    "idle keep-alive connections closed without `Connection: close`: once "
                    "routing moved on, only connections kept from before reach the pod, and "
                    "the app closed them under clients that sent a request on them; answer "
                    "with `Connection: close` during shutdown before closing them",
                    f"{evidence.kept_after_routing} requests failed with no answer after "
                    "routing to their pod had stopped, none of them in flight at its SIGTERM",
                ),
                f"{evidence.kept_after_routing} came on kept connections the app closed "
                "without `Connection: close` (no patch fixes that)",
                evidence.kept_after_routing,
            )
        )
    if evidence.other:
        listed = ", ".join(f"{n} {what}" for what, n in sorted(evidence.other.items()))
        total = sum(evidence.other.values())
        found.append(
            (
                Unfixable(
                    "failures of a cause no field of this patch addresses",
                    f"{total} failures: {listed}",
                ),
                f"{total} had a cause no patch field addresses ({listed})",
                total,
            )
        )
    return found


def _n(count: int, one: str, many: str) -> str:
    """``count`` and the words for it: "1 was a request", "3 were requests"."""
    return f"{count} {one if count == 1 else many}"


def _span(span: tuple[float, float] | None) -> str:
    if span is None:
        return ""
    low, high = span
    return f"{max(low, 0.0):.1f}–{high:.1f} s" if high - low >= 0.05 else f"{high:.1f} s"


def _classes(classes: Mapping[str, int]) -> str:
    names = {CONNECTION_REFUSED: "refused", CONNECTION_RESET: "reset"}
    shown = [names.get(c, "closed unanswered") for c, n in sorted(classes.items()) if n]
    return " or ".join(dict.fromkeys(shown))


def _sentence(
    fix: Fix,
    failed: int,
    evidence: Evidence,
    recommendation: Mapping[str, Any],
    unfixable: Sequence[str],
) -> str:
    """One sentence a person can act on: the numbers of the run, the fix, the file."""
    parts = []
    if fix.change.prestop_sleep_s is not None:
        # Where no proxy's moment was seen (a cluster without the data-plane agent), the
        # propagation p99 is measured to the controller's removal: say so.
        to = "" if evidence.removal_seen_as == EventKind.REMOVAL_APPLIED else " to the controller"
        p99 = recommendation.get("propagation_p99_ms")
        measured = (
            f" (propagation p99{to} {p99 / 1000.0:.2f} s)" if isinstance(p99, (int, float)) else ""
        )
        parts.append(
            f"{evidence.routed_after_sigterm} of {failed} failures were new connections "
            f"{_classes(evidence.routed_classes)} {_span(evidence.routed_span_s)} after "
            f"SIGTERM, before the endpoint removal reached the Service proxy{measured}: a "
            f"preStop sleep of "
            f"{fix.change.prestop_sleep_s:g} s covers it"
        )
    elif evidence.routed_after_sigterm:
        why = recommendation.get("reason") or "no recommendation"
        parts.append(
            f"{evidence.routed_after_sigterm} of {failed} failures were new connections "
            f"{_classes(evidence.routed_classes)} {_span(evidence.routed_span_s)} after "
            "SIGTERM, before the endpoint removal reached the Service proxy: a preStop sleep "
            f"covers them, but this run cannot size it ({why}): run again with more deletions"
        )
    elif fix.fields:
        parts.append(f"{failed} failures: " + ", ".join(f.field for f in fix.fields))
    if unfixable:
        lead = "" if parts else f"no patch fixes these {failed} failures: "
        parts.append(lead + "; ".join(unfixable))
    if fix.file is None:
        unsized = evidence.routed_after_sigterm and fix.change.prestop_sleep_s is None
        return "; ".join(parts) + (
            " (no patch yet)" if unsized else " (no patch: the fix is in the app)"
        )
    return "; ".join(parts) + (f" ({fix.file}, partial)" if fix.partial else f" ({fix.file})")
