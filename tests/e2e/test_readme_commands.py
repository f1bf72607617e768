"""The README's commands, run exactly as a new user types them, in a fresh clone of HEAD.

A clone (not this checkout) so nothing of ours helps: no .venv, no reports/, only what git
tracks. Paths are the ones the README shows, relative ones included, and some commands run from
a folder other than the clone's root. `make test` itself is what CI runs (.ci/run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.action import inputs_for, load_action, outputs, run_shell_steps
from helpers.paths import REPO

from harness.backends.clusters.local import LocalCluster

pytestmark = pytest.mark.slow

ROOT = REPO
WORKFLOW = ".github/workflows/chaos.yml"
# The first `make` in a clone creates .venv and pip-installs drainlab: minutes on a cold cache.
MAKE_TIMEOUT_S = 1200


def _env() -> dict[str, str]:
    """The user's environment, less what a `make test` around us would leak into a nested make
    (MAKEFLAGS carries `ARGS=...` given to `make test`) or into Python."""
    drop = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTHONPATH", "VIRTUAL_ENV"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def sh(command: str, cwd: Path, timeout_s: float = MAKE_TIMEOUT_S, **env: str) -> Done:
    """One command line, through bash as a user's terminal or a CI step runs it."""
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={**_env(), **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return Done(command, proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class Done:
    command: str
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"$ {self.command}\n(exit {self.code})\n{self.out[-3000:]}\n{self.err[-3000:]}"

    @property
    def last_line(self) -> str:
        lines = [line for line in self.out.splitlines() if line.strip()]
        return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("readme") / "drainlab"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(where)], check=True, timeout=120)
    return where


def report_of(done: Done, cwd: Path) -> Path:
    """The report path `make chaos` printed last, as a path relative to where it ran."""
    match = re.fullmatch(r"report: (\S+)", done.last_line)
    assert match, f"the last line is not the report's path:\n{done}"
    printed = Path(match.group(1))
    assert not printed.is_absolute(), f"a path under the cwd is printed relative to it:\n{done}"
    assert (cwd / printed).is_file(), done
    return cwd / printed


def summary_of(report: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report.parent / "summary.json").read_text())
    return data


@pytest.fixture(scope="module")
def default_run(clone: Path) -> Iterator[Path]:
    """`make chaos`, no arguments: the README's first command."""
    done = sh("make chaos", clone)
    assert done.code == 0, done
    yield report_of(done, clone).parent


def test_make_chaos_as_written(default_run: Path, clone: Path) -> None:
    assert default_run.parent == clone / "reports"
    orders = summary_of(default_run / "report.html")["orders"]
    assert list(orders) == ["naive", "close-first", "prestop", "graceful"]
    assert orders["naive"]["failed"] > 0
    assert orders["graceful"]["failed"] == 0
    assert orders["graceful"]["requests"] > 100
    # The records are where the README says, not under logs/ (locust runs in logs/).
    assert (default_run / "records-naive.jsonl").stat().st_size > 0
    assert not (default_run / "logs" / "reports").exists()


def test_make_report_as_written(default_run: Path, clone: Path) -> None:
    run = f"reports/{default_run.name}"
    (default_run / "report.html").unlink()
    done = sh(f"make report RUN={run}", clone)
    assert done.code == 0, done
    assert done.last_line == f"{run}/report.html", done
    assert (default_run / "report.html").stat().st_size > 0


def test_fix_and_prove_as_written(clone: Path, default_run: Path) -> None:
    """ "Fix and prove": the fix files, one sentence per failing variant, and the fix runs."""
    done = sh('make chaos ARGS="--orders naive,close-first --new-connections --verify-fix"', clone)
    assert done.code == 0, done
    report = report_of(done, clone)
    summary = summary_of(report)
    assert list(summary["orders"]) == ["naive", "close-first", "naive+fix", "close-first+fix"]
    for variant in ("naive", "close-first"):
        assert summary["orders"][variant]["failed"] > 0
        assert (report.parent / f"fix-{variant}.yaml").is_file()
        assert f"({summary['fixes'][variant]['file']}" in done.out
    assert summary["orders"]["close-first+fix"]["failed"] == 0
    # close-first's fix may be called partial: a connection the proxy had accepted just before
    # SIGTERM and reset after it reads as cut in flight (measured: 1 of 147 once). What proves
    # the fix is its run: nothing dropped.
    assert summary["fixes"]["close-first"]["fields"][0]["field"] == "preStop"
    # naive cuts the requests it has in flight at SIGTERM: no patch fixes that.
    assert summary["fixes"]["naive"]["partial"] is True
    assert "before -> after" in done.out and "what to do:" in done.out
    page = report.read_text()
    assert page.index('id="before-after"') < page.index('id="verdict"'), "it opens with it"


