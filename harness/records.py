"""The two streams a run writes, and their JSONL encoding.

- ``RequestRecord``: one line per request the load generator completed (records-<order>.jsonl).
- ``TimelineEvent``: one line per thing that happened to a pod, an endpoint or the chaos schedule
  (timeline-<order>.jsonl).

Both files are appended to and flushed line by line, so a crash loses at most the last line; the
readers skip a torn last line instead of failing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

# Error classes a failed request is sorted into (the contract of records and summary.json).
ERROR_CLASSES: tuple[str, ...] = (
    "connection_refused",
    "connection_reset",
    "remote_disconnected",
    "timeout",
    "http_5xx",
    "http_other",
    "other",
)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One completed request, as the client saw it."""

    start: float  # unix seconds when the request was sent
    end: float  # unix seconds when it completed or failed
    latency_ms: float
    name: str  # the request path, e.g. "/" or "/work?ms=200"
    status: int  # HTTP status, 0 when no response arrived
    bytes: int
    pod: str | None  # X-Served-By, when a response carried it
    error: str | None  # one of ERROR_CLASSES, None when the request succeeded
    message: str | None = None  # the client's own error text, for humans

    @property
    def failed(self) -> bool:
        return self.error is not None


# Timeline event kinds. Pod lifecycle (both backends):
POD_CREATED = "pod_created"
POD_SCHEDULED = "pod_scheduled"
POD_NETWORK_READY = "pod_network_ready"
POD_CONTAINER_STARTED = "pod_container_started"
POD_READY = "pod_ready"  # readiness probe passed (detail may carry "replaces": pod)
POD_NOT_READY = "pod_not_ready"  # readiness probe failed on a pod that was ready
DELETE_REQUESTED = "delete_requested"  # detail: {"grace_period_s": float}
PRESTOP_STARTED = "prestop_started"
PRESTOP_ENDED = "prestop_ended"
SIGTERM_SENT = "sigterm_sent"
EXITED = "exited"  # detail: {"code": int}
KILLED = "killed"  # SIGKILL when the grace period ran out
# A Kubernetes Event about a pod (kube backends): detail {"reason": "Killing" | "Unhealthy" |
# "FailedPreStopHook" | ..., "message": str, ...}.
KUBE_EVENT = "kube_event"
# Endpoints: the controller's view, then the proxy's (the embedded proxy only).
ENDPOINT_ADDED = "endpoint_added"
ENDPOINT_REMOVED = "endpoint_removed"
ADDITION_APPLIED = "addition_applied"
REMOVAL_APPLIED = "removal_applied"
# The chaos schedule and the run itself.
CHAOS_ACTION = "chaos_action"  # detail: {"action": str, "targets": [pod, ...]}
LOAD_STARTED = "load_started"
LOAD_STOPPED = "load_stopped"
# The app's own shutdown lines are stored as "app_" + their "event" field, e.g. "app_sigterm",
# "app_readiness_failed", "app_listener_closed", "app_drain_started", "app_drained", "app_exit";
# the line's other fields go into detail.
APP_EVENT_PREFIX = "app_"


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    ts: float  # unix seconds
    kind: str
    pod: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def record_from_dict(data: dict[str, Any]) -> RequestRecord:
    return RequestRecord(
        start=float(data["start"]),
        end=float(data["end"]),
        latency_ms=float(data["latency_ms"]),
        name=str(data["name"]),
        status=int(data["status"]),
        bytes=int(data.get("bytes", 0)),
        pod=data.get("pod"),
        error=data.get("error"),
        message=data.get("message"),
    )


def event_from_dict(data: dict[str, Any]) -> TimelineEvent:
    return TimelineEvent(
        ts=float(data["ts"]),
        kind=str(data["kind"]),
        pod=data.get("pod"),
        detail=dict(data.get("detail") or {}),
    )


class JsonlWriter:
    """Appends one JSON object per line and flushes it at once; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        self.count = 0

    def write(self, obj: RequestRecord | TimelineEvent | dict[str, Any]) -> None:
        data = obj if isinstance(obj, dict) else asdict(obj)
        line = json.dumps(data, separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yields each complete JSON line; a torn or garbled line (a crash mid-write) is skipped."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                yield data


def read_records(path: Path) -> list[RequestRecord]:
    return [record_from_dict(d) for d in iter_jsonl(path)]


def read_timeline(path: Path) -> list[TimelineEvent]:
    return sorted((event_from_dict(d) for d in iter_jsonl(path)), key=lambda e: e.ts)
