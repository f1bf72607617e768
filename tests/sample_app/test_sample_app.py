"""The sample app under real signals: real processes, real sockets on loopback, what clients see.

Each test starts ``sample-app/app.py`` as its own process on a free port, keeps requests in
flight, signals it, and asserts on what the clients observed and on the app's event lines.
Timing assertions are ordering and counts, with generous bounds (the machine is shared); the one
latency bound is the spec's "readiness fails within 100 ms of SIGTERM".

Set DRAINLAB_APP_PYTHON to run the app with another interpreter (e.g. one with aiohttp 3.8).
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers.paths import REPO

APP = REPO / "sample-app" / "app.py"
APP_PYTHON = os.environ.get("DRAINLAB_APP_PYTHON", sys.executable)
HOST = "127.0.0.1"
START_TIMEOUT = 20.0  # process start on a loaded machine; only an upper bound
COMMON_FIELDS = ("ts", "event", "pod", "order", "inflight")
# The graceful order's shutdown lines, in order, after "started".
GRACEFUL_STEPS = [
    "sigterm",
    "readiness_failed",
    "listener_closed",
    "drain_started",
    "drained",
    "exit",
]


# ----- the app as a process ------------------------------------------------------------------


class AppProcess:
    """One app process; its stdout event lines are collected by a thread as they arrive."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.stderr_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sample-app-{id(self)}.err"
        self._stderr = self.stderr_path.open("w+")
        full_env = {k: v for k, v in os.environ.items() if not _is_app_var(k)}
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [APP_PYTHON, str(APP), *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=full_env,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = 0

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def events(self) -> list[dict[str, Any]]:
        with self._cond:
            return [json.loads(line) for line in self.lines]

    def names(self) -> list[str]:
        return [e["event"] for e in self.events()]

    def event(self, name: str) -> dict[str, Any]:
        found = [e for e in self.events() if e["event"] == name]
        assert len(found) == 1, f"expected one {name!r} event, got {self.names()}"
        return found[0]

    def wait_event(self, name: str, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    data = json.loads(line)
                    if data["event"] == name:
                        return dict(data)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no {name!r} event; got {self.lines}; {self.stderr()}")
                self._cond.wait(min(left, 0.2))

    def wait_started(self) -> int:
        self.port = int(self.wait_event("started")["port"])
        return self.port

    def signal(self, sig: signal.Signals) -> float:
        """Sends sig; returns the wall-clock time just before, to compare with event ts."""
        now = time.time()
        self.proc.send_signal(sig)
        return now

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()
        self.stderr_path.unlink(missing_ok=True)

    def check_lines(self) -> None:
        """Everything on stdout is an event line carrying the contract's fields."""
        for line in self.lines:
            data = json.loads(line)
            assert isinstance(data, dict), line
            for key in COMMON_FIELDS:
                assert key in data, f"{key} missing in {line}"
            assert isinstance(data["ts"], float) and isinstance(data["inflight"], int)


def _is_app_var(name: str) -> bool:
    # A developer's own settings must not leak into the app under test.
    app_vars = ("SHUTDOWN_ORDER", "SHUTDOWN_DELAY", "SHUTDOWN_STRATEGY", "QUIET_PERIOD")
    return name in (*app_vars, "DRAIN_TIMEOUT", "PORT", "HOST", "POD_NAME")


@pytest.fixture
def start_app() -> Iterator[Any]:
    started: list[AppProcess] = []

    def start(order: str, *extra: str, wait: bool = True) -> AppProcess:
        app = AppProcess(["--order", order, "--host", HOST, "--port", "0", "--pod", order, *extra])
        started.append(app)
        if wait:
            app.wait_started()
        return app

    yield start
    for app in started:
        app.close()


# ----- a small HTTP client that records what it saw --------------------------------------------


@dataclass
class Result:
    path: str
    start: float  # wall clock, comparable with the app's event ts
    end: float = 0.0
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None  # refused | cut | timeout | other:<type>

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


def _classify(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    # RemoteDisconnected is a ConnectionResetError; IncompleteRead: closed mid-body.
    if isinstance(exc, ConnectionError | http.client.IncompleteRead | http.client.BadStatusLine):
        return "cut"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return f"other:{type(exc).__name__}"


def fetch(
    port: int, path: str, conn: http.client.HTTPConnection | None = None, timeout: float = 30.0
) -> Result:
    """One GET; a new connection unless conn (kept alive by the caller) is given."""
    own = conn is None
    c = conn or http.client.HTTPConnection(HOST, port, timeout=timeout)
    result = Result(path=path, start=time.time())
    try:
        c.request("GET", path)
        resp = c.getresponse()
        result.body = resp.read()
        result.status = resp.status
        result.headers = {k.lower(): v for k, v in resp.getheaders()}
    except Exception as exc:
        result.error = _classify(exc)
    finally:
        result.end = time.time()
        if own:
            c.close()
    return result


class Load:
    """A steady stream of short requests, each on a new connection, from a few threads."""

    def __init__(self, port: int, threads: int = 2, path: str = "/work?ms=5") -> None:
        self.port, self.path = port, path
        self.results: list[Result] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            r = fetch(self.port, self.path, timeout=10)
            with self._lock:
                self.results.append(r)
            self._stop.wait(0.01)

    def stop(self) -> list[Result]:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        with self._lock:
            return list(self.results)


def start_slow(port: int, ms: int, n: int, pool: ThreadPoolExecutor) -> list[Future[Result]]:
    """Starts n slow requests and returns once the app reports them all in flight."""
    futures = [pool.submit(fetch, port, f"/work?ms={ms}") for _ in range(n)]
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        probe = fetch(port, "/", timeout=10)
        # The probe counts itself in "inflight".
        if probe.ok and json.loads(probe.body)["inflight"] >= n + 1:
            return futures
        time.sleep(0.02)
    raise AssertionError("slow requests never reached the app")


def connect_refused(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def wait_refused(port: int, timeout: float = 10.0) -> float:
    """Polls new connections until one is refused; returns that moment (wall clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if connect_refused(port):
            return time.time()
        time.sleep(0.005)
    raise AssertionError(f"new connections still accepted {timeout} s after the signal")


# ----- orders ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_naive_cuts_inflight_and_disappears(start_app: Any) -> None:
    app = start_app("naive")
    with ThreadPoolExecutor(4) as pool:
        slow = start_slow(app.port, 8000, 3, pool)
        load = Load(app.port)
        time.sleep(0.3)
        app.signal(signal.SIGTERM)
        assert app.wait() == 0
        exited = time.time()
        results = [f.result(30) for f in slow]
        time.sleep(0.2)
        fast = load.stop()

    assert all(r.error == "cut" for r in results), results
    assert connect_refused(app.port)
    after_exit = [r for r in fast if r.start > exited]
    assert after_exit and all(r.error == "refused" for r in after_exit), after_exit
    assert app.names() == ["started", "sigterm", "exit"]
    assert app.event("sigterm")["inflight"] >= 3
    assert app.event("exit")["code"] == 0
    app.check_lines()


@pytest.mark.slow
@pytest.mark.parametrize("order", ["close-first", "prestop"])
def test_close_first_refuses_new_and_drains_inflight(start_app: Any, order: str) -> None:
    app = start_app(order)
    with ThreadPoolExecutor(4) as pool:
        slow = start_slow(app.port, 2500, 3, pool)
        load = Load(app.port)
        time.sleep(0.3)
        sent = app.signal(signal.SIGTERM)
        refused_at = wait_refused(app.port)
        results = [f.result(30) for f in slow]
        code = app.wait()
        fast = load.stop()

    assert all(r.ok for r in results), results
    # The listener went away while the in-flight work was still running.
    assert refused_at < min(r.end for r in results)
    assert code == 0, app.stderr()
    assert not [r for r in fast if r.end < sent and not r.ok]
    assert not [r for r in fast if r.start > refused_at and r.error != "refused"]
    assert app.names() == [
        "started",
        "sigterm",
        "listener_closed",
        "drain_started",
        "drained",
        "exit",
    ]
    assert app.event("sigterm")["inflight"] >= 3
    assert app.event("listener_closed")["reason"] == "immediate"
    assert app.event("drained")["timed_out"] is False
    app.check_lines()


def _open_idle_keepalive(port: int) -> socket.socket:
    """A raw connection that made one keep-alive request and now sits idle."""
    sock = socket.create_connection((HOST, port), timeout=30)
    sock.sendall(b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" not in head.lower()
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))[15:]
    )
    while len(body) < length:
        body += sock.recv(4096)
    return sock


def _wait_closed_by_server(sock: socket.socket) -> float:
    # A FIN (b"") or a reset both mean the server closed the idle connection.
    with contextlib.suppress(ConnectionResetError):
        assert sock.recv(4096) == b""
    return time.time()


@pytest.mark.slow
def test_graceful_keeps_serving_then_drains(start_app: Any) -> None:
    delay = 2.5
    app = start_app("graceful", "--delay", str(delay), "--drain-timeout", "20")
    port = app.port
    poll = http.client.HTTPConnection(HOST, port, timeout=10)
    assert fetch(port, "/readyz", poll).status == 200
    idle = _open_idle_keepalive(port)
    keepalive = http.client.HTTPConnection(HOST, port, timeout=30)
    assert fetch(port, "/", keepalive).ok
    with ThreadPoolExecutor(6) as pool:
        idle_closed = pool.submit(_wait_closed_by_server, idle)
        slow = start_slow(port, 4000, 3, pool)
        # A slow request on a keep-alive connection: its answer comes during the drain.
        slow_keepalive = pool.submit(fetch, port, "/work?ms=3500", keepalive)
        load = Load(port)
        time.sleep(0.3)

        sent = app.signal(signal.SIGTERM)
        t0 = time.monotonic()
        while (r := fetch(port, "/readyz", poll)).status != 503:
            assert r.status == 200 and time.monotonic() - t0 < 5, r
        readiness_s = time.monotonic() - t0
        probes = [fetch(port, "/", timeout=10) for _ in range(5)]
        closed = app.wait_event("listener_closed", timeout=30)
        refused_at = wait_refused(port)
        code = app.wait()
        fast = load.stop()
        results = [f.result(30) for f in slow]
        ka = slow_keepalive.result(30)
        idle_closed_at = idle_closed.result(30)
    for c in (poll, keepalive, idle):
        c.close()

    assert readiness_s <= 0.1, f"readiness failed {readiness_s * 1000:.0f} ms after SIGTERM"
    assert all(p.ok and p.headers["x-served-by"] == "graceful" for p in probes), probes
    # From SIGTERM on every answer asks keep-alive clients to reconnect (through the Service).
    assert all(p.headers.get("connection", "").lower() == "close" for p in probes), probes
    assert all(p.end < closed["ts"] for p in probes)
    during_delay = [r for r in fast if sent < r.start and r.end < closed["ts"]]
    assert len(during_delay) >= 3 and all(r.ok for r in during_delay), during_delay
    assert refused_at >= closed["ts"]
    assert all(r.ok for r in results), results
    assert ka.ok and ka.headers.get("connection", "").lower() == "close", ka
    assert idle_closed_at >= closed["ts"]
    assert code == 0, app.stderr()

    assert app.names() == ["started", *GRACEFUL_STEPS]
    assert closed["reason"] == "delay"
    assert closed["ts"] - app.event("sigterm")["ts"] >= delay * 0.95
    assert app.event("sigterm")["inflight"] >= 3
    assert app.event("drain_started")["idle_closed"] >= 1
    assert app.event("drained")["timed_out"] is False
    assert app.event("exit")["code"] == 0
    app.check_lines()


@pytest.mark.slow
def test_graceful_quiet_ends_wait_when_connections_stop(start_app: Any) -> None:
    quiet, busy_for = 1.5, 2.0
    app = start_app(
        "graceful", "--strategy", "quiet", "--quiet-period", str(quiet), "--delay", "30"
    )
    app.signal(signal.SIGTERM)
    app.wait_event("readiness_failed")
    # New connections keep arriving for a while after SIGTERM; each one restarts the quiet period.
    end = time.monotonic() + busy_for
    served = []
    while time.monotonic() < end:
        served.append(fetch(app.port, "/", timeout=10))
        time.sleep(0.1)
    assert app.wait(timeout=30) == 0, app.stderr()

    assert served and all(r.ok for r in served), served
    closed = app.event("listener_closed")
    assert closed["reason"] == "quiet"
    assert closed["ts"] >= served[-1].end  # it waited past the last new connection
    assert busy_for <= closed["waited_s"] < 20  # ended by quiet, long before the 30 s bound
    assert closed["new_connections"] >= len(served)
    app.check_lines()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("order", "stage_event", "second", "stage"),
    [
        ("graceful", "readiness_failed", signal.SIGTERM, "propagating"),
        ("close-first", "drain_started", signal.SIGINT, "draining"),
    ],
)
def test_second_signal_exits_at_once(
    start_app: Any, order: str, stage_event: str, second: signal.Signals, stage: str
) -> None:
    app = start_app(order, "--delay", "60", "--drain-timeout", "60")
    with ThreadPoolExecutor(2) as pool:
        slow = start_slow(app.port, 30000, 1, pool)
        app.signal(signal.SIGTERM)
        app.wait_event(stage_event)
        app.signal(second)
        code = app.wait(timeout=15)  # far below the 60 s waits it skips
        cut = slow[0].result(30)

    assert code == 128 + int(second)
    assert cut.error == "cut"
    forced = app.event("forced")
    assert forced["signal"] == second.name and forced["stage"] == stage
    assert app.names()[-2:] == ["forced", "exit"]
    exit_event = app.event("exit")
    assert exit_event["code"] == 128 + int(second) and exit_event["forced"] is True
    assert "drained" not in app.names()
    app.check_lines()


def test_sigint_first_behaves_like_sigterm(start_app: Any) -> None:
    app = start_app("graceful", "--delay", "0.2")
    app.signal(signal.SIGINT)
    assert app.wait() == 0, app.stderr()
    assert app.event("sigterm")["signal"] == "SIGINT"
    assert app.names()[1:] == GRACEFUL_STEPS


def test_drain_timeout_cuts_and_exits_1(start_app: Any) -> None:
    app = start_app("close-first", "--drain-timeout", "0.5")
    with ThreadPoolExecutor(2) as pool:
        slow = start_slow(app.port, 20000, 1, pool)
        app.signal(signal.SIGTERM)
        code = app.wait(timeout=15)
        cut = slow[0].result(30)
    assert code == 1
    assert cut.error == "cut"
    drained = app.event("drained")
    assert drained["timed_out"] is True and drained["inflight"] == 1
    assert app.event("exit")["code"] == 1


# ----- routes and settings -------------------------------------------------------------------


def test_routes_and_bad_work_input(start_app: Any) -> None:
    app = start_app("graceful", "--delay", "0")
    port = app.port
    index = fetch(port, "/")
    assert index.ok and json.loads(index.body)["pod"] == "graceful"
    assert json.loads(index.body)["order"] == "graceful"
    assert fetch(port, "/livez").ok and fetch(port, "/readyz").ok
    assert fetch(port, "/work?ms=0").ok and fetch(port, "/work").ok
    assert json.loads(fetch(port, "/work?ms=30").body)["ms"] == 30
    for bad in ("abc", "-1", "30001", "1.5", "", "1e3", "99999999999", "%00", "nan"):
        r = fetch(port, f"/work?ms={bad}")
        assert r.status == 400, (bad, r)
        assert r.headers["x-served-by"] == "graceful"
        assert b"\n" not in r.body.strip() and b"ms must be" in r.body
    missing = fetch(port, "/nope")
    assert missing.status == 404 and missing.headers["x-served-by"] == "graceful"
    app.proc.terminate()
    assert app.wait() == 0
    app.check_lines()


def test_settings_from_env() -> None:
    env = {"SHUTDOWN_ORDER": "close-first", "PORT": "0", "HOST": HOST, "POD_NAME": "envpod"}
    env |= {"DRAIN_TIMEOUT": "7", "SHUTDOWN_DELAY": "3", "SHUTDOWN_STRATEGY": "quiet"}
    app = AppProcess([], env=env)
    try:
        port = app.wait_started()
        started = app.event("started")
        assert (started["order"], started["pod"], started["host"]) == (
            "close-first",
            "envpod",
            HOST,
        )
        assert (started["drain_timeout"], started["shutdown_delay"]) == (7.0, 3.0)
        assert started["strategy"] == "quiet"
        assert fetch(port, "/").headers["x-served-by"] == "envpod"
    finally:
        app.close()


def _load_app_module() -> Any:
    # sample-app is not a package (its name has a dash): load app.py by path, once.
    spec = importlib.util.spec_from_file_location("drainlab_sample_app", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


sample_app = _load_app_module()
BASE = ["--host", HOST, "--port", "0"]


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--order", "bogus", *BASE], {}, "--order"),
        (BASE, {}, "no shutdown order"),
        (BASE, {"SHUTDOWN_ORDER": "drain-ish"}, "SHUTDOWN_ORDER"),
        (["--order", "graceful", "--host", HOST, "--port", "70000"], {}, "--port"),
        (["--order", "graceful", "--host", HOST], {"PORT": "http"}, "PORT"),
        (["--order", "graceful", "--host", "", "--port", "0"], {}, "--host"),
        (["--order", "graceful", *BASE], {"SHUTDOWN_DELAY": "-1"}, "SHUTDOWN_DELAY"),
        (["--order", "graceful", *BASE, "--delay", "soon"], {}, "--delay"),
        (["--order", "graceful", *BASE], {"QUIET_PERIOD": "nan"}, "QUIET_PERIOD"),
        (["--order", "graceful", *BASE], {"DRAIN_TIMEOUT": "inf"}, "DRAIN_TIMEOUT"),
        (["--order", "graceful", *BASE], {"SHUTDOWN_STRATEGY": "loud"}, "SHUTDOWN_STRATEGY"),
        (["--order", "graceful", *BASE, "--bogus-flag"], {}, "--bogus-flag"),
        (["--order", "graceful", *BASE, "--port"], {}, "--port"),
    ],
)
def test_bad_settings_one_line_exit_2(
    args: list[str],
    env: dict[str, str],
    needle: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In-process: main() returns before it starts any server when a setting is bad.
    for name in [k for k in os.environ if _is_app_var(k)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert sample_app.main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err


def test_flags_win_over_env() -> None:
    env = {"SHUTDOWN_ORDER": "bogus", "SHUTDOWN_DELAY": "-5", "PORT": "x", "POD_NAME": "env"}
    settings = sample_app.parse_settings(["--order", "naive", "--delay", "2", "--port", "9"], env)
    assert (settings.order, settings.shutdown_delay, settings.port) == ("naive", 2.0, 9)
    assert settings.pod == "env" and settings.host == "0.0.0.0"
    defaults = sample_app.parse_settings(["--order", "prestop"], {})
    assert (defaults.port, defaults.shutdown_delay, defaults.strategy) == (8080, 5.0, "fixed")
    assert (defaults.quiet_period, defaults.drain_timeout) == (1.0, 20.0)


def _run_bad(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    full_env = {k: v for k, v in os.environ.items() if not _is_app_var(k)}
    full_env.update(env or {})
    proc = subprocess.run(
        [APP_PYTHON, str(APP), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--order", "graceful", *BASE], {"DRAIN_TIMEOUT": "-1"}, "DRAIN_TIMEOUT"),
        (["--order", "graceful", *BASE, "--bogus-flag"], {}, "--bogus-flag"),
    ],
)
def test_bad_settings_process_exits_2(args: list[str], env: dict[str, str], needle: str) -> None:
    code, out, err = _run_bad(args, env)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err and "Traceback" not in err


def test_port_in_use_is_one_line_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = _run_bad(["--order", "naive", "--host", HOST, "--port", str(port)])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "cannot listen" in err, err
