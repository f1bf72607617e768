"""Small builders for hand-made records and timelines in the analysis tests."""

from __future__ import annotations

from typing import Any

from harness.records import RequestRecord
from harness.timeline import EventKind, TimelineEvent


def ev(ts: float, kind: str, pod: str | None = None, **detail: Any) -> TimelineEvent:
    return TimelineEvent(ts=ts, kind=kind, pod=pod, detail=detail)


def ok(end: float, latency_ms: float = 10.0, pod: str | None = "a") -> RequestRecord:
    return RequestRecord(
        start=end - latency_ms / 1000.0,
        end=end,
        latency_ms=latency_ms,
        name="/",
        status=200,
        bytes=2,
        pod=pod,
        error=None,
    )


def fail(end: float, error: str = "connection_refused", pod: str | None = None) -> RequestRecord:
    return RequestRecord(
        start=end - 0.001,
        end=end,
        latency_ms=1.0,
        name="/",
        status=0 if pod is None else 503,
        bytes=0,
        pod=pod,
        error=error,
        message="boom",
    )


def deletion(
    pod: str, d: float, sigterm: float, removal: float, exited: float
) -> list[TimelineEvent]:
    """A pod's whole deletion as the embedded backend records it: the delete call (D), SIGTERM,
    the Service proxy applying its removal (R) and the exit (X); its window is [D, max(R, X) +
    2 s]."""
    return [
        ev(d, EventKind.DELETE_REQUESTED, pod),
        ev(sigterm, EventKind.SIGTERM_SENT, pod),
        ev(removal, EventKind.REMOVAL_APPLIED, pod),
        ev(exited, EventKind.EXITED, pod),
    ]


def unavailable(node: str, method: str, reason: str, ts: float = 980.0) -> TimelineEvent:
    """A data-plane observer's DATA_PLANE event: it could not watch ``node``."""
    return ev(
        ts, EventKind.DATA_PLANE, None, node=node, method=method, state="unavailable", reason=reason
    )
