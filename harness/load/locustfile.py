"""drainlab's locustfile: the traffic mix, and a record line for every request.

Runs inside the locust (gevent) process that ``harness.load.runner`` starts; it reads its settings
from the environment (``harness.load.config``) and never touches asyncio.

- Traffic: each user repeats one task that sends one request of the mix (``traffic.requests`` or
  the sample app's ``GET /`` and ``GET /work?ms={ms}``; harness.load.mix draws it by weight).
  Paced (the default, harness.load.pacing): it waits as locust's ``constant_throughput`` does,
  so that the user keeps its rate and a failure does not bring its next request forward; closed:
  it thinks for a time uniform in [wait_min_s, wait_max_s] after each answer.
- Records: each carries the user's number (``user``), so the analysis can follow one user's
  requests (harness.analysis.outage: how long it waited for its next success). The lines of one
  pass of gevent's loop go out with one write(2) (harness.load.recordsink), each before its user
  sends its next request.
  All draws come from a per-user RNG seeded from ``DRAINLAB_SEED`` and the user's number, so a
  seed gives the same sequence per user.
- Statuses: the request's ``expect`` decides (locust's own rule, 2xx and redirects, is replaced),
  and redirects are not followed: the status recorded is the one the service answered. A status
  outside ``expect`` fails as ``UnexpectedStatus`` (harness.classify sorts it); a request that got
  no complete answer keeps the transport error locust saw.
- Connections: keep-alive by default, like real clients. ``keepalive: false`` (for the traffic or
  one request) sends ``Connection: close``: the server closes after its answer, so the next
  request opens a new TCP connection (tests/load/test_load_runner.py counts them on the server
  side).
- Retries: geventhttpclient silently resends an idempotent request on a fresh connection when a
  pooled connection closes before any response byte. That hides exactly the drop drainlab looks
  for (a pod that exits with requests in flight), so it is switched off unless
  ``DRAINLAB_CLIENT_RETRIES=1``.
- Duration: a timer quits the runner ``DRAINLAB_DURATION_S`` after the test starts (locust's
  ``--run-time`` only takes whole seconds). Users then finish the request they are in, within
  ``--stop-timeout``; a request cut off after that is not recorded, only counted (``cut_off``).
- Lifecycle lines (started / stopping / stopped, and locust's own request count when it quits:
  counted) go to ``DRAINLAB_STATUS``; the runner waits for "started" to know locust is really
  running.
- Several workers (``DRAINLAB_WORKERS``): this file runs in the master and in each worker;
  harness.load.distributed adds what that needs. The master records nothing and owns the timer;
  each worker writes its own records and status files, and its number in each record.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import resource
import time
from collections.abc import Callable
from typing import Any

import gevent
import geventhttpclient.client as ghc_client
from locust import FastHttpUser, constant_throughput, events, task
from locust.contrib.fasthttp import LocustBadStatusCode
from locust.env import Environment
from locust.exception import StopUser

from harness.classify import UnexpectedStatus, classify, describe
from harness.errors import WriteError
from harness.jsonl import LineFile
from harness.load import distributed
from harness.load.config import LoadConfig, records_unwritable_exit
from harness.load.mix import Mix, Prepared
from harness.load.pacing import PACED, load_model, user_rate_per_s
from harness.load.recordsink import RecordSink
from harness.records import record_line

logger = logging.getLogger("drainlab")

CONFIG = LoadConfig.from_env(os.environ)
TRAFFIC = CONFIG.traffic
MIX = Mix(TRAFFIC.mix(), TRAFFIC.slow_ms_min, TRAFFIC.slow_ms_max, TRAFFIC.keepalive)
_THINK_MIN_S, _THINK_MAX_S = TRAFFIC.think_s()
_PACED = (
    load_model(TRAFFIC.pacing, TRAFFIC.rate_per_s, TRAFFIC.wait_min_s, TRAFFIC.wait_max_s) == PACED
)
_PACING = (
    constant_throughput(user_rate_per_s(TRAFFIC.rate_per_s, TRAFFIC.users)) if _PACED else None
)
_SERVED_BY = "X-Served-By"

_environments: list[Environment] = []  # the one locust runs, once the test started


def _records_unwritable(failure: WriteError) -> None:
    # A records file the disk refuses ends the load at once (requests nobody records are not a
    # measurement); the exit code carries the errno to the runner, whose one line names the file.
    logger.error("drainlab: %s; stopping the load", failure)
    for environment in _environments:
        environment.process_exit_code = records_unwritable_exit(failure.errno)
        if environment.runner is not None:
            # The write came from a callback of gevent's hub (harness.load.recordsink), where
            # nothing may block: quitting, which waits for the users, runs in a greenlet.
            gevent.spawn(environment.runner.quit)


STATUS = LineFile(CONFIG.status_path)
# The master of a distributed run (traffic.workers) sends no request: its workers record theirs.
_RECORDS_ON = CONFIG.record and not CONFIG.is_master
RECORDS = (
    RecordSink(
        LineFile(CONFIG.records_path, _records_unwritable), gevent.get_hub().loop.run_callback
    )
    if _RECORDS_ON
    else None
)
_user_numbers = itertools.count()
_cut_off = 0
_stopping = False


def _disable_client_retries() -> bool:
    # A private function of geventhttpclient.client (2.x) decides whether to resend; if a new
    # version renames it, say so in the status line rather than fail.
    if not hasattr(ghc_client, "_may_retry_after_send_error"):
        logger.warning("drainlab: cannot switch off geventhttpclient retries in this version")
        return False
    ghc_client._may_retry_after_send_error = lambda method: False
    return True


_RETRIES_OFF = False if CONFIG.client_retries else _disable_client_retries()


class DrainlabUser(FastHttpUser):
    network_timeout = TRAFFIC.timeout_s
    connection_timeout = TRAFFIC.timeout_s
    max_retries = 0
    # One greenlet per user: a pool of one connection is all it can use, and keeps the
    # connection count per user exact in keep-alive mode.
    concurrency = 1

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        # In every record: whose requests follow each other. With several workers, worker k's
        # users are k, k + N, k + 2N...: unique across workers, and the same numbers (so the same
        # per-user draws for a seed) as one process's 0, 1, 2... when locust shares users evenly.
        self.user_number = next(_user_numbers) * CONFIG.workers + (CONFIG.worker or 0)
        self.rng = random.Random(f"{CONFIG.seed}:{self.user_number}")

    def wait_time(self) -> float:
        if _PACING is not None:
            return _PACING(self)
        return self.rng.uniform(_THINK_MIN_S, _THINK_MAX_S)

    @task
    def one_request(self) -> None:
        global _cut_off
        if _stopping:
            # Locust kills a waiting user through a callback that can land after the user woke
            # and sent its next request; ending here instead means no request starts after the
            # stop, and ``cut_off`` counts only requests that really were in flight.
            raise StopUser()
        request, path = MIX.draw(self.rng)
        try:
            with self.client.request(
                request.method,
                path,
                name=request.name,  # locust's own stats: one row per entry, not per {ms}
                data=request.body,
                headers=request.headers,
                catch_response=True,
                allow_redirects=False,
                context={"path": path, "user": self.user_number},
            ) as response:
                _judge(response, request)
        except gevent.GreenletExit:
            _cut_off += 1  # killed mid-request by the end of the run: no outcome to record
            raise


def _judge(response: Any, request: Prepared) -> None:
    # ``response`` is locust's ResponseContextManager, whose success/failure are untyped.
    status = response.status_code
    failure = response.request_meta["exception"]
    if status == 0 or not (failure is None or isinstance(failure, LocustBadStatusCode)):
        return  # no complete answer (refused, reset, cut mid-body): locust reports its error
    if status in request.accepted:
        response.success()
    else:
        response.failure(UnexpectedStatus(status, request.expect))


def _request_listener(records: RecordSink) -> Callable[..., None]:
    # A closure over the sink: the hot path does no global lookups or None checks.
    line, write = record_line, records.add
    worker = CONFIG.worker

    def on_request(
        request_type: str,  # the method
        name: str,
        response_time: float,
        response_length: int,
        response: Any,
        context: dict[str, Any],
        exception: BaseException | None,
        start_time: float,
        **_: Any,
    ) -> None:
        status = response.status_code if response is not None else 0
        headers = getattr(response, "headers", None)
        pod = headers.get(_SERVED_BY) if headers is not None else None
        message = None if exception is None else describe(exception)
        error = classify(exception, status)
        path = context.get("path", name)
        method = request_type
        size = response_length
        user = context.get("user")
        write(
            line(
                start_time,
                response_time,
                path,
                status,
                size,
                pod,
                error,
                message,
                method,
                user,
                worker,
            )
        )

    return on_request


def _listen(hook: Any, handler: Callable[..., None]) -> None:
    # locust's EventHook is untyped; going through Any keeps mypy --strict quiet without ignores.
    hook.add_listener(handler)


def _flush_records(**_: Any) -> None:
    # A request that ended after the users' stop still reaches the file before the process ends.
    if RECORDS is not None:
        RECORDS.flush()


if RECORDS is not None:
    _listen(events.request, _request_listener(RECORDS))
    _listen(events.quitting, _flush_records)


def _quit_after_duration(environment: Environment) -> None:
    logger.info("drainlab: %.3g s of load done, stopping users", CONFIG.duration_s)
    if _END_DISTRIBUTED is not None:
        _END_DISTRIBUTED(environment)
    elif environment.runner is not None:
        environment.runner.quit()


def _cpu_s() -> float:
    # CPU seconds of this process: tells whether locust itself was the bottleneck (a generator
    # near one core measures its own limit, not the service's), and what recording costs.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _on_test_start(environment: Environment, **_: Any) -> None:
    _environments.append(environment)
    STATUS.write_obj(
        {
            "event": "started",
            "ts": time.time(),
            "pid": os.getpid(),
            "client_retries": not _RETRIES_OFF,
            "cpu_s": _cpu_s(),
        }
    )
    if CONFIG.duration_s > 0 and CONFIG.worker is None:  # the master's (or only) timer ends it
        gevent.spawn_later(CONFIG.duration_s, _quit_after_duration, environment)


def _on_test_stopping(**_: Any) -> None:
    global _stopping
    _stopping = True
    STATUS.write_obj({"event": "stopping", "ts": time.time()})


def _on_test_stop(**_: Any) -> None:
    STATUS.write_obj(
        {
            "event": "stopped",
            "ts": time.time(),
            "cut_off": _cut_off,
            "records": _records_count(),
            "record_writes": RECORDS.writes if RECORDS is not None else None,
            "cpu_s": _cpu_s(),
        }
    )


def _records_count() -> int | None:
    return RECORDS.written() if RECORDS is not None else None


_END_DISTRIBUTED = distributed.install(CONFIG, STATUS, _records_count, _listen)
_listen(events.test_start, _on_test_start)
_listen(events.test_stopping, _on_test_stopping)
_listen(events.test_stop, _on_test_stop)
