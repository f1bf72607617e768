"""The locust subprocess, for real: records, connections, kills, stop, start failures."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers.loadrun import run_async, start
from helpers.paths import REPO

from bench.testserver import LoopbackServer, serve
from harness.errors import HarnessError
from harness.load.runner import LoadRun, start_load
from harness.load.spawn import die_with_parent, log_tail
from harness.load.status import LoadStatus, read_status
from harness.records import RequestRecord, read_records
from harness.scenario import Traffic

QUICK = Traffic(
    users=3,
    spawn_rate=100,
    fast_weight=2,
    slow_weight=1,
    slow_ms_min=20,
    slow_ms_max=80,
    wait_min_s=0.01,
    wait_max_s=0.03,
    timeout_s=5.0,
)


def check_clean_run(
    records: list[RequestRecord], server: LoopbackServer, run: LoadRun, pod: str
) -> None:
    assert records, "no requests recorded"
    # Every request the server saw was recorded, in-flight ones at the end included.
    assert len(records) == server.counts.requests
    assert {(r.error, r.status, r.pod) for r in records} == {(None, 200, pod)}
    names = {r.name for r in records}
    assert "/" in names
    slow = {int(n.split("=")[1]) for n in names if n.startswith("/work?ms=")}
    assert slow and all(20 <= ms <= 80 for ms in slow)
    assert names == {"/"} | {f"/work?ms={ms}" for ms in slow}
    assert all(r.end >= r.start and r.latency_ms >= 0 for r in records)
    status = run.status()
    assert status.started_at is not None and status.stopping_at is not None
    assert status.cut_off == 0
    assert status.locust_requests == status.records == len(records)  # locust's own count too
    assert status.record_writes is not None and 0 < status.record_writes <= status.records
    assert all(status.started_at - 0.01 <= r.start < status.stopping_at for r in records)
    assert 2.9 <= status.stopping_at - status.started_at <= 10
    stats = run.stats()
    assert (stats.requests, stats.failed) == (len(records), 0)
    assert run.progress_line() == f"load 3.0/3 s  {len(records)} requests  0 failed (0.00%)"


@pytest.mark.slow
def test_short_runs_record_every_request_keepalive_and_new_connections(tmp_path: Path) -> None:
    async def scenario() -> None:
        keep, close = await serve("pod-keep"), await serve("pod-close")
        (tmp_path / "k").mkdir()
        (tmp_path / "c").mkdir()
        runs = await asyncio.gather(
            start(keep.url, tmp_path / "k", QUICK, 3.0),
            start(
                close.url, tmp_path / "c", Traffic(**{**QUICK.__dict__, "keepalive": False}), 3.0
            ),
        )
        assert await asyncio.gather(*(run.wait() for run in runs)) == [0, 0]
        await keep.close()
        await close.close()

        kept = read_records(tmp_path / "k" / "records.jsonl")
        check_clean_run(kept, keep, runs[0], "pod-keep")
        assert keep.counts.connections == QUICK.users  # one connection per user, reused

        closed = read_records(tmp_path / "c" / "records.jsonl")
        check_clean_run(closed, close, runs[1], "pod-close")
        assert close.counts.connections == len(closed)  # a new connection per request

        log = (tmp_path / "k" / "locust.log").read_text()
        assert "Shutting down (exit code 0)" in log

    run_async(scenario)


@pytest.mark.slow
def test_killed_server_gives_refused_connections(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.testserver", "--pod", "doomed"],
        cwd=REPO,  # where the bench package is
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"

        async def scenario() -> tuple[int, float]:
            run = await start(url, tmp_path, QUICK, 3.5)
            while run.stats().requests < 30:
                await asyncio.sleep(0.05)
            killed_at = time.time()
            server.kill()
            return await run.wait(), killed_at

        code, killed_at = run_async(scenario)
    finally:
        server.kill()
        server.wait()
    assert code == 1
    records = read_records(tmp_path / "records.jsonl")
    before = [r for r in records if r.end < killed_at]
    after = [r for r in records if r.start > killed_at]
    assert len(before) >= 30 and all(r.error is None and r.pod == "doomed" for r in before)
    assert after and all(r.error is not None and r.status == 0 for r in after)
    classes = {r.error for r in records if r.error}
    assert "connection_refused" in classes
    assert classes <= {"connection_refused", "connection_reset", "remote_disconnected"}


@pytest.mark.slow
def test_records_survive_sigkill_of_locust(tmp_path: Path) -> None:
    async def scenario() -> LoopbackServer:
        server = await serve("pod-a")
        traffic = Traffic(**{**QUICK.__dict__, "users": 4, "wait_max_s": 0.01})
        run = await start(server.url, tmp_path, traffic, 60.0)
        while run.stats().requests < 200:
            await asyncio.sleep(0.05)
        os.kill(run.pid, signal.SIGKILL)
        with pytest.raises(HarnessError, match=r"locust exited with code -9 during the run"):
            await run.wait()
        await server.close()
        return server

    server = run_async(scenario)
    raw = (tmp_path / "records.jsonl").read_bytes()
    lines = raw.split(b"\n")
    complete, last = lines[:-1], lines[-1]  # ``last`` is b"" unless a line was torn
    records = read_records(tmp_path / "records.jsonl")
    assert len(records) == len(complete) >= 200
    assert all(r.error is None for r in records)
    if last:
        assert len(records) == len(raw.splitlines()) - 1
    # Lost: at most the requests in flight (one per user) when the kill came.
    assert len(records) <= server.counts.requests <= len(records) + 4


@pytest.mark.slow
def test_a_records_file_the_disk_refuses_stops_locust_with_one_line_naming_it(
    tmp_path: Path,
) -> None:
    # The refused write comes from a callback of gevent's hub (harness.load.recordsink), where
    # the locustfile may not block: it must still quit locust with the errno in its exit code.
    (tmp_path / "records.jsonl").symlink_to("/dev/full")

    async def scenario() -> tuple[float, BaseException | None]:
        server = await serve("pod-a")
        began = time.monotonic()
        run = await start(server.url, tmp_path, QUICK, 60.0)
        failure: BaseException | None = None
        try:
            await run.wait()
        except HarnessError as exc:
            failure = exc
        await server.close()
        return time.monotonic() - began, failure

    took, failure = run_async(scenario)
    assert str(failure) == f"cannot write {tmp_path / 'records.jsonl'}: No space left on device"
    assert took < 30  # quit at the fault, not at the end of the 60 s run


@pytest.mark.slow
def test_stop_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    slow = Traffic(
        users=3,
        spawn_rate=100,
        fast_weight=0,
        slow_weight=1,
        slow_ms_min=600,
        slow_ms_max=900,
        wait_min_s=0.0,
        wait_max_s=0.0,
        timeout_s=5.0,
    )

    async def scenario() -> tuple[LoopbackServer, LoadRun, float, int]:
        server = await serve("pod-a")
        run = await start(server.url, tmp_path, slow, 60.0)
        while run.stats().requests < 3:
            await asyncio.sleep(0.05)
        began = time.monotonic()
        code = await run.stop()
        took = time.monotonic() - began
        await server.close()
        return server, run, took, code

    server, run, took, code = run_async(scenario)
    assert code == 0
    assert took < run.stop_timeout_s + 10
    records = read_records(tmp_path / "records.jsonl")
    assert len(records) == server.counts.requests
    assert all(r.error is None for r in records)
    status = run.status()
    assert status.cut_off == 0 and status.stopping_at is not None
    # Users were mid-request when the stop came, and those requests were waited for.
    assert any(r.end > status.stopping_at for r in records)
    assert all(r.start < status.stopping_at for r in records)


@pytest.mark.slow
def test_stop_kills_locust_after_the_grace(tmp_path: Path) -> None:
    stuck = Traffic(
        users=2,
        spawn_rate=100,
        fast_weight=0,
        slow_weight=1,
        slow_ms_min=20000,
        slow_ms_max=20000,
        timeout_s=30.0,
    )

    async def scenario() -> tuple[float, int, int]:
        server = await serve("pod-a")
        run = await start(server.url, tmp_path, stuck, 60.0)
        while server.counts.requests < 2:
            await asyncio.sleep(0.05)
        began = time.monotonic()
        code = await run.stop(grace_s=1.0)
        took = time.monotonic() - began
        waited = await run.wait()  # our own kill is not a harness error
        await server.close()
        return took, code, waited

    took, code, waited = run_async(scenario)
    assert code == waited == -signal.SIGKILL
    assert 0.9 <= took < 6.0


@pytest.mark.slow
def test_locust_that_cannot_start_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad_locustfile.py"
    bad.write_text("raise RuntimeError('broken on purpose')\n")

    async def scenario() -> None:
        await start_load(
            "http://127.0.0.1:9",
            QUICK,
            1.0,
            tmp_path / "r.jsonl",
            1,
            tmp_path / "locust.log",
            locustfile=bad,
        )

    with pytest.raises(HarnessError) as info:
        run_async(scenario)
    message = str(info.value)
    assert "\n" not in message
    assert re.search(r"locust could not start \(exit code \d+\)", message)
    assert "RuntimeError: broken on purpose" in message
    assert str(tmp_path / "locust.log") in message


@pytest.mark.slow
@pytest.mark.parametrize("end", ["os._exit(0)", "os.kill(os.getpid(), signal.SIGKILL)"])
def test_locust_dies_with_the_harness(tmp_path: Path, end: str) -> None:
    parent = tmp_path / "parent.py"
    parent.write_text(
        textwrap.dedent(
            f"""
            import asyncio, os, signal
            from pathlib import Path
            from harness.load.runner import start_load
            from harness.scenario import Traffic

            async def main():
                run = await start_load(
                    "http://127.0.0.1:9", Traffic(users=1), 60.0,
                    Path({str(tmp_path / "r.jsonl")!r}), 1, Path({str(tmp_path / "l.log")!r}),
                )
                print(run.pid, flush=True)
                {end}  # the harness dies without cleaning up

            asyncio.run(main())
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(parent)], capture_output=True, text=True, timeout=90, check=False
    )
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    assert not alive(pid)


