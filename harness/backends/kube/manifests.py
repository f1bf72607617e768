"""The app's manifests (``app.manifests``) read into its one Deployment and one Service.

``app.manifests`` is a YAML file (one or more documents) or a kustomize folder. A folder is
rendered with ``kubectl kustomize`` (kubectl's built-in kustomize, so kubectl must be on PATH),
except a kustomization that only lists local ``resources:`` files, which is read directly (the
sample app's base is one: its runs need no kubectl). What it renders must be exactly one
Deployment (apps/v1) and one Service (v1); a Namespace is ignored, since drainlab deploys into
its own. Anything else is one UsageError line naming the manifests and the problem, raised
before anything is created.

The container a variant changes (:func:`app_container`) is the one serving the Service's
``targetPort`` when that is a port name, else the Deployment's first container.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import UsageError, cut, one_line

KUBECTL_TIMEOUT_S = 60.0
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
IGNORED_KINDS = frozenset({"Namespace"})

Obj = dict[str, Any]


@dataclass(frozen=True)
class AppManifests:
    """The rendered app: its Deployment and Service as the manifests give them."""

    source: str  # the file or folder, for messages
    deployment: Obj
    service: Obj


def load(path: str | Path) -> AppManifests:
    """Renders ``path`` and checks it holds one Deployment and one Service; UsageError if not."""
    source = str(path)
    return parse(render(Path(path)), source)


def render(path: Path) -> list[Obj]:
    """The documents of a YAML file, or of a kustomize folder as kustomize renders it."""
    if path.is_dir():
        plain = _plain_resources(path)
        if plain is None:
            return _documents(
                kubectl(["kustomize", str(path)], f"app.manifests: {path}: kustomize"), str(path)
            )
        return [doc for file in plain for doc in _read_file(file, str(path))]
    if path.is_file():
        return _read_file(path, str(path))
    raise UsageError(f"app.manifests: {path}: no such file or folder")


def kubectl(args: list[str], what: str, stdin: str | None = None) -> str:
    """kubectl's output; UsageError (one line, starting with ``what``) when kubectl is missing
    or refuses."""
    program = shutil.which("kubectl")
    if program is None:
        raise UsageError(f"{what} needs kubectl on PATH, and there is none")
    try:
        done = subprocess.run(
            [program, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(f"{what}: kubectl took over {KUBECTL_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        said = done.stderr.strip().removeprefix("error: ").removeprefix("Error: ")
        raise UsageError(f"{what}: {cut(one_line(said) or 'failed', 200)}")
    return done.stdout


def _plain_resources(folder: Path) -> list[Path] | None:
    """The files of a kustomization that only lists local resource files, else None."""
    found = [folder / name for name in KUSTOMIZATIONS if (folder / name).is_file()]
    if not found:
        raise UsageError(f"app.manifests: {folder}: a folder needs a kustomization.yaml")
    spec = _read_file(found[0], str(folder))
    if len(spec) != 1 or set(spec[0]) - {"apiVersion", "kind", "resources"}:
        return None
    files = [folder / str(r) for r in spec[0].get("resources") or []]
    return files if all(f.is_file() for f in files) else None


def _read_file(path: Path, source: str) -> list[Obj]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"app.manifests: {source}: cannot read {path.name}: {exc}") from None
    return _documents(text, source)


def _documents(text: str, source: str) -> list[Obj]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise UsageError(f"app.manifests: {source}: not YAML: {one_line(str(exc))}") from None
    for doc in docs:
        if not isinstance(doc, dict):
            raise UsageError(f"app.manifests: {source}: a document is not a mapping")
    return docs


def parse(docs: list[Obj], source: str) -> AppManifests:
    """The one Deployment and one Service of ``docs``; UsageError naming the problem if not."""
    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    services = [d for d in docs if d.get("kind") == "Service"]
    others = sorted({str(d.get("kind")) for d in docs} - {"Deployment", "Service"} - IGNORED_KINDS)

    def fail(problem: str) -> UsageError:
        return UsageError(f"app.manifests: {source}: {problem}")

    if others:
        raise fail(f"only a Deployment and a Service are deployed, found {', '.join(others)}")
    if len(deployments) != 1 or len(services) != 1:
        raise fail(
            f"must render exactly one Deployment and one Service, found {len(deployments)} "
            f"Deployment(s) and {len(services)} Service(s)"
        )
    (dep,), (svc,) = deployments, services
    if dep.get("apiVersion") != "apps/v1":
        raise fail(f"the Deployment must be apps/v1, got {dep.get('apiVersion')}")
    if svc.get("apiVersion") != "v1":
        raise fail(f"the Service must be v1, got {svc.get('apiVersion')}")
    problem = deployment_problem(dep) or service_problem(svc, dep)
    if problem:
        raise fail(problem)
    return AppManifests(source, dep, svc)


def deployment_problem(dep: Mapping[str, Any]) -> str | None:
    """What makes ``dep`` unusable as the app's Deployment, None if nothing."""
    name = (dep.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        return "the Deployment has no metadata.name"
    spec = dep.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    pod = template.get("spec") if isinstance(template, dict) else None
    containers = pod.get("containers") if isinstance(pod, dict) else None
    if not isinstance(containers, list) or not containers:
        return f"Deployment {name} has no containers"
    if not all(isinstance(c, dict) and c.get("name") for c in containers):
        return f"Deployment {name}: every container needs a name"
    return None


def service_problem(svc: Mapping[str, Any], dep: Mapping[str, Any]) -> str | None:
    """What makes ``svc`` unable to reach ``dep``'s pods, None if nothing."""
    name = (svc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        return "the Service has no metadata.name"
    spec: dict[str, Any] = svc.get("spec") or {}
    if not isinstance(spec, dict):
        return f"Service {name}: spec is not a mapping"
    selector = spec.get("selector") or {}
    if not isinstance(selector, dict) or not selector:
        return f"Service {name} has no selector: it would reach no pod of the Deployment"
    labels = pod_labels(dep)
    if any(labels.get(k) != v for k, v in selector.items()):
        shown = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        return (
            f"Service {name}'s selector {shown} matches no pod template label set of the Deployment"
        )
    ports = spec.get("ports")
    if not isinstance(ports, list) or not ports or not isinstance(ports[0], dict):
        return f"Service {name} has no ports"
    return None


def pod_labels(dep: Mapping[str, Any]) -> dict[str, Any]:
    template = (dep.get("spec") or {}).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


def app_container(dep: Mapping[str, Any], svc: Mapping[str, Any]) -> Obj:
    """The container a variant changes: the one with the port the Service's first port targets
    by name, else the first."""
    containers: list[Obj] = dep["spec"]["template"]["spec"]["containers"]
    target = ((svc.get("spec") or {}).get("ports") or [{}])[0].get("targetPort")
    if isinstance(target, str):
        for container in containers:
            if any(p.get("name") == target for p in container.get("ports") or []):
                return container
    return containers[0]
