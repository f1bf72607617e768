"""Load workers (traffic.workers, issue 20): requests/s with 1, 2 and auto locust workers, the CPU
each request costs a worker, what recording costs with 2 workers, and what limits the rate.

    python -m bench.workers [--seconds 10] [--rounds 3] [--users 8]

The target costs little per request, so that the load generator is what is measured: Debian's
nginx, started here with a config of its own in a temporary folder, serving a small static file
on 127.0.0.1. Users send ``GET /small.txt`` back to back (no think time, keep-alive), as in
bench/recording.py. Each round runs, one after another: 1 worker (the single locust process of
before, no master), 2 workers recording off, 2 workers recording on, and ``auto`` (one worker per
core: on a 2-core machine the same as 2, so it also shows how far two identical runs differ).
Recording off and on alternate within every round, so drift hits both alike.

- req/s: nginx's own request count (stub_status) over the run's steady part, the run less its
  first and last tenth (at most a second each): locust's start, and the distributed run's end
  (the master asks each worker to stop and waits for its last report), are not sending time.
- CPU per request per worker: the workers' own CPU seconds (their status: test_start to stopped)
  over the requests locust counted for them; for 1 worker the single process's.
- Shares: the CPU of nginx (master and worker), of the locust master and of the workers
  (/proc/<pid>/stat) over the same steady part, as shares of its wall time x cores; "others" is
  the rest of the machine's busy time (/proc/stat): other people's work on a shared machine.

--users is per worker (default 8), so each worker process has the same concurrency whatever the
worker count: its CPU per request compares like with like, and 8 connections keep one locust
process busy against a server that answers on loopback in tens of microseconds (fewer leave it
waiting on the network; more only queue). Goals are printed beside the figures, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import grp
import os
import pwd
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import _proctree
from bench._common import HOST, free_port
from harness.load.mix import Request
from harness.load.runner import LoadRun, start_load
from harness.load.spawn import die_with_parent
from harness.load.traffic import Traffic
from harness.load.workers import AUTO, cores, worker_count
from harness.runfolder import worker_file

INSTALL_HINT = (
    "bench.workers: nginx not found; install it with `apt-get install -y nginx-light` "
    "(or `nginx`), or pass --nginx PATH"
)
SMALL_PATH = "/small.txt"
SMALL_BODY = b"drainlab bench: a small static file\n"
STATUS_PATH = "/nginx_status"
# Goals of issue 20, printed beside the figures.
GOAL_SCALING = 1.3  # 2 workers' req/s over 1 worker's, at least
GOAL_CPU_SPREAD = 0.10  # CPU per request per worker within 10 % of 1 worker's
GOAL_RECORDING = 0.95  # req/s with recording over without, at least
SATURATED = 0.9  # a process at 90 % of a core (or the machine at 90 % of all) is the limit

_NGINX_CONF = """\
daemon off;
master_process on;
# One worker: a small static file costs nginx about 10-15 us of CPU, so one core of nginx
# outruns several locust processes (each about 90 us per request); a second nginx worker would
# only take CPU from the load workers on a 2-core machine, and one worker is at most one core, so
# "nginx at 100 % of a core" says plainly that the target is the limit.
worker_processes 1;
{user}error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type text/plain;
    # nginx closes a keep-alive connection after 1000 requests by default: locust would open a
    # new one every 1000 requests, which is not the keep-alive traffic measured here.
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {host}:{port};
        root {prefix}/html;
        location = {small} {{ }}
        location = {status} {{ stub_status; }}
    }}
}}
"""


def find_nginx(given: str | None = None) -> str | None:
    """The nginx binary: ``given``, else on PATH, else Debian's /usr/sbin (not on a non-root
    user's PATH)."""
    if given:
        return given if os.access(given, os.X_OK) else None
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def nginx_config(prefix: Path, port: int) -> str:
    """nginx's config for the bench: everything it writes under ``prefix``, loopback only."""
    user = ""
    if os.geteuid() == 0:
        # A root master hands its workers to "nobody", who cannot read a 0700 temporary folder.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n"
    return _NGINX_CONF.format(
        user=user, prefix=prefix, host=HOST, port=port, small=SMALL_PATH, status=STATUS_PATH
    )


