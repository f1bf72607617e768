"""How a run's settings reach the locust process: environment variables, encoded and decoded here.

Both sides import this module; it must stay free of locust, gevent and asyncio.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.load.mix import Request
from harness.load.traffic import Traffic

ENV_RECORDS = "DRAINLAB_RECORDS"  # path of the records JSONL
ENV_STATUS = "DRAINLAB_STATUS"  # path of the lifecycle JSONL (started / stopping / stopped)
ENV_TRAFFIC = "DRAINLAB_TRAFFIC"  # json of the Traffic dataclass
ENV_SEED = "DRAINLAB_SEED"
ENV_DURATION = "DRAINLAB_DURATION_S"
ENV_RECORD = "DRAINLAB_RECORD"  # "0": no request listener (only for measuring its cost)
ENV_CLIENT_RETRIES = "DRAINLAB_CLIENT_RETRIES"  # "1": keep geventhttpclient's silent retries
ENV_WORKERS = "DRAINLAB_WORKERS"  # how many worker processes send the load (traffic.workers)
ENV_WORKER = "DRAINLAB_WORKER"  # this worker's number, 0..workers-1; unset: master or single

# Locust's exit code when the disk refused the records file: this base plus the errno (capped), so
# the runner can name the file and the error in one line although no file could carry it.
_RECORDS_UNWRITABLE = 100
_ERRNO_CAP = 150


def records_unwritable_exit(errno: int | None) -> int:
    return _RECORDS_UNWRITABLE + min(errno or 0, _ERRNO_CAP)


def records_unwritable_errno(code: int) -> int | None:
    """The errno of a locust exit code made by ``records_unwritable_exit`` (0: unknown), else
    None."""
    if _RECORDS_UNWRITABLE <= code <= _RECORDS_UNWRITABLE + _ERRNO_CAP:
        return code - _RECORDS_UNWRITABLE
    return None


ALL_ENV = (
    ENV_RECORDS,
    ENV_STATUS,
    ENV_TRAFFIC,
    ENV_SEED,
    ENV_DURATION,
    ENV_RECORD,
    ENV_CLIENT_RETRIES,
    ENV_WORKERS,
    ENV_WORKER,
)


@dataclass(frozen=True)
class LoadConfig:
    records_path: Path
    status_path: Path
    traffic: Traffic
    seed: int
    duration_s: float
    record: bool = True
    client_retries: bool = False
    workers: int = 1  # > 1: locust's distributed mode, this process the master or one worker
    worker: int | None = None  # this process's worker number; None: the master, or the only one

    @property
    def is_master(self) -> bool:
        """The coordinating process of a distributed run: it sends no request itself."""
        return self.workers > 1 and self.worker is None

    def to_env(self) -> dict[str, str]:
        return {
            ENV_RECORDS: str(self.records_path),
            ENV_STATUS: str(self.status_path),
            ENV_TRAFFIC: json.dumps(dataclasses.asdict(self.traffic)),
            ENV_SEED: str(self.seed),
            ENV_DURATION: repr(self.duration_s),
            ENV_RECORD: "1" if self.record else "0",
            ENV_CLIENT_RETRIES: "1" if self.client_retries else "0",
            ENV_WORKERS: str(self.workers),
            **({} if self.worker is None else {ENV_WORKER: str(self.worker)}),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LoadConfig:
        """Decodes what ``to_env`` wrote; a missing or malformed variable is a ValueError that
        names it (the locust log shows it, and the runner reports the log's tail)."""
        missing = [name for name in (ENV_RECORDS, ENV_STATUS, ENV_TRAFFIC) if not env.get(name)]
        if missing:
            raise ValueError(f"drainlab locustfile: {', '.join(missing)} not set")
        try:
            traffic = _traffic_from_json(env[ENV_TRAFFIC])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"drainlab locustfile: {ENV_TRAFFIC} is not a Traffic: {exc}") from exc
        try:
            seed = int(env.get(ENV_SEED, "1"))
            duration_s = float(env.get(ENV_DURATION, "0"))
            workers = int(env.get(ENV_WORKERS, "1"))
            worker = int(env[ENV_WORKER]) if env.get(ENV_WORKER) else None
        except ValueError as exc:
            raise ValueError(f"drainlab locustfile: {exc}") from exc
        return cls(
            records_path=Path(env[ENV_RECORDS]),
            status_path=Path(env[ENV_STATUS]),
            traffic=traffic,
            seed=seed,
            duration_s=duration_s,
            record=env.get(ENV_RECORD, "1") != "0",
            client_retries=env.get(ENV_CLIENT_RETRIES, "0") == "1",
            workers=workers,
            worker=worker,
        )


def _traffic_from_json(text: str) -> Traffic:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    requests = data.get("requests")
    if requests is not None:
        data["requests"] = [Request(**request) for request in requests]
    return Traffic(**data)