def test_gate_report_and_validate_from_another_folder_with_relative_paths(
    default_run: Path, clone: Path
) -> None:
    elsewhere = clone / "docs"  # any folder but the root: the paths are relative to it
    run = f"../reports/{default_run.name}"
    gate = sh(f"../.venv/bin/harness gate {run} --order graceful", elsewhere)
    assert gate.code == 0 and gate.out.startswith("ok graceful: 0 failed"), gate
    junit = sh(f"../.venv/bin/harness gate {run} --order naive --junit out/junit.xml", elsewhere)
    assert junit.code == 1 and junit.out.startswith("FAIL naive"), junit
    assert (elsewhere / "out" / "junit.xml").is_file()
    report = sh(f"../.venv/bin/harness report {run}", elsewhere)
    assert report.code == 0 and Path(report.last_line) == default_run / "report.html", report
    validate = sh("../.venv/bin/harness validate ../harness/scenarios/default.yaml", elsewhere)
    assert validate.code == 0 and "orders:" in validate.out, validate
    again = sh(f"make -C .. report RUN=reports/{default_run.name}", elsewhere)
    assert again.code == 0, again


def test_relative_out_scenario_and_app_command_from_another_folder(clone: Path) -> None:
    """`--out` and `--scenario` relative to the cwd; the app's program relative to the scenario."""
    mine = clone / "mine"
    mine.mkdir()
    (mine / "app.sh").write_text(
        '#!/bin/sh\nhere="$(dirname "$0")"\n'
        'exec "$here/../.venv/bin/python" "$here/../sample-app/app.py" "$@"\n'
    )
    (mine / "app.sh").chmod(0o755)
    (mine / "scenario.yaml").write_text(
        "variants: {naive: {env: {SHUTDOWN_ORDER: naive}}}\nduration_s: 6\nchaos: {count: 1}\n"
        'app: {command: ["./app.sh", "--host", "{host}", "--port", "{port}"]}\n'
    )
    cwd = clone / "docs"
    done = sh(
        "../.venv/bin/harness run --backend embedded --scenario ../mine/scenario.yaml "
        "--out runs-here --quiet",
        cwd,
        timeout_s=300,
    )
    assert done.code == 0, done
    report = report_of(done, cwd)
    assert report.parent.parent == cwd / "runs-here"
    assert summary_of(report)["orders"]["naive"]["requests"] > 0


def test_the_workflow_runs_the_action_with_embedded_standing_in_for_kind(
    default_run: Path, clone: Path, tmp_path: Path
) -> None:
    """chaos.yml's action step with only `backend: kind` replaced: the action's shell steps, in
    order, as a runner runs them (helpers/action.py), the installation from the action's own
    checkout included, with the clone as the workspace. The `uses:` steps are GitHub's."""
    workflow = yaml.safe_load((clone / WORKFLOW).read_text())
    [step] = [s for s in workflow["jobs"]["chaos"]["steps"] if s.get("uses") == "./"]
    given = dict(step["with"])
    assert given["backend"] == "kind"
    given["backend"] = "embedded"
    action = load_action(clone / "action.yml")
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    steps = run_shell_steps(
        action, inputs_for(action, given), clone, runner_temp, clone, _env(), MAKE_TIMEOUT_S
    )
    assert [s.name for s in steps] == ["Install drainlab", "Install kind", "Run drainlab"]
    assert all(s.code == 0 for s in steps), "\n".join(map(str, steps))
    run_dir = clone / outputs(runner_temp)["run-dir"]
    assert run_dir.parent == clone / "reports" and run_dir != default_run
    assert summary_of(run_dir / "report.html")["gate"]["ok"] is True
    text = (runner_temp / "step-summary.md").read_text()
    assert "ok graceful: 0 failed" in text, text
    assert f"reports/{run_dir.name}/report.html" in text, text


def _readme_block(readme: Path, heading: str) -> str:
    section = readme.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    assert match, f"no bash block under ## {heading}"
    return match.group(1)


def test_install_commands_as_written(clone: Path) -> None:
    """The Install section's block in one shell, as typed in one terminal, from the folder that
    holds the clone (named drainlab, as the commands say)."""
    cwd = clone.parent
    done = sh("set -e\n" + _readme_block(clone / "README.md", "Install"), cwd)
    assert done.code == 0, done
    assert (cwd / "drainlab-venv" / "bin" / "drainlab").is_file()
    assert "orders:" in done.out, done  # drainlab validate printed the default scenario
    orders = summary_of(report_of(done, cwd))["orders"]
    assert list(orders) == ["naive", "graceful"], orders
    assert orders["graceful"]["failed"] == 0 and orders["graceful"]["requests"] > 0


