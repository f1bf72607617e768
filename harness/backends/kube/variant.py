"""One variant's change (harness.appspec.Variant) applied to the app's rendered Deployment.

In this order: the variant's ``patch`` (a strategic merge patch, applied by
``kubectl patch --local --type strategic -o json``: kubectl's own merge, offline, so the result
is what ``kubectl patch`` would make of it on the cluster), then the settings it names, on the
app container (manifests.app_container):

- ``env``: merged by name (a name the container has gets the new value, others are added);
- ``args``: replace the container's args;
- ``prestop_sleep_s``: an exec preStop hook ``sleep N`` (0: no hook), never httpGet: on v1.20 an
  httpGet path "/x" is sent as "//x" and the hook's 404 is ignored, so it silently does nothing;
  ``prestop_command``: an exec preStop hook of the user's;
- ``grace_period_s``: terminationGracePeriodSeconds, rounded up to whole seconds;
- ``readiness``/``liveness``/``startup``: onto the container's probe of that kind (path:
  httpGet.path; port: httpGet's or tcpSocket's; durations rounded up to whole seconds, period and
  timeout at least 1). A change to a probe the container lacks is an error.

Every problem is one UsageError line naming the variant. Pure but for kubectl.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import yaml

from harness.appspec import ProbeChange, Variant
from harness.backends.kube.manifests import (
    AppManifests,
    Obj,
    app_container,
    deployment_problem,
    kubectl,
)
from harness.errors import UsageError, one_line

PROBE_FIELDS = {
    "readiness": "readinessProbe",
    "liveness": "livenessProbe",
    "startup": "startupProbe",
}
# ProbeChange setting -> (probe field, smallest value the API takes)
_PROBE_SECONDS = {
    "initial_delay_s": ("initialDelaySeconds", 0),
    "period_s": ("periodSeconds", 1),
    "timeout_s": ("timeoutSeconds", 1),
}
_PROBE_COUNTS = {"success_threshold": "successThreshold", "failure_threshold": "failureThreshold"}


def grace_seconds(grace_period_s: float) -> int:
    """terminationGracePeriodSeconds is whole seconds: round up, so the app never gets less."""
    return max(1, math.ceil(grace_period_s))


def varied(app: AppManifests, name: str, change: Variant) -> Obj:
    """The app's Deployment as variant ``name`` changes it (a new object)."""
    where = f"variants.{name}"
    dep = copy.deepcopy(app.deployment)
    if change.patch is not None:
        dep = patched(dep, Path(change.patch), where)
    container = app_container(dep, app.service)
    pod = dep["spec"]["template"]["spec"]
    if change.env:
        container["env"] = merged_env(container.get("env") or [], change.env)
    if change.args is not None:
        container["args"] = list(change.args)
    if change.prestop_command:
        _set_prestop(container, list(change.prestop_command))
    elif change.prestop_sleep_s is not None:
        sleep = ["sleep", f"{change.prestop_sleep_s:g}"] if change.prestop_sleep_s else None
        _set_prestop(container, sleep)
    if change.grace_period_s is not None:
        pod["terminationGracePeriodSeconds"] = grace_seconds(change.grace_period_s)
    for probe, field in PROBE_FIELDS.items():
        probe_change: ProbeChange | None = getattr(change, probe)
        if probe_change is not None:
            if probe != "readiness" and probe_change.success_threshold not in (None, 1):
                raise UsageError(f"{where}.{probe}.success_threshold: must be 1 (the API's rule)")
            container[field] = _probe(container.get(field), probe_change, f"{where}.{probe}")
    return dep


def patched(dep: Obj, patch_file: Path, where: str) -> Obj:
    """``dep`` with a strategic merge patch applied, as kubectl applies it."""
    try:
        patch = yaml.safe_load(patch_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{where}.patch: cannot read {patch_file}: {one_line(str(exc))}") from None
    if not isinstance(patch, dict):
        raise UsageError(f"{where}.patch: {patch_file} is not a YAML mapping")
    out = kubectl(
        [
            "patch",
            "--local",
            "--type",
            "strategic",
            "-f",
            "-",
            "-p",
            json.dumps(patch),
            "-o",
            "json",
        ],
        f"{where}.patch: {patch_file}",
        stdin=json.dumps(dep),
    ).strip()
    try:
        result: Any = json.loads(out)
    except json.JSONDecodeError:
        raise UsageError(f"{where}.patch: {patch_file}: kubectl gave no object") from None
    problem = deployment_problem(result) if isinstance(result, dict) else "not an object"
    if problem is None and result.get("kind") != "Deployment":
        problem = f"the result is a {result.get('kind')}, not a Deployment"
    if problem is not None:
        raise UsageError(f"{where}.patch: {patch_file} does not apply: {problem}")
    return dict(result)


def merged_env(env: list[Obj], changes: dict[str, str]) -> list[Obj]:
    """``env`` with each of ``changes`` replacing the entry of its name, or added at the end."""
    merged = [dict(e) for e in env]
    where = {e.get("name"): i for i, e in enumerate(env)}
    for name, value in changes.items():
        entry = {"name": name, "value": value}
        if name in where:
            merged[where[name]] = entry
        else:
            merged.append(entry)
    return merged


def _set_prestop(container: Obj, command: list[str] | None) -> None:
    lifecycle = dict(container.get("lifecycle") or {})
    if command is None:
        lifecycle.pop("preStop", None)
    else:
        lifecycle["preStop"] = {"exec": {"command": command}}
    if lifecycle:
        container["lifecycle"] = lifecycle
    else:
        container.pop("lifecycle", None)


def _probe(current: Any, change: ProbeChange, where: str) -> Obj:
    if not isinstance(current, dict):
        raise UsageError(f"{where}: the app container has no such probe to change")
    probe = copy.deepcopy(current)
    settings: dict[str, Any] = change.changes()
    if "path" in settings:
        if "httpGet" not in probe:
            raise UsageError(f"{where}.path: the probe is not an HTTP GET")
        probe["httpGet"]["path"] = settings["path"]
    if "port" in settings:
        handler = next((k for k in ("httpGet", "tcpSocket", "grpc") if k in probe), None)
        if handler is None:
            raise UsageError(f"{where}.port: the probe has no port (an exec probe)")
        probe[handler]["port"] = settings["port"]
    for setting, (field, least) in _PROBE_SECONDS.items():
        if setting in settings:
            probe[field] = max(least, math.ceil(settings[setting]))
    for setting, field in _PROBE_COUNTS.items():
        if setting in settings:
            probe[field] = int(settings[setting])
    return probe
