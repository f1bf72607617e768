"""The fix derived from hand-made runs: one pod deleted at D=1000 under load, three shapes of
shutdown (close-first, naive with keep-alive, a process that ignores SIGTERM)."""

from __future__ import annotations

from typing import Any

from helpers.analysis import ev, fail, ok

from harness.analysis import build_order_summary
from harness.analysis.pods import pod_lifecycles
from harness.analysis.scan import rows_of
from harness.appspec import App, Variant
from harness.fixes.derive import derive_fix
from harness.fixes.evidence import evidence_of
from harness.fixes.model import Fix
from harness.records import RequestRecord
from harness.timeline import EventKind, TimelineEvent

WINDOW = (990.0, 1050.0)
# The run's recommendation: p99 propagation 1290 ms + 1 s margin -> 3 s.
RECOMMENDATION = {
    "prestop_sleep_s": 3.0,
    "shutdown_delay_s": 3.0,
    "basis": "p99 propagation 1290 ms over 9 deletions of all orders together + margin 1000 ms",
    "propagation_p99_ms": 1290.0,
    "margin_ms": 1000.0,
    "reason": None,
}


def _pod(exit_kind: str, gone: float, grace_s: float = 30.0) -> list[TimelineEvent]:
    """Pod "a" (and "b", never deleted) ready at 990; "a" deleted at 1000, SIGTERM at once,
    the proxy stops routing to it at 1001.3, and it is gone at ``gone``."""
    return [
        ev(990.0, EventKind.ENDPOINT_ADDED, "a"),
        ev(990.0, EventKind.ENDPOINT_ADDED, "b"),
        ev(1000.0, EventKind.DELETE_REQUESTED, "a", grace_period_s=grace_s),
        ev(1000.0, EventKind.ENDPOINT_REMOVED, "a"),
        ev(1000.0, EventKind.SIGTERM_SENT, "a"),
        ev(1001.3, EventKind.REMOVAL_APPLIED, "a"),
        ev(gone, exit_kind, "a"),
    ]


def _derive(
    timeline: list[TimelineEvent],
    records: list[RequestRecord],
    variant: str = "v",
    keepalive: bool = True,
    own: Variant | None = None,
    recommendation: dict[str, Any] = RECOMMENDATION,
) -> Fix | None:
    block = build_order_summary(variant, records, timeline, WINDOW)
    pods = pod_lifecycles(timeline, records, variant, WINDOW)
    evidence = evidence_of(rows_of(records), timeline, WINDOW[1], keepalive)
    return derive_fix(variant, block, pods, recommendation, own or Variant(), App(), evidence)


def _served(until: float) -> list[RequestRecord]:
    return [ok(990.0 + i * 0.1, pod="b") for i in range(int((until - 990.0) * 10))]


def test_close_first_refused_before_removal_gets_a_prestop_sleep_and_nothing_unfixable() -> None:
    refused = [fail(1000.1 + i * 0.1) for i in range(12)]  # 1000.1 .. 1001.2, before R
    fix = _derive(_pod(EventKind.EXITED, 1000.5), _served(1010.0) + refused, "close-first")
    assert fix is not None
    assert fix.change.prestop_sleep_s == 3.0
    assert not fix.partial and fix.unfixable == ()
    assert [f.field for f in fix.fields] == ["preStop"]
    # 30 s of grace cover 3 s + 0.5 s drain + 1 s: not in the patch, said in a note.
    assert fix.change.grace_period_s is None
    assert any("already covers" in n for n in fix.notes)
    assert fix.sentence == (
        "12 of 12 failures were new connections refused 0.1\u20131.2 s after SIGTERM, before "
        "the endpoint removal reached the Service proxy (propagation p99 1.29 s): a preStop "
        "sleep of 3 s covers it (fix-close-first.yaml)"
    )


