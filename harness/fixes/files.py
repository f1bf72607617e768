"""A run's fixes: fix-<v>.yaml for each variant that dropped requests, and summary.json's
``fixes`` block (docs/summary-v1.md, "Fixes").

The I/O edge of harness.fixes: reads each variant's pod rows and records, derives the fix
(derive.py, pure), writes its patch (patch.py) and validates it (validate.py). A check that
cannot run (no kubectl, no manifests) is said in the block, never an error of the run: the run
measured what it measured, and its summary and report must still be written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.appspec import App, ProbeChange, Variant
from harness.durable import write_bytes_durably
from harness.errors import HarnessError, WriteError, one_line
from harness.fixes.derive import derive_fix
from harness.fixes.evidence import read_evidence
from harness.fixes.model import FIX_SUFFIX, Fix
from harness.fixes.patch import EXEC_SLEEP, Target, render_patch
from harness.fixes.validate import (
    CLIENT,
    client_check,
    running_dry_run,
    running_target,
    server_dry_run,
    variant_deployment,
)
from harness.jsonl import iter_jsonl
from harness.runfolder import pods_name
from harness.scenario import Scenario
from harness.settings import build

log = logging.getLogger(__name__)

# The container and Deployment names a patch gets when the scenario has no manifests to take
# them from (an app run as a command, on the embedded backend).
PLACEHOLDER = Target(
    deployment="YOUR-DEPLOYMENT",
    container="YOUR-CONTAINER",
    where="the scenario runs a command, so no manifests name them: put your own names in",
)


@dataclass(frozen=True, slots=True)
class FixServer:
    """The cluster a run used, as far as checking a fix needs it."""

    minor: int | None  # the server's minor version (20 for v1.20)
    kubeconfig: Path | None
    context: str | None
    namespace: str | None  # where to try the server dry run (if it still exists)
    # variant -> whether its image has `sleep` (harness.backends.kube.sleepcheck)
    sleep_binary: dict[str, str] = field(default_factory=dict)


def fix_server(facts: dict[str, Any] | None, namespace: str | None) -> FixServer | None:
    """The FixServer of a kube backend's ``fix_facts``; None without them (embedded)."""
    if not facts or "minor" not in facts:
        return None
    return FixServer(
        minor=facts.get("minor"),
        kubeconfig=facts.get("kubeconfig"),
        context=facts.get("context"),
        namespace=namespace,
        sleep_binary=dict(facts.get("sleep_binary") or {}),
    )


def derive_fixes(
    run_dir: Path, summary: dict[str, Any], variants: dict[str, Variant], app: App
) -> dict[str, Fix]:
    """Each variant's fix (None: it dropped nothing, left out), from the run folder's files;
    writes nothing. ``harness.verify`` runs each one's ``change``."""
    fixes: dict[str, Fix] = {}
    for name, order in (summary.get("orders") or {}).items():
        if not order.get("failed") or name.endswith(FIX_SUFFIX):
            continue  # a fix's own run (--verify-fix) is compared with its variant's, not fixed
        window = order.get("window") or {}
        evidence = read_evidence(run_dir, name, window.get("end"), _keepalive(summary))
        pods_path = run_dir / pods_name(name)
        pods = list(iter_jsonl(pods_path)) if pods_path.exists() else []
        current = variants.get(name, Variant())
        recommendation = summary.get("recommendation") or {}
        fix = derive_fix(name, order, pods, recommendation, current, app, evidence)
        if fix is not None:
            fixes[name] = fix
    return fixes


def _keepalive(summary: dict[str, Any]) -> bool:
    """Whether the run's clients kept connections (its scenario's traffic.keepalive)."""
    traffic = (summary.get("scenario") or {}).get("traffic") or {}
    return traffic.get("keepalive") is not False


def write_fixes(
    run_dir: Path,
    summary: dict[str, Any],
    variants: dict[str, Variant],
    app: App,
    server: FixServer | None,
    running: str | None = None,
) -> dict[str, Any]:
    """Derives, writes and validates each variant's fix; returns the ``fixes`` block.
    ``running``: the Deployment a ``--target`` run tested, as it runs (not from manifests)."""
    return {
        name: _written(run_dir, fix, variants.get(name, Variant()), app, server, running)
        for name, fix in derive_fixes(run_dir, summary, variants, app).items()
    }


def change_of(fix: Fix) -> dict[str, Any]:
    """The fix's change as summary.json keeps it (``fixes.<v>.change``): what a later run
    given this folder applies as the variant ``<v>+fix``; read back by ``change_from``."""
    change = fix.change
    readiness = None if change.readiness is None else change.readiness.changes()
    return {
        "prestop_sleep_s": change.prestop_sleep_s,
        "grace_period_s": change.grace_period_s,
        "readiness": readiness,
    }


def change_from(entry: dict[str, Any]) -> Variant:
    """The Variant a ``fixes.<v>`` entry of summary.json applies (see ``change_of``)."""
    change = entry.get("change") or {}
    readiness = change.get("readiness")
    return Variant(
        prestop_sleep_s=change.get("prestop_sleep_s"),
        grace_period_s=change.get("grace_period_s"),
        readiness=ProbeChange(**readiness) if isinstance(readiness, dict) else None,
    )