def stub_requests(text: str) -> int:
    """The request count in nginx's stub_status page (the third number of its third line)."""
    match = re.search(r"server accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)", text)
    if match is None:
        raise ValueError(f"not a stub_status page: {text[:200]!r}")
    return int(match.group(3))


class Nginx:
    """nginx in the foreground, a child of this process (it dies with it), on a free port."""

    def __init__(self, binary: str, prefix: Path) -> None:
        self.binary = binary
        self.prefix = prefix
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, timeout_s: float = 10.0) -> None:
        (self.prefix / "html").mkdir(parents=True, exist_ok=True)
        (self.prefix / "html" / SMALL_PATH.lstrip("/")).write_bytes(SMALL_BODY)
        conf = self.prefix / "nginx.conf"
        conf.write_text(nginx_config(self.prefix, self.port))
        # -e: the error log before the config is read (the default is a system path).
        argv = [self.binary, "-p", str(self.prefix), "-c", str(conf)]
        argv += ["-e", str(self.prefix / "error.log")]
        with (self.prefix / "stderr.log").open("wb") as stderr:
            self._process = await asyncio.create_subprocess_exec(
                *die_with_parent(argv, os.getpid()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.requests()
                return
            except OSError:
                if self._process.returncode is not None or time.monotonic() > deadline:
                    await self.stop()
                    raise RuntimeError(f"nginx did not start: {self._log_tail()}") from None
                await asyncio.sleep(0.05)

    def requests(self) -> int:
        """Requests nginx answered so far, this status request included. Blocking, but a loopback
        request of a millisecond or so: the event loop only watches the locust processes."""
        with urllib.request.urlopen(self.url + STATUS_PATH, timeout=5) as response:
            return stub_requests(response.read().decode())

    def pids(self) -> list[int]:
        """The master and its workers."""
        if self._process is None:
            return []
        return [self._process.pid, *_proctree.descendants(self._process.pid)]

    async def stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)  # nginx's fast shutdown: the workers go too
        try:
            await asyncio.wait_for(process.wait(), 10)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()

    def _log_tail(self) -> str:
        lines: list[str] = []
        for name in ("stderr.log", "error.log"):
            path = self.prefix / name
            if path.exists():
                lines += path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no output"


@dataclass(frozen=True)
class Run:
    """One load run: its steady part's figures, and what the workers said at the end."""

    workers: str  # as traffic.workers says it: "1", "2", "auto"
    processes: int  # worker processes
    record: bool
    requests: int  # nginx's count over the steady part
    window_s: float  # the steady part's wall time
    nginx_cpu_s: float
    master_cpu_s: float  # 0 with one worker: there is no master
    worker_cpu_s: tuple[float, ...]  # each worker over the steady part (/proc)
    machine_busy_s: float  # every core's busy time over the steady part (/proc/stat)
    status_cpu_s: float  # the workers' own CPU, test_start to stopped (their status)
    status_requests: int  # locust's count of the workers' requests
    records: int = 0  # record lines the workers wrote (0 with recording off)
    record_writes: int = 0  # the write(2) calls that took them

    @property
    def per_second(self) -> float:
        return self.requests / self.window_s

    @property
    def cpu_us_per_request(self) -> float:
        """CPU per request in a worker: the workers' CPU over their requests."""
        return 1e6 * self.status_cpu_s / self.status_requests


@dataclass(frozen=True)
class Shares:
    """CPU as shares of wall time x cores (and, for the diagnosis, of one core)."""

    cores: int
    nginx: float
    master: float
    workers: float
    others: float
    busiest_worker_core: float  # the busiest worker's share of one core
    nginx_core: float  # nginx's share of one core (it has one worker process)
    master_core: float

    @property
    def machine(self) -> float:
        return self.nginx + self.master + self.workers + self.others


def shares(runs: Sequence[Run], cores_: int) -> Shares:
    """The runs' CPU shares over their steady parts added up."""
    wall = sum(r.window_s for r in runs)
    capacity = wall * cores_
    nginx = sum(r.nginx_cpu_s for r in runs)
    master = sum(r.master_cpu_s for r in runs)
    workers = sum(sum(r.worker_cpu_s) for r in runs)
    busy = sum(r.machine_busy_s for r in runs)
    per_worker = [sum(r.worker_cpu_s[k] for r in runs) for k in range(runs[0].processes)]
    return Shares(
        cores=cores_,
        nginx=nginx / capacity,
        master=master / capacity,
        workers=workers / capacity,
        others=max(0.0, busy - nginx - master - workers) / capacity,
        busiest_worker_core=max(per_worker) / wall,
        nginx_core=nginx / wall,
        master_core=master / wall,
    )


def diagnose(s: Shares, processes: int) -> str:
    """What limits the rate, in one line: the target, the master, the cores or the workers."""
    split = (
        f"nginx {s.nginx:.0%}, master {s.master:.0%}, workers {s.workers:.0%}, "
        f"others {s.others:.0%} of {s.cores} cores"
    )
    if s.nginx_core >= SATURATED:
        return f"the target: nginx's one worker at {s.nginx_core:.0%} of a core ({split})"
    if s.master_core >= SATURATED:
        return f"the master: at {s.master_core:.0%} of a core ({split})"
    if s.machine >= SATURATED:
        return f"the cores: {s.machine:.0%} of {s.cores} busy ({split})"
    if s.busiest_worker_core >= SATURATED:
        what = "its one locust process" if processes == 1 else "each locust worker"
        return f"the load workers: {what} at {s.busiest_worker_core:.0%} of a core ({split})"
    return f"nothing saturated: too few users for the target's latency? ({split})"


def _machine_busy_s() -> float:
    """Busy CPU seconds of all cores since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _cpu_of(pids: Iterable[int | None]) -> list[float]:
    return [(_proctree.sample(p).cpu_s or 0.0) if p is not None else 0.0 for p in pids]


@dataclass
class _Snapshot:
    at: float
    requests: int
    nginx: float
    master: float
    workers: list[float] = field(default_factory=list)
    machine: float = 0.0


def _snapshot(nginx: Nginx, run: LoadRun, distributed: bool) -> _Snapshot:
    workers = run.worker_pids if distributed else [run.pid]
    return _Snapshot(
        at=time.monotonic(),
        requests=nginx.requests(),
        nginx=sum(_cpu_of(nginx.pids())),
        master=_cpu_of([run.pid])[0] if distributed else 0.0,
        workers=_cpu_of(workers),
        machine=_machine_busy_s(),
    )


def traffic_for(workers: str, users_per_worker: int) -> Traffic:
    """``GET /small.txt`` back to back, keep-alive, ``users_per_worker`` users in each worker."""
    return Traffic(
        users=users_per_worker * worker_count(workers),
        spawn_rate=1000,  # all users at once: the steady part starts within milliseconds
        requests=[Request(path=SMALL_PATH)],
        wait_min_s=0,
        wait_max_s=0,
        workers=workers,
    )


async def measure(
    nginx: Nginx,
    workers: str,
    record: bool,
    users_per_worker: int,
    seconds: float,
    workdir: Path,
    keep: bool = False,
) -> Run:
    """One load run of ``seconds`` against ``nginx``."""
    processes = worker_count(workers)
    distributed = processes > 1
    tag = f"w{workers}-{'on' if record else 'off'}"
    records = workdir / f"records-{tag}.jsonl"
    traffic = traffic_for(workers, users_per_worker)
    run = await start_load(
        nginx.url, traffic, seconds, records, 1, workdir / f"locust-{tag}.log", record=record
    )
    try:
        started = run.status().started_at or time.time()
        edge = min(1.0, seconds / 10)
        await asyncio.sleep(max(0.0, started + edge - time.time()))
        first = _snapshot(nginx, run, distributed)
        await asyncio.sleep(max(0.0, started + seconds - edge - time.time()))
        last = _snapshot(nginx, run, distributed)
        await run.wait()
    except BaseException:
        await run.stop(grace_s=2.0)
        raise
    status = run.status()
    if distributed:
        parts = status.workers
        cpu = [w.cpu_s for w in parts]
        counted = [w.locust_requests for w in parts]
    else:
        cpu, counted = [status.cpu_s], [status.locust_requests]
    if any(c is None for c in cpu) or any(n is None for n in counted) or not all(counted):
        raise RuntimeError(f"locust left no complete status; see {run.log_path}")
    if not keep:  # a 10 s run records tens of megabytes
        for number in range(processes if distributed else 0):
            worker_file(records, number).unlink(missing_ok=True)
        records.unlink(missing_ok=True)
    return Run(
        workers=workers,
        processes=processes,
        record=record,
        requests=last.requests - first.requests - 1,  # less the second status request
        window_s=last.at - first.at,
        nginx_cpu_s=last.nginx - first.nginx,
        master_cpu_s=last.master - first.master,
        worker_cpu_s=tuple(b - a for a, b in zip(first.workers, last.workers, strict=True)),
        machine_busy_s=last.machine - first.machine,
        status_cpu_s=sum(c or 0.0 for c in cpu),
        status_requests=sum(n or 0 for n in counted),
        records=status.records or 0,
        record_writes=status.record_writes or 0,
    )


# The runs of a round, in order: recording off and on side by side with 2 workers.
PLAN: tuple[tuple[str, str, bool], ...] = (
    ("1", "1", True),
    ("2 off", "2", False),
    ("2", "2", True),
    (AUTO, AUTO, True),
)


def total(runs: Sequence[Run]) -> Run:
    """Several runs of one kind as one: counts and seconds added up."""
    first = runs[0]
    return Run(
        workers=first.workers,
        processes=first.processes,
        record=first.record,
        requests=sum(r.requests for r in runs),
        window_s=sum(r.window_s for r in runs),
        nginx_cpu_s=sum(r.nginx_cpu_s for r in runs),
        master_cpu_s=sum(r.master_cpu_s for r in runs),
        worker_cpu_s=tuple(
            sum(r.worker_cpu_s[k] for r in runs) for k in range(len(first.worker_cpu_s))
        ),
        machine_busy_s=sum(r.machine_busy_s for r in runs),
        status_cpu_s=sum(r.status_cpu_s for r in runs),
        status_requests=sum(r.status_requests for r in runs),
        records=sum(r.records for r in runs),
        record_writes=sum(r.record_writes for r in runs),
    )


HEADER = (
    f"{'round':>5} {'run':>6} {'procs':>5} {'req/s':>7} {'us/req':>6} {'nginx':>6}"
    f" {'master':>6} {'workers':>7} {'others':>6}  limit"
)


def row(label: str, name: str, run: Run, cores_: int) -> str:
    s = shares([run], cores_)
    limit = diagnose(s, run.processes).split(":")[0]
    return (
        f"{label:>5} {name:>6} {run.processes:>5} {run.per_second:>7.0f}"
        f" {run.cpu_us_per_request:>6.1f} {s.nginx:>6.0%} {s.master:>6.0%}"
        f" {s.workers:>7.0%} {s.others:>6.0%}  {limit}"
    )


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def report(by_name: dict[str, list[Run]], cores_: int) -> list[str]:
    """The ratios against the goals and the diagnosis, one line each."""
    one, two, off = total(by_name["1"]), total(by_name["2"]), total(by_name["2 off"])
    auto = total(by_name[AUTO])
    lines = []
    for name, run in (("2 workers", two), (f"auto (= {auto.processes})", auto)):
        rate = run.per_second / one.per_second
        cpu = run.cpu_us_per_request / one.cpu_us_per_request
        lines.append(
            f"{name}: req/s {rate:.2f}x 1 worker's (goal >= {GOAL_SCALING}: "
            f"{_verdict(rate >= GOAL_SCALING)}); CPU per request per worker {cpu:.2f}x "
            f"(goal within {GOAL_CPU_SPREAD:.0%}: {_verdict(abs(cpu - 1) <= GOAL_CPU_SPREAD)})"
        )
    rounds = " ".join(
        f"{b.per_second / a.per_second:.3f}"
        for a, b in zip(by_name["2 off"], by_name["2"], strict=True)
    )
    recording = two.per_second / off.per_second
    lines.append(
        f"recording, 2 workers: req/s on/off {recording:.3f} (goal >= {GOAL_RECORDING}: "
        f"{_verdict(recording >= GOAL_RECORDING)}); by round {rounds}; CPU per request "
        f"off/on {off.cpu_us_per_request / two.cpu_us_per_request:.3f}; "
        f"{two.records / max(two.record_writes, 1):.1f} records per write(2)"
    )
    for label, name in (("1 worker", "1"), ("2 workers", "2")):
        runs = by_name[name]
        lines.append(f"limit, {label}: {diagnose(shares(runs, cores_), runs[0].processes)}")
    return lines


async def bench(
    binary: str, users_per_worker: int, seconds: float, rounds: int, workdir: Path, keep: bool
) -> dict[str, list[Run]]:
    """Every round's runs, printed as they end, then the totals and the ratios; returns the runs."""
    nginx = Nginx(binary, workdir / "nginx")
    await nginx.start()
    by_name: dict[str, list[Run]] = {name: [] for name, _, _ in PLAN}
    n = cores()
    try:
        print(
            f"nginx ({binary}, 1 worker process) serving {SMALL_PATH} ({len(SMALL_BODY)} bytes) "
            f"at {nginx.url}; {n} cores, so auto = {worker_count(AUTO)} workers; "
            f"{users_per_worker} users per worker; {seconds:g} s per run, {rounds} round(s)",
            flush=True,
        )
        print(
            "req/s: nginx's count over the run less its first and last tenth; us/req: a worker's "
            "CPU per request; nginx..others: CPU as shares of that time x cores",
            flush=True,
        )
        print(HEADER, flush=True)
        for number in range(1, rounds + 1):
            for name, workers, record in PLAN:
                run = await measure(
                    nginx, workers, record, users_per_worker, seconds, workdir, keep
                )
                by_name[name].append(run)
                print(row(str(number), name, run, n), flush=True)
        if rounds > 1:
            for name, _, _ in PLAN:
                print(row("all", name, total(by_name[name]), n), flush=True)
        for line in report(by_name, n):
            print(line, flush=True)
    finally:
        await nginx.stop()
    return by_name


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the 4 runs (default 3)")
    parser.add_argument("--users", type=int, default=8, help="users per worker process (default 8)")
    parser.add_argument("--nginx", help="the nginx binary (default: nginx on PATH, /usr/sbin)")
    parser.add_argument("--keep", type=Path, help="keep nginx's folder, records and logs here")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1 or args.users < 1:
        parser.error("--seconds, --rounds and --users must be positive")
    binary = find_nginx(args.nginx)
    if binary is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    print(f"load average before: {_loadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="drainlab-bench-") as tmp:
        # Absolute: locust runs in the logs folder, so a relative path would mean another place.
        workdir = Path(os.path.abspath(args.keep)) if args.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        asyncio.run(bench(binary, args.users, args.seconds, args.rounds, workdir, bool(args.keep)))
    print(f"load average after: {_loadavg()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
