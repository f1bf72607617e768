"""Inside locust, when several workers send the load (traffic.workers): what the master and each
worker add to the lifecycle lines, and how the master ends the run so that nothing is lost.

Runs in the locust (gevent) processes; ``harness.load.locustfile`` calls ``install`` once.

- Worker numbers: the runner gives each worker process its number (0..N-1, ``DRAINLAB_WORKER``);
  every report a worker sends to the master carries it, so the master can count per worker.
- Counting: locust's own request count is what the master aggregates from the workers' reports
  (each sends the requests completed since its last report, every 3 s). The master's status file
  gets a ``counted`` line when it quits: the total and the count per worker, to hold against the
  records (tests/load: they must be equal).
- Ending: the master's duration timer asks every worker to stop (``drainlab_stop``: the worker
  lets its users finish within ``--stop-timeout``, then answers ``drainlab_stopped`` with how
  many records it wrote), tells each that answered to quit (a worker answers that with its last
  report, then exits), waits for those reports, and only then quits itself. Locust's own ``quit``
  alone gives the workers 0.5 s to stop their users, so their last requests would be missing from
  locust's count (not from the records); its ``stop`` leaves each worker deaf to the master for
  ``--stop-timeout`` after stopping. A worker that died mid-run answers nothing, and is not
  waited for beyond the bound.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner

from harness.jsonl import LineFile
from harness.load.config import LoadConfig

logger = logging.getLogger("drainlab")

STOP_MESSAGE = "drainlab_stop"
STOPPED_MESSAGE = "drainlab_stopped"
_WORKER_KEY = "drainlab_worker"
# Bounds for workers that do not answer (one that died, one that hangs): beyond the stop-timeout
# its users have to finish, and for the last report, which a worker sends at once on "quit".
_STOP_MARGIN_S = 10.0
_FINAL_REPORT_WAIT_S = 8.0


class _Master:
    """What the master knows of its workers: the requests each reported, who said it stopped."""

    def __init__(self, status: LineFile) -> None:
        self.status = status
        self.requests: dict[int, int] = {}  # worker -> requests it reported (locust's count)
        self.reports: dict[int, int] = {}  # worker -> reports received
        self.stopped: dict[int, int] = {}  # worker -> reports received when it said it stopped
        self.clients: dict[int, str] = {}  # worker -> locust's id for it
        self.records: dict[int, int | None] = {}  # worker -> records it wrote, as it said

    def on_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        worker = data.get(_WORKER_KEY)
        if not isinstance(worker, int):
            return
        total = data.get("stats_total") or {}
        self.requests[worker] = self.requests.get(worker, 0) + int(total.get("num_requests", 0))
        self.reports[worker] = self.reports.get(worker, 0) + 1

    def on_stopped(self, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        worker = data.get("worker")
        if isinstance(worker, int):
            self.stopped[worker] = self.reports.get(worker, 0)
            self.records[worker] = data.get("records")
            self.clients[worker] = msg.node_id

    def end(self, environment: Environment) -> None:
        runner = environment.runner
        if not isinstance(runner, MasterRunner):
            return
        self.status.write_obj({"event": "stopping", "ts": time.time()})
        runner.send_message(STOP_MESSAGE)

        def all_answered() -> bool:
            # A worker that died mid-run never answers; locust marks it missing within seconds.
            alive = {c.id for c in runner.clients.all if c.state != STATE_MISSING}
            return alive <= set(self.clients.values())

        _wait_until(all_answered, environment.stop_timeout + _STOP_MARGIN_S)
        asked = dict(self.stopped)
        for worker in asked:
            runner.send_message("quit", client_id=self.clients[worker])
        _wait_until(
            lambda: all(self.reports.get(w, 0) > seen for w, seen in asked.items()),
            _FINAL_REPORT_WAIT_S,
        )
        runner.quit()

    def on_quitting(self, environment: Environment, **_: Any) -> None:
        self.status.write_obj(
            {
                "event": "counted",
                "ts": time.time(),
                "locust_requests": environment.stats.total.num_requests,
                "per_worker": {str(k): v for k, v in sorted(self.requests.items())},
                "records_per_worker": {str(k): v for k, v in sorted(self.records.items())},
            }
        )


def _wait_until(done: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        gevent.sleep(0.05)


def install(
    config: LoadConfig,
    status: LineFile,
    records_count: Callable[[], int | None],
    listen: Callable[[Any, Callable[..., None]], None],
) -> Callable[[Environment], None] | None:
    """Adds the distributed run's hooks; returns how the master ends the run (None elsewhere)."""
    if config.is_master:
        master = _Master(status)
        listen(events.worker_report, master.on_report)
        listen(events.quitting, master.on_quitting)

        def register(environment: Environment, **_: Any) -> None:
            if environment.runner is not None:
                environment.runner.register_message(STOPPED_MESSAGE, master.on_stopped)

        listen(events.init, register)
        return master.end
    worker = config.worker
    if worker is None:
        listen(events.quitting, _count_single(status))
        return None

    def on_report(data: dict[str, Any], **_: Any) -> None:
        data[_WORKER_KEY] = worker

    def on_stop(environment: Environment, **_: Any) -> None:
        runner = environment.runner
        if runner is not None:
            runner.stop()  # the users finish what they are in (test_stop: the status line)
            runner.send_message(STOPPED_MESSAGE, {"worker": worker, "records": records_count()})

    def connected(environment: Environment, **_: Any) -> None:
        # init fires once the worker runner exists, and it exists only once it reached the master
        status.write_obj({"event": "connected", "ts": time.time(), "worker": worker})
        if environment.runner is not None:
            # concurrent: stopping waits for the users, and the worker must go on hearing the master
            environment.runner.register_message(STOP_MESSAGE, on_stop, concurrent=True)

    listen(events.init, connected)
    listen(events.report_to_master, on_report)
    return None


def _count_single(status: LineFile) -> Callable[..., None]:
    def on_quitting(environment: Environment, **_: Any) -> None:
        status.write_obj(
            {
                "event": "counted",
                "ts": time.time(),
                "locust_requests": environment.stats.total.num_requests,
            }
        )

    return on_quitting