def test_make_clean_as_written(clone: Path, default_run: Path) -> None:
    assert sh("make clean", clone, timeout_s=60).code == 0
    assert sorted(p.name for p in (clone / "reports").iterdir()) == ["README.md"]


def test_make_lint_as_written(clone: Path, default_run: Path) -> None:
    done = sh("make lint", clone)
    assert done.code == 0, done


def test_make_bench_as_written(clone: Path, default_run: Path) -> None:
    """Every benchmark runs to its end and prints its figures (their values are bench/RESULTS.md's
    business, not a test's)."""
    done = sh("make bench", clone, timeout_s=1800)
    assert done.code == 0, done
    assert "ratio" in done.out, done


EXAMPLE = "examples/http-server/scenario.yaml"


def _example_run(clone: Path, backend: str) -> tuple[Path, dict[str, Any]]:
    """The README's "Your own service" command for ``backend``, as written: its report and
    summary."""
    done = sh(f'make chaos BACKEND={backend} SCENARIO={EXAMPLE} ARGS="--gate prestop"', clone)
    assert done.code == 0, done
    assert done.out.count("ok prestop: 0 failed") == 1, done
    report = report_of(done, clone)
    summary = summary_of(report)
    assert list(summary["orders"]) == ["current", "prestop"]
    for variant, entry in summary["orders"].items():
        assert entry["deletions"] == 2 and entry["requests"] > 100, (variant, entry)
    assert summary["orders"]["prestop"]["failed"] == 0
    return report, summary


def test_your_own_service_on_the_embedded_backend_as_written(
    clone: Path, default_run: Path
) -> None:
    """http.server as an ordinary process: SIGTERM's default action ends it at once."""
    _, summary = _example_run(clone, "embedded")
    assert summary["orders"]["current"]["failed"] > 0


@pytest.mark.cluster
def test_your_own_service_on_the_local_cluster_as_written(
    local_cluster: LocalCluster, clone: Path, default_run: Path
) -> None:
    """http.server as its container's PID 1 ignores SIGTERM: no drop, a SIGKILL per stop."""
    report, summary = _example_run(clone, "local")
    current = summary["orders"]["current"]
    assert current["failed"] == 0, current
    assert "were killed (SIGKILL) at the end of their grace period" in report.read_text()


def test_the_scenario_the_readme_shows_is_valid(tmp_path: Path) -> None:
    """The YAML of "Your own service", beside the example's manifests and a patch."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Your own service", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    shutil.copytree(ROOT / "examples" / "http-server" / "k8s", tmp_path / "k8s")
    (tmp_path / "k8s" / "graceful-patch.yaml").write_text(
        "spec: {template: {spec: {terminationGracePeriodSeconds: 40}}}\n"
    )
    (tmp_path / "scenario.yaml").write_text(snippet)
    done = sh(f"{ROOT}/.venv/bin/harness validate scenario.yaml", tmp_path, timeout_s=120)
    assert done.code == 0, done
    assert yaml.safe_load(done.out)["variants"]["tuned"]["grace_period_s"] == 45


@pytest.mark.cluster
@pytest.mark.last
def test_the_local_cluster_commands_as_written(local_cluster: LocalCluster, clone: Path) -> None:
    """cluster-local/README.md's commands, run as root from the clone's root: up (a no-op when
    it is up), status, down, up again for whoever comes after, and kube-proxy's sync period
    raised and given back."""
    up = sh("make cluster-local", clone)
    assert up.code == 0 and "ready: kubeconfig=" in up.out, up
    assert sh("cluster-local/status.sh", clone, timeout_s=60).code == 0
    down = sh("make cluster-local-down", clone)
    assert down.code == 0, down
    status = sh("cluster-local/status.sh", clone, timeout_s=60)
    assert status.code == 3 and "down" in status.out, status
    again = sh("make cluster-local", clone)
    assert again.code == 0 and "ready: kubeconfig=" in again.out, again
    assert sh("cluster-local/status.sh", clone, timeout_s=60).code == 0
    slow = sh("make cluster-local PROXY_MIN_SYNC_PERIOD=3s", clone)
    assert slow.code == 0 and "min sync period default -> 3s" in slow.out, slow
    back = sh("make cluster-local PROXY_MIN_SYNC_PERIOD=default", clone)
    assert back.code == 0 and "min sync period 3s -> default" in back.out, back