def test_grace_period_covers_prestop_plus_the_measured_drain_and_its_margin() -> None:
    refused = [fail(1000.1 + i * 0.1) for i in range(12)]
    # The pod drains for 4 s and had 5 s: 3 s preStop + 4 s + max(1 s, 2 s) = 9 s.
    fix = _derive(_pod(EventKind.EXITED, 1004.0, grace_s=5.0), _served(1010.0) + refused)
    assert fix is not None
    assert fix.change.grace_period_s == 9.0
    grace = [f for f in fix.fields if f.field == "terminationGracePeriodSeconds"]
    assert grace and grace[0].value == "9"
    assert "p99 drain 4.00 s" in grace[0].why and "margin 2.00 s" in grace[0].why


def test_naive_with_keep_alive_is_partial_and_says_why() -> None:
    reset = [fail(1000.1 + i * 0.1, "connection_reset") for i in range(10)]
    cut = RequestRecord(999.95, 1000.02, 70.0, "/", 0, 0, None, "remote_disconnected")
    kept = [fail(1001.5, "remote_disconnected"), fail(1001.8, "remote_disconnected")]
    fix = _derive(_pod(EventKind.EXITED, 1000.01), _served(1010.0) + reset + [cut, *kept])
    assert fix is not None
    assert fix.change.prestop_sleep_s == 3.0
    assert fix.partial
    whats = " | ".join(u.what for u in fix.unfixable)
    assert "requests in flight" in whats and "Connection: close" in whats
    evidence = " | ".join(u.evidence for u in fix.unfixable)
    assert "1 requests started before their pod's SIGTERM" in evidence
    assert "2 requests failed with no answer after routing" in evidence
    assert fix.sentence.startswith("10 of 13 failures were new connections reset")
    assert fix.sentence.endswith("(fix-v.yaml, partial)")


def test_without_keep_alive_no_failure_is_put_on_a_kept_connection() -> None:
    """New connections per request (traffic.keepalive false): a reset after the removal seen is
    a new connection still routed there (on a cluster kube-proxy's own moment comes later), and
    the fix is whole."""
    reset = [fail(1000.1 + i * 0.1, "connection_reset") for i in range(10)]
    late = [fail(1001.5, "connection_reset")]
    records = _served(1010.0) + reset + late
    assert _derive(_pod(EventKind.EXITED, 1000.01), records).partial  # as if kept: partial
    fix = _derive(_pod(EventKind.EXITED, 1000.01), records, keepalive=False)
    assert fix is not None and not fix.partial and fix.unfixable == ()
    assert fix.sentence.startswith("11 of 11 failures were new connections reset")


def test_a_process_that_ignores_sigterm_killed_at_its_grace_period_is_unfixable_by_patch() -> None:
    # Nothing fails until the kill at 1030; then the requests in flight are cut.
    cut = [
        RequestRecord(1029.9, 1030.0 + i * 0.01, 100.0, "/", 0, 0, None, "connection_reset")
        for i in range(3)
    ]
    fix = _derive(_pod(EventKind.KILLED, 1030.0), _served(1040.0) + cut)
    assert fix is not None
    assert fix.fields == () and fix.file is None  # no field of a patch helps
    assert fix.partial
    assert len(fix.unfixable) == 1
    assert "ignores SIGTERM" in fix.unfixable[0].what
    assert "init" in fix.unfixable[0].what and "exec form" in fix.unfixable[0].what
    assert "killed (SIGKILL) at the end of their grace period of 30 s" in fix.unfixable[0].evidence
    assert "3 failures at or after the kill" in fix.unfixable[0].evidence
    assert "no patch" in fix.sentence


def test_a_variant_that_dropped_nothing_gets_no_fix() -> None:
    assert _derive(_pod(EventKind.EXITED, 1000.5), _served(1010.0)) is None


