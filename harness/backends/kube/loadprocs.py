"""One load pod as the runner sees a locust process (``PodProcess``), and where its log's lines
go (``PodFiles``): loadpods.py makes and follows them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.backends.kube import loadobjects
from harness.backends.kube.logs import LogFollower
from harness.records import with_client

_RECORD, _STATUS = b'{"start"', b'{"event"'


class PodProcess:
    """One load pod as a ``harness.load.runner.LoadProcess``."""

    def __init__(
        self,
        name: str,
        worker: int | None,
        log_path: Path,
        delete: Callable[[PodProcess, bool], None],
    ) -> None:
        self.name = name
        self.worker = worker
        self.log_path = log_path
        self.ended_at: float | None = None
        self.node: str | None = None
        self.code: int | None = None  # the container's exit code, once it ended
        self.follower: LogFollower | None = None
        self.files: PodFiles | None = None
        self._delete = delete  # the pod, gracefully or not

    @property
    def pid(self) -> int | None:
        return None

    @property
    def label(self) -> str:
        return f"pod {self.name}" + (f" on node {self.node}" if self.node else "")

    @property
    def returncode(self) -> int | None:
        """The exit code once the container ended and its log was read to the end."""
        follower = self.follower
        if self.code is None or (follower is not None and not follower.done.is_set()):
            return None
        return self.code

    async def wait(self) -> int:
        while (code := self.returncode) is None:
            await asyncio.sleep(0.05)
        return code

    def terminate(self) -> None:
        self._delete(self, True)

    def kill(self) -> None:
        self._delete(self, False)


class PodFiles:
    """Where one pod's lines go (see the module docstring)."""

    def __init__(self, records: Path | None, status: Path, log_path: Path, suffix: bytes) -> None:
        self.records = records.open("ab", buffering=0) if records is not None else None
        self.status = status.open("ab", buffering=0)
        self.log = log_path.open("ab", buffering=0)
        self.suffix = suffix
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        data = text.encode()
        with self.lock:
            if data.startswith(_RECORD) and self.records is not None:
                self.records.write(with_client(data, self.suffix))
            elif data.startswith(_STATUS):
                self.status.write(data + b"\n")
            else:
                self.log.write(data + b"\n")

    def close(self) -> None:
        with self.lock:
            for handle in (self.records, self.status, self.log):
                if handle is not None:
                    handle.close()


def container_state(pod: dict[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == loadobjects.CONTAINER:
            return dict(status.get("state") or {})
    return {}
