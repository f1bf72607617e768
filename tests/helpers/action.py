"""The composite action (action.yml) read as data, and its shell steps run as a runner runs them.

A runner gives each `run:` step of a composite action the step's `env:` (with `${{ inputs.X }}`
filled in from the caller's `with:` and the inputs' defaults) and a few GITHUB_* and RUNNER_*
variables, and runs it with `bash --noprofile --norc -eo pipefail`. This module does the same,
for env values that are exactly one `${{ inputs.X }}`, and refuses any other expression rather
than guess its value. The `uses:` steps (setup-python, upload-artifact) are GitHub's, not run.
This is not GitHub Actions: it runs the action's own shell the way a runner would.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from helpers.paths import REPO

ACTION = REPO / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
INPUT = re.compile(r"inputs\.([A-Za-z0-9_-]+)")


def load_action(path: Path = ACTION) -> dict[str, Any]:
    action: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return action


def run_steps(action: dict[str, Any]) -> list[dict[str, Any]]:
    """The action's shell steps, in order."""
    return [step for step in action["runs"]["steps"] if "run" in step]


def strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML document, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def inputs_for(action: dict[str, Any], given: dict[str, Any]) -> dict[str, str]:
    """Every input's value: the caller's `with:` (as the strings a runner passes), else its
    default. An input the action does not declare is an error, as on GitHub."""
    declared = action["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, f"with: names inputs action.yml does not declare: {sorted(unknown)}"
    values = {name: str(spec.get("default", "")) for name, spec in declared.items()}
    for name, value in given.items():
        values[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return values


def step_env(step: dict[str, Any], inputs: dict[str, str]) -> dict[str, str]:
    """The step's env with `${{ inputs.X }}` filled in; any other expression is refused."""
    env: dict[str, str] = {}
    for name, template in (step.get("env") or {}).items():
        match = re.fullmatch(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}", str(template))
        assert match, f"{step.get('name')}: env {name} is not one `${{{{ inputs.X }}}}`"
        env[name] = inputs[match.group(1)]
    return env


@dataclass(frozen=True)
class StepRun:
    name: str
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"step {self.name!r} (exit {self.code})\n{self.out[-3000:]}\n{self.err[-3000:]}"


def run_shell_steps(
    action: dict[str, Any],
    inputs: dict[str, str],
    workspace: Path,
    runner_temp: Path,
    action_path: Path,
    base_env: dict[str, str],
    timeout_s: float,
    only: Collection[str] | None = None,
) -> list[StepRun]:
    """Run the action's shell steps (or those named in ``only``) in order in ``workspace``,
    stopping at the first failure, with the file commands (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
    GITHUB_PATH) in ``runner_temp``."""
    files = {
        "GITHUB_OUTPUT": runner_temp / "github-output",
        "GITHUB_STEP_SUMMARY": runner_temp / "step-summary.md",
        "GITHUB_PATH": runner_temp / "github-path",
    }
    for path in files.values():
        path.touch()
    done: list[StepRun] = []
    for step in run_steps(action):
        if only is not None and step.get("name") not in only:
            continue
        assert step.get("shell") == "bash", f"{step.get('name')}: shell must be bash"
        added = [line for line in files["GITHUB_PATH"].read_text().splitlines() if line]
        env = {
            **base_env,
            **{name: str(path) for name, path in files.items()},
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_ACTION_PATH": str(action_path),
            "GITHUB_WORKSPACE": str(workspace),
            "PATH": os.pathsep.join([*reversed(added), base_env.get("PATH", os.defpath)]),
            **step_env(step, inputs),
        }
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", step["run"]],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        done.append(StepRun(str(step.get("name")), proc.returncode, proc.stdout, proc.stderr))
        if proc.returncode != 0:
            break
    return done


def outputs(runner_temp: Path) -> dict[str, str]:
    """What the steps wrote to GITHUB_OUTPUT (name=value lines)."""
    lines = (runner_temp / "github-output").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)
