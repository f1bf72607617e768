"""The sample app's objects as the kube backend deploys them for one variant (adapt.py), for
tests that need a Deployment or Service body."""

from __future__ import annotations

from harness.backends.base import DeploySpec
from harness.backends.kube.adapt import DeployableApp, sample_app, variant_objects
from harness.backends.kube.manifests import Obj
from harness.backends.kube.objects import Names
from harness.scenario import Scenario

SAMPLE = sample_app(Scenario().kube.image)


def objects_of(
    spec: DeploySpec, names: Names, app: DeployableApp = SAMPLE, on_kind: bool = False
) -> tuple[Obj, Obj]:
    """(Deployment, Service) of one variant of ``app``."""
    (_, dep), (_, svc) = variant_objects(app, spec, names, on_kind)
    return dep, svc


def deployment_object(spec: DeploySpec, names: Names, image: str) -> Obj:
    return objects_of(spec, names, sample_app(image))[0]


def service_object(variant: str, names: Names) -> Obj:
    return objects_of(DeploySpec(variant), names)[1]
