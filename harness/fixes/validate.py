"""Is the patch one a cluster takes? The Deployment it goes onto, and two ways to check it.

- client side (any machine with kubectl): ``kubectl patch --local -f <the variant's rendered
  Deployment> --patch-file fix-<v>.yaml -o json``: the patch parses and merges as a strategic
  merge patch; then the merged preStop must hold exactly one handler (the API's rule, which a
  merge can break and kubectl's client side does not check);
- server side, where a cluster is at hand (the kube backends): the patched Deployment sent
  with ``--dry-run=server``: the API server validates and admits it, and stores nothing.

Each returns what summary.json's ``fixes.<v>.validated`` holds: ``"client"`` or
``"server-dry-run"``, or one line saying why it is not valid or could not be checked.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from harness.appspec import App, Variant
from harness.backends.kube import manifests
from harness.backends.kube.variant import varied
from harness.errors import HarnessError, one_line
from harness.fixes.patch import HANDLERS, Target
from harness.packaged import sample_manifests_dir

Obj = dict[str, Any]
CLIENT = "client"
SERVER = "server-dry-run"


def variant_deployment(app: App, name: str, change: Variant) -> tuple[Obj, Target] | None:
    """The variant's Deployment as the manifests render it (the sample app's own for the sample
    app), and the patch's target in it; None for an app run as a command (no manifests)."""
    if app.manifests is None and not app.is_sample:
        return None
    rendered = manifests.load(app.manifests if app.manifests else sample_manifests_dir())
    dep = varied(rendered, name, change)
    container = manifests.app_container(dep, rendered.service)
    handlers = frozenset(((container.get("lifecycle") or {}).get("preStop") or {}).keys())
    where = "the sample app's manifests" if app.manifests is None else f"{app.manifests}"
    return dep, Target(
        deployment=str(dep["metadata"]["name"]),
        container=str(container["name"]),
        handlers=handlers & frozenset(HANDLERS),
        where=where,
    )


def patched_locally(deployment: Obj, patch_file: Path) -> Obj:
    """kubectl's client-side strategic merge of ``patch_file`` onto ``deployment``; a
    HarnessError (one line) when kubectl refuses it."""
    with tempfile.TemporaryDirectory(prefix="drainlab-fix-") as folder:
        source = Path(folder) / "deployment.json"
        source.write_text(json.dumps(deployment), encoding="utf-8")
        out = manifests.kubectl(
            ["patch", "--local", "-f", str(source), "--patch-file", str(patch_file), "-o", "json"],
            f"{patch_file.name}: kubectl patch --local",
        )
    result: Obj = json.loads(out)
    return result


def client_check(deployment: Obj, patch_file: Path, container: str) -> tuple[str, Obj | None]:
    """``"client"`` and the patched Deployment, or the reason it failed and None."""
    try:
        result = patched_locally(deployment, patch_file)
    except (HarnessError, ValueError) as exc:
        return f"client validation failed: {one_line(str(exc))}", None
    for c in result["spec"]["template"]["spec"].get("containers") or []:
        handlers = ((c.get("lifecycle") or {}).get("preStop") or {}).keys()
        if c.get("name") == container and len(handlers) > 1:
            return (
                f"client validation failed: preStop of {container} holds {len(handlers)} "
                f"handlers ({', '.join(sorted(handlers))}), the API takes one",
                None,
            )
    return CLIENT, result


def _where(kubeconfig: Path | None, context: str | None) -> list[str]:
    where: list[str] = []
    if kubeconfig is not None:
        where += ["--kubeconfig", str(kubeconfig)]
    if context:
        where += ["--context", context]
    return where


def running_target(
    deployment: str, kubeconfig: Path | None, context: str | None, ns: str
) -> Target | None:
    """The target in a Deployment that runs (a ``--target`` run's), read from the cluster: its
    first container (the one a variant would change without a Service to name it); None when
    it cannot be read."""
    try:
        out = manifests.kubectl(
            [*_where(kubeconfig, context), "get", "deployment", deployment, "-n", ns, "-o", "json"],
            "reading the target",
        )
        container = json.loads(out)["spec"]["template"]["spec"]["containers"][0]
    except (HarnessError, ValueError, KeyError, IndexError, TypeError):
        return None
    handlers = frozenset(((container.get("lifecycle") or {}).get("preStop") or {}).keys())
    return Target(
        deployment=deployment,
        container=str(container.get("name")),
        handlers=handlers & frozenset(HANDLERS),
        where=f"the running Deployment {ns}/{deployment} (its first container)",
    )


def running_dry_run(
    deployment: str, patch_file: Path, kubeconfig: Path | None, context: str | None, ns: str
) -> str:
    """The patch onto the running Deployment (a ``--target`` run's), as the API server would
    apply it, with ``--dry-run=server``: nothing is written to the user's Deployment."""
    args = ["patch", "deployment", deployment, "-n", ns, "--patch-file", str(patch_file)]
    try:
        manifests.kubectl(
            [*_where(kubeconfig, context), *args, "--dry-run=server", "-o", "name"],
            "server dry run",
        )
    except HarnessError as exc:
        return f"server dry run refused it: {one_line(str(exc))}"
    return SERVER


def server_dry_run(
    patched: Obj, kubeconfig: Path | None, context: str | None, ns: str
) -> str | None:
    """``"server-dry-run"`` when the API server admits ``patched`` (created as a new Deployment
    in namespace ``ns`` with nothing stored), one line saying what it said when it does not, and
    None when there is no such namespace to try it in (a run deletes the one it made)."""
    where = _where(kubeconfig, context)
    try:
        manifests.kubectl([*where, "get", "namespace", ns, "-o", "name"], "server dry run")
    except HarnessError:
        return None
    body = {key: value for key, value in patched.items() if key != "status"}
    body["metadata"] = {
        "name": patched["metadata"]["name"],
        "labels": dict(patched["metadata"].get("labels") or {}),
    }
    args = [*where, "create", "--dry-run=server", "-n", ns, "-f", "-", "-o", "name"]
    try:
        manifests.kubectl(args, "server dry run", stdin=json.dumps(body))
    except HarnessError as exc:
        return f"server dry run refused it: {one_line(str(exc))}"
    return SERVER