def _written(
    run_dir: Path,
    fix: Fix,
    current: Variant,
    app: App,
    server: FixServer | None,
    running: str | None,
) -> dict[str, Any]:
    minor = server.minor if server is not None else None
    entry: dict[str, Any] = {
        "file": fix.file,
        "partial": fix.partial,
        "change": change_of(fix),
        "fields": [{"field": f.field, "value": f.value, "why": f.why} for f in fix.fields],
        "unfixable": [{"what": u.what, "evidence": u.evidence} for u in fix.unfixable],
        "sentence": fix.sentence,
        "notes": list(fix.notes),
        "server_version": None if minor is None else f"1.{minor}",
        "validated": "nothing to validate: no patch",
    }
    if fix.file is None:
        return entry
    target, deployment, why_not = _target(fix, current, app, server, running)
    sleep = "not checked: no cluster at hand"
    if server is not None:
        sleep = server.sleep_binary.get(fix.variant, "not checked")
    rendered = render_patch(fix, target, minor, sleep)
    entry["sleep_binary"] = sleep
    if rendered.spelling == EXEC_SLEEP and sleep.startswith("absent"):
        _no_sleep_binary(entry, sleep)
    entry["prestop_spelling"] = rendered.spelling or None
    entry["prestop_spelling_why"] = rendered.spelling_why or None
    entry["deployment"] = target.deployment
    entry["container"] = target.container
    path = run_dir / fix.file
    write_bytes_durably(path, rendered.text.encode())
    entry["validated"] = why_not
    if deployment is not None:
        entry["validated"] = _validated(path, deployment, target, server)
    elif running and server is not None and server.namespace is not None and not why_not:
        entry["validated"] = running_dry_run(
            running, path, server.kubeconfig, server.context, server.namespace
        )
    if server is not None and server.namespace is not None and entry["validated"] == CLIENT:
        entry["notes"].append(
            f"no server dry run: namespace {server.namespace} is gone with the run; on your "
            f"cluster: kubectl patch deployment {target.deployment} --patch-file {fix.file} "
            "--dry-run=server"
        )
    return entry


def _no_sleep_binary(entry: dict[str, Any], found: str) -> None:
    """The exec form of the preStop fails at once in an image without `sleep`: the patch does
    not do what it says there, and the entry says so (partial)."""
    entry["unfixable"].append(
        {
            "what": "the image has no `sleep` binary, so the preStop `exec` of `sleep` fails at "
            "once and SIGTERM comes at the delete: add one to the image, or on Kubernetes 1.30 "
            "or later use the `sleep` action (`preStop: {sleep: {seconds: N}}`)",
            "evidence": found,
        }
    )
    entry["partial"] = True
    entry["sentence"] += "; but the image has no `sleep` binary for the preStop exec"


def _target(
    fix: Fix, current: Variant, app: App, server: FixServer | None, running: str | None
) -> tuple[Target, dict[str, Any] | None, str]:
    """Where the patch goes, the Deployment to validate it on (None: none at hand), and why
    it cannot be validated ("" when it can)."""
    if running:  # a --target run: the Deployment as it runs, read from the cluster
        read = None
        if server is not None and server.namespace is not None:
            read = running_target(running, server.kubeconfig, server.context, server.namespace)
        if read is None:
            unread = "the running Deployment could not be read: put its container's name in"
            named = Target(running, PLACEHOLDER.container, where=unread)
            return named, None, "not validated: the running Deployment could not be read"
        return read, None, ""
    try:
        found = variant_deployment(app, fix.variant, current)
    except HarnessError as exc:
        why = f"not validated: the manifests did not render: {one_line(str(exc))}"
        return PLACEHOLDER, None, why
    if found is None:
        return PLACEHOLDER, None, "not validated: no manifests (the app runs as a command)"
    return found[1], found[0], ""


def _validated(
    path: Path, deployment: dict[str, Any], target: Target, server: FixServer | None
) -> str:
    verdict, patched = client_check(deployment, path, target.container)
    if patched is None or server is None or server.namespace is None:
        return verdict
    found = server_dry_run(patched, server.kubeconfig, server.context, server.namespace)
    if found is None:
        log.info("fix %s: namespace %s is gone: client side only", path.name, server.namespace)
        return verdict
    return found


def run_fixes(
    run_dir: Path, summary: dict[str, Any], scenario: object, server: FixServer | None
) -> None:
    """Sets summary.json's ``fixes`` (``write_fixes``) for a run whose scenario is given as
    summary.json keeps it (a dict): the variants and the app are read back from it; one that
    does not read back (an older or edited run.json) gives fixes without the variants' own
    settings. A failure other than the disk's is logged and said as ``fixes_error``: the fixes
    must never cost a run its summary and report."""
    variants: dict[str, Variant] = {}
    app = App()
    running = None
    if isinstance(scenario, dict):
        try:
            read: Scenario = build(Scenario, scenario, "")
        except (HarnessError, TypeError, ValueError, KeyError) as exc:
            log.warning("fixes: the run's scenario does not read back (%s)", one_line(str(exc)))
        else:
            app = read.app
            running = read.kube.target.removeprefix("deployment/") if read.kube.target else None
            variants = {name: read.variant(name) for name in summary.get("orders") or {}}
    try:
        summary["fixes"] = write_fixes(run_dir, summary, variants, app, server, running)
    except WriteError:
        raise
    except Exception as exc:
        log.exception("fixes: deriving or writing them failed")
        summary["fixes"] = {}
        summary["fixes_error"] = one_line(f"{type(exc).__name__}: {exc}")
