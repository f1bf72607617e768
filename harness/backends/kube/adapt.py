"""The app's objects as a run deploys one variant of them: in drainlab's namespace, under
drainlab's names and labels, behind a NodePort.

For every variant (variant.varied first, then this):

- both objects go into ``kube.namespace``, whatever namespace the manifests name;
- they are named ``<deployment name>-<variant>`` and ``<service name>-<variant>`` (the sample
  app's base is named drainlab-sample, so its objects stay drainlab-sample-<order>), a fix's
  variant ``<v>+fix`` as ``<v>-fix`` (objects.in_object_names);
- drainlab's labels (objects.Names.labels: app labels, variant, run id) are added to the
  metadata labels, the Deployment's selector and pod template labels and the Service's selector
  (drainlab's win over a label of the same key), so the run selects only its own pods;
- the Service becomes type NodePort. Its first port's nodePort: the sample app's orders keep
  their fixed NODE_PORTS everywhere; on kind, other variants take the mapped ports 30081-30084
  by their place in the run (kind reaches nothing else), a fix's variant ``<v>+fix`` its
  variant's port; elsewhere the API server chooses;
- ``replicas`` is the scenario's; a container without an imagePullPolicy gets IfNotPresent
  (images are loaded into the nodes; a registry may not have them); the sample app's container
  runs ``kube.image``.

Pure.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

from harness.backends.base import DeploySpec
from harness.backends.kube import manifests
from harness.backends.kube.kinds import DEPLOYMENT, SERVICE, Kind
from harness.backends.kube.manifests import AppManifests, Obj
from harness.backends.kube.objects import MANAGED, NODE_PORTS, Names, names_for
from harness.backends.kube.variant import varied
from harness.errors import UsageError
from harness.fixes.model import FIX_SUFFIX
from harness.matrix import planned_orders, variant_of
from harness.orders import DEFAULT_ORDERS
from harness.packaged import sample_manifests_dir
from harness.pdb import Pdb
from harness.scenario import Scenario

KIND_NODE_PORTS: tuple[int, ...] = tuple(sorted(NODE_PORTS.values()))  # kind-config.yaml maps these
DNS_LABEL_MAX = 63  # a Service's name is a DNS label
# What the API server sets, which a create must not carry.
_SERVER_META = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")
_SERVER_SERVICE_SPEC = ("clusterIP", "clusterIPs", "loadBalancerIP", "loadBalancerSourceRanges")


@dataclass(frozen=True)
class DeployableApp:
    """What the kube backend deploys: the rendered app and how a run varies it."""

    manifests: AppManifests
    image: str | None  # the sample app's image, set on its container; None: the manifests'
    variants: tuple[str, ...]  # the run's variants, in order (kind's nodePorts follow it)
    sample: bool  # the sample app: its orders keep their fixed NODE_PORTS
    pdb: Pdb | None = None  # the scenario's app.pdb: a PodDisruptionBudget (pdb.budget)

    @property
    def deployment_name(self) -> str:
        return str(self.manifests.deployment["metadata"]["name"])

    @property
    def service_name(self) -> str:
        return str(self.manifests.service["metadata"]["name"])

    def names(self, variant: str, namespace: str, run_id: str | None) -> Names:
        return names_for(variant, namespace, run_id, self.deployment_name, self.service_name)

    def node_port(self, variant: str, on_kind: bool) -> int | None:
        if self.sample and variant in NODE_PORTS:
            return NODE_PORTS[variant]
        if not on_kind:
            return None
        base = variant_of(variant).removesuffix(FIX_SUFFIX)
        if base != variant:
            # A fix's variant or a matrix cell runs after its variant is gone; kind reaches only
            # the mapped ports.
            return self.node_port(base, on_kind)
        index = self.variants.index(variant) if variant in self.variants else len(self.variants)
        if index >= len(KIND_NODE_PORTS):
            raise UsageError(
                f"variants: kind reaches {len(KIND_NODE_PORTS)} variants (nodePorts "
                f"{KIND_NODE_PORTS[0]}-{KIND_NODE_PORTS[-1]}, manifests/kind-config.yaml); "
                f"{variant} is number {index + 1}"
            )
        return KIND_NODE_PORTS[index]


def deployable(scenario: Scenario) -> DeployableApp:
    """The scenario's app, rendered: its manifests, or the sample app's shipped ones."""
    variants = tuple(scenario.variant_names())
    if scenario.app.manifests is None:
        app = sample_app(scenario.kube.image, variants)
    else:
        app = DeployableApp(manifests.load(scenario.app.manifests), None, variants, sample=False)
    return dataclasses.replace(app, pdb=scenario.app.pdb)


def sample_app(image: str, variants: tuple[str, ...] = DEFAULT_ORDERS) -> DeployableApp:
    """The sample app: its shipped kustomize base (manifests/base), running ``image``."""
    return DeployableApp(manifests.load(sample_manifests_dir()), image, variants, sample=True)


def checked(scenario: Scenario, on_kind: bool) -> DeployableApp:
    """The scenario's app, with every variant's objects built once, so that manifests that are
    not one Deployment and one Service, a patch that does not apply, a probe change to a missing
    probe, a name too long or too many variants for kind are one UsageError line before
    anything is created."""
    app = deployable(scenario)
    for order in planned_orders(scenario):  # the variants, or a matrix's cells
        names = app.names(order.spec.variant, scenario.kube.namespace, "x")
        variant_objects(app, order.spec, names, on_kind)
    return app


def variant_objects(
    app: DeployableApp, spec: DeploySpec, names: Names, on_kind: bool
) -> list[tuple[Kind, Obj]]:
    """The objects deploy makes for one variant, one per kind of MANAGED, in that order."""
    if len(names.service) > DNS_LABEL_MAX:
        raise UsageError(
            f"variants.{spec.variant}: Service name {names.service} is longer than "
            f"{DNS_LABEL_MAX} characters; shorten the Service's or the variant's name"
        )
    dep = deployment(app, spec, names)
    svc = service(app.manifests.service, names, app.node_port(spec.variant, on_kind))
    built = {DEPLOYMENT.name: dep, SERVICE.name: svc}
    return [(kind, built[kind.name]) for kind in MANAGED]


def deployment(app: DeployableApp, spec: DeploySpec, names: Names) -> Obj:
    dep = varied(app.manifests, spec.variant, spec.change)
    if app.image is not None:
        manifests.app_container(dep, app.manifests.service)["image"] = app.image
    for container in dep["spec"]["template"]["spec"]["containers"]:
        container.setdefault("imagePullPolicy", "IfNotPresent")
    _own_metadata(dep, names, names.deployment)
    dep.pop("status", None)
    body = dep["spec"]
    body["replicas"] = spec.replicas
    selector = body.setdefault("selector", {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), **names.labels}
    template_meta = body["template"].setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), **names.labels}
    return dep


def service(rendered: Obj, names: Names, node_port: int | None) -> Obj:
    svc = copy.deepcopy(rendered)
    _own_metadata(svc, names, names.service)
    svc.pop("status", None)
    spec = svc.setdefault("spec", {})
    for key in _SERVER_SERVICE_SPEC:
        spec.pop(key, None)
    spec["type"] = "NodePort"
    spec["selector"] = {**(spec.get("selector") or {}), **names.labels}
    ports = [dict(p) for p in spec.get("ports") or []]
    for port in ports:
        port.pop("nodePort", None)
    if node_port is not None:
        ports[0]["nodePort"] = node_port
    spec["ports"] = ports
    return svc


def _own_metadata(obj: Obj, names: Names, name: str) -> None:
    meta = obj.setdefault("metadata", {})
    for key in _SERVER_META:
        meta.pop(key, None)
    meta["name"] = name
    meta["namespace"] = names.namespace
    meta["labels"] = {**(meta.get("labels") or {}), **names.labels}