def test_locust_is_started_without_preexec_fn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """preexec_fn runs Python between fork and exec: unsafe once the harness has threads."""
    calls: list[tuple[tuple[str, ...], dict[str, object]]] = []

    class Spawned(Exception):
        pass

    async def spawn(*argv: str, **kwargs: object) -> None:
        calls.append((argv, kwargs))
        raise Spawned

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spawn)
    with pytest.raises(Spawned):
        run_async(lambda: start("http://127.0.0.1:9", tmp_path, QUICK, 1.0))
    ((argv, kwargs),) = calls
    assert "preexec_fn" not in kwargs
    assert Path(argv[0]).name == "setpriv" and argv[1:4] == ("--pdeathsig", "KILL", "--")
    assert argv[argv.index("-m") + 1] == "locust"


def test_die_with_parent_runs_the_command_as_itself() -> None:
    # The same process (pid) and the same argv: setpriv and the check both exec.
    command = ["sh", "-c", 'echo "$$ $0"', "named"]
    proc = subprocess.Popen(
        die_with_parent(command, os.getpid()), stdout=subprocess.PIPE, text=True
    )
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out.split() == [str(proc.pid), "named"]


def test_die_with_parent_refuses_to_start_once_the_parent_is_gone(tmp_path: Path) -> None:
    # A parent pid that is not our parent's stands for one that died before the death signal
    # was set: the command must not start, it would never be told.
    marker = tmp_path / "ran"
    command = ["sh", "-c", f'touch "{marker}"']
    result = subprocess.run(die_with_parent(command, 1), check=False)
    assert result.returncode == 125
    assert not marker.exists()


