"""The load workers benchmark's own logic (bench/workers.py): nginx's config and count, the shares
and the diagnosis, the ratios, and a tiny real run that must produce figures (not meet goals)."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest

from bench import _proctree
from bench.workers import (
    INSTALL_HINT,
    PLAN,
    SMALL_BODY,
    SMALL_PATH,
    Nginx,
    Run,
    Shares,
    bench,
    diagnose,
    main,
    nginx_config,
    report,
    shares,
    stub_requests,
)
from harness.load.workers import cores

STUB_PAGE = """Active connections: 3
server accepts handled requests
 12 12 4567
Reading: 0 Writing: 1 Waiting: 2
"""


def test_nginx_config_listens_on_loopback_and_writes_only_in_its_folder(tmp_path: Path) -> None:
    conf = nginx_config(tmp_path, 8123)
    assert "listen 127.0.0.1:8123;" in conf
    assert "daemon off;" in conf and "worker_processes 1;" in conf and "access_log off;" in conf
    # Every path nginx writes (pid, logs, temp folders) and serves is in the bench's own folder.
    paths = [line.split()[1].rstrip(";") for line in conf.splitlines() if "_path " in line]
    paths += [line.split()[1].rstrip(";") for line in conf.splitlines() if "pid " in line]
    assert len(paths) == 6 and all(p.startswith(str(tmp_path)) for p in paths)
    assert f"location = {SMALL_PATH}" in conf


def test_stub_status_request_count() -> None:
    assert stub_requests(STUB_PAGE) == 4567
    with pytest.raises(ValueError, match="not a stub_status page"):
        stub_requests("<html>404</html>")


def _shares(**kw: float) -> Shares:
    base = dict(nginx=0.1, master=0.01, workers=0.4, others=0.0)
    base.update({k: v for k, v in kw.items() if k in base})
    return Shares(
        cores=2,
        nginx=base["nginx"],
        master=base["master"],
        workers=base["workers"],
        others=base["others"],
        busiest_worker_core=kw.get("worker_core", 0.5),
        nginx_core=kw.get("nginx_core", 0.2),
        master_core=kw.get("master_core", 0.02),
    )


def test_diagnosis_names_what_is_saturated() -> None:
    assert diagnose(_shares(nginx_core=0.97), 2).startswith("the target: nginx's one worker at 97%")
    assert diagnose(_shares(master_core=0.95), 2).startswith("the master: at 95% of a core")
    full = _shares(nginx=0.15, master=0.01, workers=0.8, others=0.03)
    assert diagnose(full, 2).startswith("the cores: 99% of 2 busy (nginx 15%, master 1%")
    assert diagnose(_shares(worker_core=0.99), 1).startswith(
        "the load workers: its one locust process at 99% of a core"
    )
    assert diagnose(_shares(), 2).startswith("nothing saturated")


def _run(workers: str, processes: int, record: bool, rate: float, us: float) -> Run:
    return Run(
        workers=workers,
        processes=processes,
        record=record,
        requests=int(rate * 10),
        window_s=10.0,
        nginx_cpu_s=1.5,
        master_cpu_s=0.1 if processes > 1 else 0.0,
        worker_cpu_s=(9.9,) * processes,
        machine_busy_s=19.9 if processes > 1 else 11.5,
        status_cpu_s=us * rate * 11 / 1e6,
        status_requests=int(rate * 11),
        records=int(rate * 11) if record else 0,
        record_writes=int(rate * 11 / 6) if record else 0,
    )


def test_shares_are_of_wall_time_times_cores() -> None:
    s = shares([_run("2", 2, True, 10000, 90)], 2)
    assert s.nginx == pytest.approx(0.075) and s.workers == pytest.approx(0.99)
    assert s.master == pytest.approx(0.005) and s.others == pytest.approx(0.0, abs=1e-9)
    assert s.busiest_worker_core == pytest.approx(0.99) and s.nginx_core == pytest.approx(0.15)


def test_report_gives_ratios_and_verdicts() -> None:
    by_name = {
        "1": [_run("1", 1, True, 10000, 90)],
        "2 off": [_run("2", 2, False, 20000, 85)],
        "2": [_run("2", 2, True, 18000, 93)],
        "auto": [_run("auto", 2, True, 12000, 110)],
    }
    lines = report(by_name, 2)
    assert lines[0].startswith("2 workers: req/s 1.80x 1 worker's (goal >= 1.3: pass)")
    assert "CPU per request per worker 1.03x (goal within 10%: pass)" in lines[0]
    assert lines[1].startswith("auto (= 2): req/s 1.20x 1 worker's (goal >= 1.3: FAIL)")
    assert "1.22x (goal within 10%: FAIL)" in lines[1]
    assert lines[2].startswith("recording, 2 workers: req/s on/off 0.900 (goal >= 0.95: FAIL)")
    assert lines[2].endswith("; 6.0 records per write(2)")
    assert lines[3].startswith("limit, 1 worker: the load workers")
    assert lines[4].startswith("limit, 2 workers: the cores")


def test_without_nginx_it_says_how_to_install_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--nginx", "/nonexistent/nginx"]) == 2
    err = capsys.readouterr().err
    assert err == INSTALL_HINT + "\n" and "apt-get install -y nginx-light" in err


def test_nginx_serves_the_small_file_counts_and_stops(nginx: str, tmp_path: Path) -> None:
    async def scenario() -> tuple[list[int], int, int]:
        server = Nginx(nginx, tmp_path / "nginx")
        await server.start()
        try:
            before = server.requests()
            with urllib.request.urlopen(server.url + SMALL_PATH, timeout=5) as response:
                assert response.read() == SMALL_BODY
            return server.pids(), before, server.requests()
        finally:
            await server.stop()

    pids, before, after = asyncio.run(scenario())
    assert len(pids) == 2  # the master and its one worker
    assert after == before + 2  # the file and the second status request
    assert all(_proctree.sample(pid).cpu_s is None for pid in pids)  # both gone
    assert not (tmp_path / "nginx" / "nginx.pid").exists()


@pytest.mark.slow
def test_a_tiny_run_produces_every_figure(
    nginx: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One round of 1 s runs (about 15 s in all): every kind of run has a rate, a CPU per request
    and CPU shares; the records are removed after each run."""
    by_name = asyncio.run(bench(nginx, 2, 1.0, 1, tmp_path, keep=False))
    assert list(by_name) == [name for name, _, _ in PLAN]
    for runs in by_name.values():
        (run,) = runs
        assert run.per_second > 0 and run.cpu_us_per_request > 0 and run.window_s > 0.5
        assert run.nginx_cpu_s >= 0 and len(run.worker_cpu_s) == run.processes
        if run.processes == 1:
            assert run.master_cpu_s == 0  # no master: the single process sends
        assert (run.records > 0) is run.record and run.record_writes <= run.records
    assert by_name["2 off"][0].record is False and by_name["auto"][0].processes == cores()
    out = capsys.readouterr().out
    assert "req/s" in out and "limit, 2 workers: " in out and "recording, 2 workers" in out
    assert not list(tmp_path.glob("records*"))
