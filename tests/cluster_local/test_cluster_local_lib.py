"""cluster-local/lib.sh's daemon helpers, on real processes, without a cluster.

``start_daemon`` must not return before its program runs: until the exec is done the recorded
pid is a forked shell, and ``wait_for`` would take that for the component having exited (seen
in a clean-clone CI run: "kubelet exited while waiting for kubelet health" while the kubelet ran
on). strace makes the exec slow on purpose, so the test meets that window every time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.aptget import apt_install
from helpers.paths import REPO

LIB = REPO / "cluster-local" / "lib.sh"
EXEC_DELAY_US = 500_000

# Starts "$@" as daemon $NAME; prints how long start_daemon took, then whether the daemon counts
# as alive right after it.
START_AND_PROBE = r"""
source "$LIB"
t0=$EPOCHREALTIME
start_daemon "$NAME" "$@"
echo "$t0 $EPOCHREALTIME"
if pid_alive "$NAME"; then echo alive; else echo "not alive"; fi
stop_daemon "$NAME" 2
"""


@pytest.fixture(scope="module")
def strace() -> str:
    found = shutil.which("strace")
    if found is None:
        why = apt_install("strace")
        found = shutil.which("strace")
        if found is None:
            pytest.skip(f"strace is not installed and could not be installed: {why}")
    return found


def start_and_probe(
    state: Path, name: str, program: str, args: list[str], prefix: tuple[str, ...] = ()
) -> tuple[float, str]:
    """Seconds start_daemon took, and "alive" or "not alive" right after it returned."""
    env = {
        **os.environ,
        "DRAINLAB_STATE": str(state),
        "LIB": str(LIB),
        "NAME": name,
    }
    done = subprocess.run(
        [*prefix, "bash", "-c", START_AND_PROBE, "start-and-probe", program, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    times, alive = done.stdout.splitlines()[-2:]
    t0, t1 = (float(t) for t in times.split())
    return t1 - t0, alive


def test_a_daemon_whose_exec_is_slow_counts_as_alive_once_started(
    tmp_path: Path, strace: str
) -> None:
    program = tmp_path / "slowprog"  # pid_alive checks the program's name
    shutil.copy("/usr/bin/sleep", program)
    slow_exec = (
        strace, "-f", "-qq", "-o", "/dev/null", "-P", str(program),
        "-e", "trace=execve", "-e", f"inject=execve:delay_enter={EXEC_DELAY_US}",
    )  # fmt: skip
    took_s, alive = start_and_probe(
        tmp_path / "drainlab-state", "slowprog", str(program), ["30"], slow_exec
    )
    assert alive == "alive"
    assert took_s >= EXEC_DELAY_US / 1e6 * 0.9  # and the exec really was slow


def test_a_daemon_that_cannot_start_is_not_waited_for(tmp_path: Path) -> None:
    took_s, alive = start_and_probe(
        tmp_path / "drainlab-state", "nothere", str(tmp_path / "nothere"), []
    )
    assert took_s < 10  # the 30 s bound is for a slow exec, not a failed one
    assert alive == "not alive"


def test_relative_state_and_cache_paths_mean_the_callers_folder(tmp_path: Path) -> None:
    """The scripts start daemons in other folders: a relative DRAINLAB_* path is made absolute
    against the folder the user typed the command in, once, in lib.sh."""
    settings = {
        "DRAINLAB_STATE": "drainlab-st",
        "DRAINLAB_CACHE": "../drainlab-ca",
        "DRAINLAB_RUN": "r/drainlab-un",
    }
    done = subprocess.run(
        ["bash", "-c", 'source "$LIB"; echo "$DL_STATE"; echo "$DL_CACHE"; echo "$DL_RUN"'],
        cwd=tmp_path,
        env={**os.environ, "LIB": str(LIB), **settings},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        str(tmp_path / "drainlab-st"),
        str(tmp_path.parent / "drainlab-ca"),
        str(tmp_path / "r" / "drainlab-un"),
    ]


def _lib(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f'source "$LIB"; {script}'],
        env={**os.environ, "LIB": str(LIB), "DRAINLAB_STATE": str(tmp_path / "drainlab-st"), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("period", ["", "default", "500ms", "3s", "1m"])
def test_a_proxy_min_sync_period_that_kube_proxy_takes_is_accepted(
    tmp_path: Path, period: str
) -> None:
    done = _lib("proxy_period_wanted", tmp_path, DRAINLAB_PROXY_MIN_SYNC_PERIOD=period)
    assert done.returncode == 0, done.stderr
    assert done.stdout == period + "\n"


@pytest.mark.parametrize("period", ["3", "3 s", "-1s", "1h", "fast", "3s;reboot"])
def test_a_malformed_proxy_min_sync_period_ends_the_script_with_one_line(
    tmp_path: Path, period: str
) -> None:
    done = _lib(
        "proxy_period_wanted; echo went on", tmp_path, DRAINLAB_PROXY_MIN_SYNC_PERIOD=period
    )
    assert done.returncode != 0
    assert "went on" not in done.stdout
    assert done.stderr.strip().splitlines() == [
        "drainlab-local: error: DRAINLAB_PROXY_MIN_SYNC_PERIOD must be a duration like 500ms, "
        f"3s or 1m, or default (got '{period}')"
    ]


@pytest.mark.parametrize(
    ("args", "period"),
    [(["--v=1"], "default"), (["--iptables-min-sync-period", "3s", "--v=1"], "3s")],
)
def test_the_running_proxy_s_period_is_read_from_its_command_line(
    tmp_path: Path, args: list[str], period: str
) -> None:
    # A stand-in "kube-proxy": a shell that keeps its arguments (": " stops bash from exec-ing
    # sleep in its place, which would replace the command line).
    proc = subprocess.Popen(["bash", "-c", "sleep 30; :", "kube-proxy", *args])
    try:
        pids = tmp_path / "drainlab-st" / "pids"
        pids.mkdir(parents=True)
        (pids / "kube-proxy.pid").write_text(f"{proc.pid}\n")
        done = _lib("proxy_period_running", tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout == period + "\n"
    finally:
        proc.kill()
        proc.wait()
