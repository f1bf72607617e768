"""What the locust processes said about themselves: their lifecycle lines (status files), read.

Each locust process appends lines to its own status file (harness.load.locustfile):
``started``, ``stopping``, ``stopped`` (records written and the writes that took them, requests
cut off, CPU seconds) and ``counted`` (locust's own request count, when it quits). With several
workers (harness.load.distributed), the master's file has the run's times and locust's count per
worker, each worker's file its own ``connected``, times, records and CPU; ``read_status`` puts
them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.jsonl import iter_jsonl
from harness.runfolder import worker_file


@dataclass(frozen=True)
class WorkerStatus:
    """One load worker (traffic.workers > 1); None until it happened or was said."""

    worker: int
    connected_at: float | None = None  # it reached the master
    started_at: float | None = None  # its users began
    stopped_at: float | None = None
    records: int | None = None  # record lines it wrote
    record_writes: int | None = None  # the write(2) calls that took them
    cut_off: int | None = None
    cpu_s: float | None = None
    locust_requests: int | None = None  # what the master counted from its reports


@dataclass(frozen=True)
class LoadStatus:
    """What the locust process (or the master and its workers) said; None until it happened."""

    started_at: float | None = None  # unix seconds of locust's test_start
    stopping_at: float | None = None  # users were asked to stop
    stopped_at: float | None = None  # all users stopped
    cut_off: int | None = None  # requests killed mid-flight at the end, not recorded
    client_retries: bool | None = None  # geventhttpclient's silent resends were left on
    cpu_s: float | None = None  # CPU seconds the sending processes used from start to stopped
    records: int | None = None  # record lines written, as the writers counted them
    record_writes: int | None = None  # the write(2) calls that took them (several lines each)
    locust_requests: int | None = None  # locust's own request count (its stats), once it quit
    workers: tuple[WorkerStatus, ...] = ()  # one per worker process, when there are several


def read_status(path: Path, workers: int = 0) -> LoadStatus:
    """Reads the status file at ``path`` (the only process's, or the master's) and, with
    ``workers`` (worker processes beside a master), each worker's. A torn last line is ignored."""
    own = _read_lines(path)
    if workers == 0:
        return LoadStatus(**_common(own), locust_requests=own.get("locust_requests"))
    counted = own.get("per_worker") or {}
    parts = []
    for number in range(workers):
        raw = _read_lines(worker_file(path, number))
        fields = _common(raw)
        parts.append(
            WorkerStatus(
                worker=number,
                connected_at=raw.get("connected_at"),
                started_at=fields.get("started_at"),
                stopped_at=fields.get("stopped_at"),
                records=fields.get("records"),
                record_writes=fields.get("record_writes"),
                cut_off=fields.get("cut_off"),
                cpu_s=fields.get("cpu_s"),
                locust_requests=counted.get(str(number)),
            )
        )
    master = _common(own)
    return LoadStatus(
        started_at=master.get("started_at"),
        stopping_at=master.get("stopping_at"),
        stopped_at=master.get("stopped_at"),
        cut_off=_total(part.cut_off for part in parts),
        client_retries=master.get("client_retries"),
        cpu_s=_total(part.cpu_s for part in parts),
        records=_total(part.records for part in parts),
        record_writes=_total(part.record_writes for part in parts),
        locust_requests=own.get("locust_requests"),
        workers=tuple(parts),
    )


def _read_lines(path: Path) -> dict[str, Any]:
    """The raw fields of one status file: later lines of a kind win, but the first stopping."""
    fields: dict[str, Any] = {}
    try:
        lines = list(iter_jsonl(path))
    except FileNotFoundError:
        return fields
    for data in lines:
        event = data.get("event")
        if event == "connected":
            fields["connected_at"] = data["ts"]
        elif event == "started":
            fields["started_at"] = data["ts"]
            fields["client_retries"] = data.get("client_retries")
            fields["cpu_at_start"] = data.get("cpu_s")
        elif event == "stopping":
            fields.setdefault("stopping_at", data["ts"])
        elif event == "stopped":
            fields["stopped_at"] = data["ts"]
            fields["cut_off"] = data.get("cut_off")
            fields["records"] = data.get("records")
            fields["record_writes"] = data.get("record_writes")
            fields["cpu_at_stop"] = data.get("cpu_s")
        elif event == "counted":
            fields["locust_requests"] = data.get("locust_requests")
            fields["per_worker"] = data.get("per_worker")
    return fields


def _common(raw: dict[str, Any]) -> dict[str, Any]:
    """The fields every process's file has, as LoadStatus names them."""
    names = ("started_at", "stopping_at", "stopped_at", "cut_off", "records", "record_writes")
    fields = {name: raw[name] for name in names if name in raw}
    if "client_retries" in raw:
        fields["client_retries"] = raw["client_retries"]
    start, stop = raw.get("cpu_at_start"), raw.get("cpu_at_stop")
    if start is not None and stop is not None:
        fields["cpu_s"] = stop - start
    return fields


def _total(values: Any) -> Any:
    """The sum of values that are all known, else None."""
    values = list(values)
    return None if not values or any(v is None for v in values) else sum(values)
