"""A fix as the file a user applies: a strategic merge patch of the Deployment (fix-<v>.yaml).

The same file serves ``kubectl patch deployment NAME --patch-file fix-<v>.yaml`` and a kustomize
``patches:`` entry (it names its apiVersion, kind and metadata.name, as kustomize wants, and
kubectl patch accepts them since they equal the object's). The container is merged by name, the
one a variant changes (harness.backends.kube.manifests.app_container).

The preStop sleep is spelled for the server: the ``sleep`` action (no binary needed in the image)
from Kubernetes 1.30, where it is beta and on by default (GA in 1.34); before that, and when the
server version is unknown (the embedded backend), ``exec`` of ``sleep``, which every version
takes but which needs a ``sleep`` program in the image. A handler the container already has is
removed in the same patch (``null``), since a hook holds one handler only.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import yaml

from harness.fixes.model import Fix

# First minor version whose API server takes the preStop sleep action by default (beta).
SLEEP_ACTION_MINOR = 30
HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
SLEEP_ACTION = "sleep action"
EXEC_SLEEP = "exec sleep"


@dataclass(frozen=True, slots=True)
class Target:
    """Where the patch goes: the Deployment and its container, as the user's manifests name
    them, and the preStop handlers that container has today."""

    deployment: str
    container: str
    handlers: frozenset[str] = frozenset()
    where: str = ""  # how the names were found, for the header


@dataclass(frozen=True, slots=True)
class PatchFile:
    text: str  # the file, header comment included
    body: dict[str, Any]  # the patch itself
    spelling: str  # "sleep action" | "exec sleep" | "" (no preStop in the patch)
    spelling_why: str


def prestop_spelling(server_minor: int | None) -> tuple[str, str]:
    """The preStop spelling for a server of this minor version, and why."""
    if server_minor is None:
        return (
            EXEC_SLEEP,
            "server version unknown (no cluster at hand: the embedded backend, or a summary "
            "rebuilt from files): `exec` of `sleep` works on every "
            "Kubernetes version but needs a `sleep` binary in the image; on 1.30 or later the "
            "`sleep` action (`preStop: {sleep: {seconds: N}}`) needs none",
        )
    if server_minor >= SLEEP_ACTION_MINOR:
        return (
            SLEEP_ACTION,
            f"server 1.{server_minor}: the `sleep` action (beta and on by default from 1.30, GA "
            "in 1.34) needs no `sleep` binary in the image",
        )
    return (
        EXEC_SLEEP,
        f"server 1.{server_minor}: the `sleep` action needs 1.30 or later, so `exec` of `sleep` "
        "(needs a `sleep` binary in the image)",
    )


def patch_body(fix: Fix, target: Target, spelling: str) -> dict[str, Any]:
    change = fix.change
    container: dict[str, Any] = {"name": target.container}
    pod: dict[str, Any] = {}
    if change.prestop_sleep_s is not None:
        seconds = math.ceil(change.prestop_sleep_s)
        handler: dict[str, Any] = (
            {"sleep": {"seconds": seconds}}
            if spelling == SLEEP_ACTION
            else {"exec": {"command": ["sleep", str(seconds)]}}
        )
        kept = next(iter(handler))
        for other in sorted(target.handlers - {kept}):
            handler[other] = None  # a hook holds one handler: remove the one it has
        container["lifecycle"] = {"preStop": handler}
    if change.readiness is not None:
        probe: dict[str, Any] = {}
        if change.readiness.period_s is not None:
            probe["periodSeconds"] = max(1, math.ceil(change.readiness.period_s))
        if change.readiness.failure_threshold is not None:
            probe["failureThreshold"] = change.readiness.failure_threshold
        container["readinessProbe"] = probe
    if change.grace_period_s is not None:
        pod["terminationGracePeriodSeconds"] = max(1, math.ceil(change.grace_period_s))
    if len(container) > 1:
        pod["containers"] = [container]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": target.deployment},
        "spec": {"template": {"spec": pod}},
    }


def render_patch(
    fix: Fix, target: Target, server_minor: int | None, sleep_binary: str = "not checked"
) -> PatchFile:
    """The file's text: a header saying how to apply it and what was chosen, then the patch."""
    spelling, why = prestop_spelling(server_minor)
    if fix.change.prestop_sleep_s is None:
        spelling, why = "", ""
    body = patch_body(fix, target, spelling)
    name = fix.file or f"fix-{fix.variant}.yaml"
    lines = [
        f"# drainlab: the fix for variant {fix.variant}"
        + (" (partial: see the report's Fix section)" if fix.partial else ""),
        "# Apply to the running Deployment:",
        f"#   kubectl patch deployment {target.deployment} --patch-file {name}",
        "# or as a kustomize patch (kustomization.yaml):",
        "#   patches:",
        f"#     - path: {name}",
    ]
    if target.where:
        lines.append(f"# Deployment and container: {target.where}")
    if spelling:
        lines.append(f"# preStop as {spelling}: {why}")
        if spelling == EXEC_SLEEP:
            lines.append(f"# `sleep` binary in the image: {sleep_binary}")
    for field in fix.fields:
        lines.append(f"# {field.field} = {field.value}: {field.why}")
    for cause in fix.unfixable:
        lines.append(f"# not fixed by this patch: {cause.what} ({cause.evidence})")
    header = "\n".join(_wrapped(lines))
    text = header + "\n" + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
    return PatchFile(text=text, body=body, spelling=spelling, spelling_why=why)


def _wrapped(lines: Collection[str]) -> list[str]:
    # Comments stay single lines (no newline inside a value may break the YAML).
    return [line.replace("\n", " ") for line in lines]