def test_a_command_wrapped_by_die_with_parent_dies_with_a_sigkilled_parent() -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time\n"
            "from harness.load.spawn import die_with_parent\n"
            "child = subprocess.Popen(die_with_parent(['sleep', '3600'], os.getpid()))\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(3600)\n",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] != b"sleep":
            assert time.monotonic() < deadline, "the wrapped command never started"
            time.sleep(0.01)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    assert not alive(pid)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie nobody reaped yet is dead


def test_status_file_reading(tmp_path: Path) -> None:
    path = tmp_path / "locust.status.jsonl"
    assert read_status(path) == LoadStatus()
    path.write_text(
        '{"event":"started","ts":10.0,"pid":1,"client_retries":false,"cpu_s":1.5}\n'
        '{"event":"stopping","ts":20.0}\n'
        '{"event":"stopping","ts":21.0}\n'
        '{"event":"stopped","ts":20.5,"cut_off":0,"records":9,"cpu_s":4.0}\n'
        '{"event":"stopp'
    )
    assert read_status(path) == LoadStatus(
        started_at=10.0,
        stopping_at=20.0,
        stopped_at=20.5,
        cut_off=0,
        client_retries=False,
        cpu_s=2.5,
        records=9,
    )


def test_log_tail_is_the_last_line(tmp_path: Path) -> None:
    log = tmp_path / "l.log"
    assert log_tail(log) == "(no log)"
    log.write_text("")
    assert log_tail(log) == "(empty log)"
    log.write_text("x" * 20000 + "\nTraceback\n  ...\nValueError: " + "y" * 400 + "\n\n")
    assert log_tail(log) == ("ValueError: " + "y" * 400)[:300]