def test_readiness_slow_to_fail_gets_a_faster_probe() -> None:
    # The app said it failed readiness at 998; its endpoint left only at the delete, 2 s later,
    # and new connections kept reaching it.
    timeline = [*_pod(EventKind.EXITED, 1000.5), ev(998.0, EventKind.APP_READINESS_FAILED, "a")]
    refused = [fail(1000.1 + i * 0.1) for i in range(5)]
    fix = _derive(timeline, _served(1010.0) + refused)
    assert fix is not None and fix.change.readiness is not None
    assert (fix.change.readiness.period_s, fix.change.readiness.failure_threshold) == (1.0, 1)
    readiness: list[Any] = [f for f in fix.fields if f.field == "readinessProbe"]
    assert readiness and "2.0-2.0 s after failing readiness" in readiness[0].why


def _on_a_cluster(sigterm: str, at: float, *, exited: float, grace_s: float) -> list[TimelineEvent]:
    """Pod "a" deleted at 1000 on a cluster: SIGTERM as ``sigterm`` shows it, only the
    controller's removal (1000.1) seen, exited at ``exited``."""
    return [
        ev(990.0, EventKind.ENDPOINT_ADDED, "a"),
        ev(990.0, EventKind.ENDPOINT_ADDED, "b"),
        ev(1000.0, EventKind.DELETE_REQUESTED, "a", grace_period_s=grace_s),
        ev(at, sigterm, "a"),
        ev(1000.1, EventKind.ENDPOINT_REMOVED, "a"),
        ev(exited, EventKind.EXITED, "a"),
    ]


def test_on_a_cluster_a_refused_connect_after_the_controllers_removal_is_still_propagation() -> (
    None
):
    # Only the controller's removal is seen (1000.1); kube-proxy stops routing later, unseen: a
    # connect refused at 1000.6 was a new connection the proxy still sent to the pod.
    timeline = _on_a_cluster(EventKind.SIGTERM_SENT, 1000.02, exited=1000.5, grace_s=30.0)
    fix = _derive(timeline, [*_served(1010.0), fail(1000.6)])
    assert fix is not None and not fix.partial
    assert fix.change.prestop_sleep_s == 3.0
    assert "(propagation p99 to the controller 1.29 s)" in fix.sentence


def test_the_drain_counts_from_sigterm_as_the_deletion_saw_it_not_only_the_kubelets_own() -> None:
    # On a cluster a preStop variant's SIGTERM is "sigterm_due" (the hook's sleep, from Events):
    # no sigterm_sent in the pod row, and still a drain of 4 s measured from it.
    timeline = _on_a_cluster(EventKind.SIGTERM_DUE, 1000.0, exited=1004.0, grace_s=5.0)
    fix = _derive(timeline, [*_served(1010.0), fail(1000.6)])
    assert fix is not None and fix.change.grace_period_s == 9.0


def test_a_variants_own_prestop_command_is_said_to_be_replaced_with_how_to_keep_it() -> None:
    own = Variant(prestop_command=["nginx", "-s", "quit"])
    records = [*_served(1010.0), fail(1000.6)]
    fix = _derive(_pod(EventKind.EXITED, 1000.5), records, own=own)
    assert fix is not None and fix.change.prestop_sleep_s == 3.0
    assert any("sh -c 'sleep 3; nginx -s quit'" in note for note in fix.notes)


def test_routed_failures_without_a_recommendation_say_the_sleep_could_not_be_sized() -> None:
    too_few = {"prestop_sleep_s": None, "reason": "2 propagation sample(s) across all orders"}
    records = [*_served(1010.0), fail(1000.6)]
    fix = _derive(_pod(EventKind.EXITED, 1000.5), records, recommendation=too_few)
    assert fix is not None and fix.file is None and fix.change.prestop_sleep_s is None
    assert "cannot size it (2 propagation sample(s) across all orders)" in fix.sentence
    assert fix.sentence.endswith("(no patch yet)")
    assert any(n.startswith("preStop: not sized: 2 propagation") for n in fix.notes)
