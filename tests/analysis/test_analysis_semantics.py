"""The endpoint semantics' analysis: the conditions the events carried, and the failures a
readiness flip cost where the serving-terminating fallback was on (analysis/semantics.py)."""

from __future__ import annotations

from helpers.analysis import ev, fail, ok

from harness.analysis import build_order_summary
from harness.analysis.deletions import find_deletions
from harness.analysis.index import index_timeline
from harness.analysis.semantics import (
    conditions_seen,
    either_seen,
    fallback_disabled,
    opted_out,
    semantics_block,
)
from harness.timeline import EventKind, TimelineEvent

WINDOW = (990.0, 1010.0)
PODS = ("a", "b", "c")


def _cond(ready: bool, serving: bool | None, terminating: bool | None) -> dict[str, object]:
    return {"ready": ready, "serving": serving, "terminating": terminating}


def delete_all(graceful: bool, published: bool = True) -> list[TimelineEvent]:
    """Every replica deleted at 1000 (as the embedded 1.28 profile records it when
    ``published``): each stays serving-terminating; a graceful pod fails its readiness at
    SIGTERM (its app's line at 1000.1, the probe at 1001, the endpoint then not serving), a
    prestop pod serves until it exits at 1005. The replacement is a ready endpoint at 1003."""
    on = (lambda v: v) if published else (lambda v: None)
    timeline = [
        ev(990.0, EventKind.ENDPOINT_ADDED, p, **_cond(True, on(True), on(False))) for p in PODS
    ]
    for p in PODS:
        timeline += [
            ev(1000.0, EventKind.DELETE_REQUESTED, p),
            ev(
                1000.0,
                EventKind.ENDPOINT_REMOVED,
                p,
                reason="deleted",
                **_cond(False, on(True), on(True)),
            ),
            ev(1000.1, EventKind.SIGTERM_SENT, p),
            ev(1005.0, EventKind.EXITED, p, code=0),
        ]
        if graceful:
            timeline += [
                ev(1000.1, EventKind.APP_READINESS_FAILED, p),
                ev(1001.0, EventKind.POD_NOT_READY, p),
                ev(
                    1001.0,
                    EventKind.ENDPOINT_REMOVED,
                    p,
                    reason="not_serving",
                    **_cond(False, on(False), on(True)),
                ),
            ]
    timeline.append(ev(1003.0, EventKind.ENDPOINT_ADDED, "d", **_cond(True, on(True), on(False))))
    return sorted(timeline, key=lambda e: e.ts)


# No ready endpoint in [1000, 1003): 1000.5 before the readiness flip reached the endpoints,
# 1001.5 and 1002.5 after it; 1004 had a ready endpoint again.
RECORDS = [ok(995.0), fail(1000.5), fail(1001.5), fail(1002.5), fail(1004.0)]


def test_a_readiness_flip_under_the_fallback_is_a_finding_with_its_failures_and_pods() -> None:
    summary = build_order_summary("graceful", RECORDS, delete_all(True), WINDOW, fallback=True)
    assert summary["failures_by_phase"]["no_ready_replica"] == 3
    finding = summary["fallback_disabled"]
    assert finding["failed"] == 2  # 1000.5 came before the pods stopped serving
    assert finding["pods"] == ["a", "b", "c"]
    assert "2 requests failed with no ready endpoint" in finding["why"]
    assert "KEP-1669" in finding["why"]


def test_no_finding_without_the_fallback_or_without_a_flip() -> None:
    timeline = delete_all(True)
    assert "fallback_disabled" not in build_order_summary("g", RECORDS, timeline, WINDOW)
    prestop = build_order_summary("p", RECORDS, delete_all(False), WINDOW, fallback=True)
    assert prestop["failures_by_phase"]["no_ready_replica"] == 3
    assert "fallback_disabled" not in prestop


def test_the_not_serving_moment_comes_from_the_endpoints_then_the_probe_then_the_app() -> None:
    index = index_timeline(delete_all(True))
    out = opted_out(index, find_deletions(index, WINDOW[1]))
    assert [(o.pod, o.since, o.until, o.basis) for o in out] == [
        (p, 1001.0, 1005.0, "endpoint_serving_false") for p in PODS
    ]
    # A server that publishes no conditions (1.20, or core/v1 Endpoints): the probe's verdict.
    index = index_timeline(delete_all(True, published=False))
    (first, *_) = opted_out(index, find_deletions(index, WINDOW[1]))
    assert (first.since, first.basis) == (1001.0, EventKind.POD_NOT_READY)
    # Only the app's line: from it.
    bare = [e for e in delete_all(True, published=False) if e.kind != EventKind.POD_NOT_READY]
    index = index_timeline(bare)
    (first, *_) = opted_out(index, find_deletions(index, WINDOW[1]))
    assert (first.since, first.basis) == (1000.1, EventKind.APP_READINESS_FAILED)


def test_a_pod_that_stopped_serving_only_after_its_exit_or_before_its_delete_is_not_opted_out() -> (
    None
):
    timeline = [
        ev(990.0, EventKind.ENDPOINT_ADDED, "a"),
        ev(999.0, EventKind.POD_NOT_READY, "a"),  # before the delete: not a flip at shutdown
        ev(1000.0, EventKind.DELETE_REQUESTED, "a"),
        ev(1002.0, EventKind.EXITED, "a"),
        ev(1002.5, EventKind.POD_NOT_READY, "a"),  # after its exit
    ]
    index = index_timeline(timeline)
    assert opted_out(index, find_deletions(index, WINDOW[1])) == []


def test_a_pod_not_seen_to_exit_stays_opted_out_to_the_end() -> None:
    index = index_timeline([e for e in delete_all(True) if e.kind != EventKind.EXITED])
    out = opted_out(index, find_deletions(index, WINDOW[1]))
    assert {o.until for o in out} == {None}
    finding = fallback_disabled(out, [1009.0], True)
    assert finding is not None and (finding["failed"], finding["pods"]) == (1, ["a", "b", "c"])
    assert "1 request failed" in finding["why"] and "were terminating" in finding["why"]
    assert fallback_disabled(out, [1000.9], True) is None  # before the flip


def test_conditions_seen_in_the_endpoint_events() -> None:
    assert conditions_seen(delete_all(True)) is True
    assert conditions_seen(delete_all(True, published=False)) is False
    assert conditions_seen([ev(1.0, EventKind.POD_READY, "a")]) is None  # no endpoint event
    assert either_seen(None, None) is None
    assert either_seen(None, False) is False
    assert either_seen(False, True) is True
    block = semantics_block({"source": "server", "fallback": True}, False)
    assert block == {"source": "server", "fallback": True, "conditions_seen": False}
