"""The composite action (action.yml) and the workflows that use it: what can be checked without
GitHub. The action's YAML and inputs, its shell (shellcheck), and the drainlab command line it
builds from each documented `with:` (run with --dry-run: accepted by the CLI, nothing touched).
The run of its steps with an installation is in tests/e2e/test_readme_commands.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.action import (
    EXPRESSION,
    INPUT,
    inputs_for,
    load_action,
    outputs,
    run_shell_steps,
    run_steps,
    strings,
)
from helpers.paths import REPO

SHELLCHECK = Path(sys.executable).with_name("shellcheck")
DOCUMENTED = {
    "docs/github-action.md": REPO / "docs" / "github-action.md",
    "README.md": REPO / "README.md",
}
WORKFLOW = REPO / ".github" / "workflows" / "chaos.yml"


def _yaml_blocks(markdown: Path) -> list[dict[str, Any]]:
    text = markdown.read_text(encoding="utf-8")
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    return [yaml.safe_load(block) for block in blocks]


def _action_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """A workflow's steps that use drainlab's action (here `./`, elsewhere OWNER/drainlab@REF)."""
    found = []
    for job in workflow.get("jobs", {}).values():
        for step in job.get("steps", []):
            uses = str(step.get("uses", ""))
            if uses == "./" or re.fullmatch(r"[\w.-]+/drainlab@[\w.-]+", uses):
                found.append(step)
    return found


def _documented_uses() -> list[tuple[str, dict[str, Any]]]:
    uses = [("chaos.yml", step) for step in _action_steps(yaml.safe_load(WORKFLOW.read_text()))]
    for name, path in DOCUMENTED.items():
        for block in _yaml_blocks(path):
            if isinstance(block, dict):
                uses += [(name, step) for step in _action_steps(block)]
    return uses


def test_every_input_is_used_and_every_reference_is_declared() -> None:
    action = load_action()
    expressions = [
        e for s in strings([action["runs"], action["outputs"]]) for e in EXPRESSION.findall(s)
    ]
    referenced = {m.group(1) for expr in expressions for m in INPUT.finditer(expr)}
    assert referenced == set(action["inputs"])
    for name, spec in action["inputs"].items():
        assert spec.get("description"), f"input {name} has no description"
        assert "default" in spec or spec.get("required"), f"input {name}: no default"


def test_the_shell_steps_take_inputs_only_through_env() -> None:
    """No expression spliced into a script: an input (a branch name, a PR title) stays data."""
    for step in run_steps(load_action()):
        assert "${{" not in step["run"], step["name"]
        for name, value in (step.get("env") or {}).items():
            assert re.fullmatch(r"\$\{\{ inputs\.[\w-]+ \}\}", str(value)), (step["name"], name)


def test_the_shell_steps_pass_shellcheck(tmp_path: Path) -> None:
    scripts = []
    for index, step in enumerate(run_steps(load_action())):
        script = tmp_path / f"step-{index}.sh"
        # The runner's own flags (bash --noprofile --norc -eo pipefail) as the script's first line.
        script.write_text(f"#!/usr/bin/env bash\nset -eo pipefail\n{step['run']}")
        scripts.append(str(script))
    done = subprocess.run(
        [str(SHELLCHECK), "--shell=bash", "--severity=style", *scripts],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_documented_workflows_use_the_action() -> None:
    where = sorted({name for name, _ in _documented_uses()})
    assert where == ["README.md", "chaos.yml", "docs/github-action.md"]


@pytest.mark.parametrize(
    "step", [step for _, step in _documented_uses()], ids=[n for n, _ in _documented_uses()]
)
def test_the_command_line_each_documented_use_builds_is_accepted(
    step: dict[str, Any], tmp_path: Path
) -> None:
    """The action's "Run drainlab" step with that `with:`, plus --dry-run, on this checkout's
    drainlab: the arguments it builds parse, the scenario it writes validates, and the CLI
    plans the run (a dry run touches nothing and needs no cluster)."""
    action = load_action()
    given = dict(step.get("with") or {})
    given["args"] = f"{given.get('args', '')} --dry-run".strip()
    workspace = tmp_path / "workspace"
    (workspace / "k8s").mkdir(parents=True)
    for name in ("deployment.yaml", "service.yaml"):  # a Deployment and a Service of the user's
        (workspace / "k8s" / name).write_text((REPO / "manifests" / "base" / name).read_text())
    (workspace / "k8s" / "kustomization.yaml").write_text(
        "resources: [deployment.yaml, service.yaml]\n"
    )
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    (runner_temp / "drainlab-venv").symlink_to(Path(sys.prefix))  # what "Install" would make
    [done] = run_shell_steps(
        action,
        inputs_for(action, given),
        workspace,
        runner_temp,
        action_path=REPO,
        base_env={"PATH": str(Path(sys.prefix) / "bin") + ":/usr/bin:/bin"},
        timeout_s=120,
        only={"Run drainlab"},
    )
    assert done.code == 0, done
    assert "dry run on the" in done.out, done
    assert outputs(runner_temp)["exit-code"] == "0"
    summary = (runner_temp / "step-summary.md").read_text()
    assert summary.startswith(f"### drainlab: gate on variant `{given.get('variant', 'current')}`")
    assert not (workspace / given.get("out", "drainlab-reports")).exists()  # dry run: no folder


def test_a_mistake_in_the_inputs_is_one_error_line(tmp_path: Path) -> None:
    action = load_action()
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    [done] = run_shell_steps(
        action,
        inputs_for(action, {"manifests": "k8s/", "scenario": "drainlab.yaml"}),
        tmp_path,
        runner_temp,
        action_path=REPO,
        base_env={"PATH": "/usr/bin:/bin"},
        timeout_s=60,
        only={"Run drainlab"},
    )
    assert done.code == 2, done
    assert done.out.splitlines() == [
        "::error title=drainlab::give manifests or scenario, not both "
        "(a scenario names its own app.manifests)"
    ]
    assert outputs(runner_temp) == {"exit-code": "2"}
