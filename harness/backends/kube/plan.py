"""``harness run --dry-run`` on a Kubernetes backend: what the run would create and delete.

Touches nothing: no cluster is brought up, nothing is written to the API, no run folder is made.
On a given context (``--backend kube``) it reads what the run's checks read (the guard's facts,
the namespace, its Lease and any leftovers) and applies the same rules, so a run that would be
refused is refused here too, with the same one line. For kind and the local cluster it reads
nothing: the cluster may not be up, and bringing it up is the first thing the run would do.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from harness.backends.kube.adapt import checked, variant_objects
from harness.backends.kube.agentobjects import AGENT_NAME
from harness.backends.kube.api import Api
from harness.backends.kube.client import connect
from harness.backends.kube.contextcheck import check_context
from harness.backends.kube.guard import foreign_namespace_refusal, namespace_refusal
from harness.backends.kube.kinds import LEASE, NAMESPACE
from harness.backends.kube.lease import (
    LEASE_DURATION_S,
    LEASE_NAME,
    RENEW_EVERY_S,
    holding,
    lease_object,
    refusal,
)
from harness.backends.kube.objects import (
    LABEL_RUN,
    MANAGED,
    app_labels,
    namespace_labels,
    run_of,
    selector_of,
)
from harness.errors import BackendError, UsageError
from harness.matrix import planned_orders
from harness.scenario import Scenario

RUN_ID = "<run id>"  # made when the run starts; shown as a placeholder
BRING_UP = {
    "kind": "would create or reuse kind cluster drainlab, build the sample app's image and load "
    "it into the nodes (context kind-drainlab)",
    "local": "would bring up the local cluster with cluster-local/up.sh (context drainlab-local)",
}


def plan_lines(backend: str, scenario: Scenario) -> list[str]:
    """What a run of ``scenario`` on ``backend`` (kube, kind or local) would do, one line each;
    UsageError or BackendError (one line) where the run would be refused."""
    kube = scenario.kube
    refused = namespace_refusal(kube.namespace)
    if refused is not None:
        raise UsageError(refused)
    if kube.target is not None:  # a running Deployment: nothing is deployed
        from harness.backends.kube.targetplan import target_plan_lines

        return target_plan_lines(backend, scenario, BRING_UP.get(backend))
    ns = kube.namespace
    app = checked(scenario, on_kind=backend == "kind")
    lines = [f"dry run on the {backend} backend: nothing is created, deleted or started"]
    if backend in BRING_UP:
        lines.append(BRING_UP[backend] + "; not read in a dry run")
        lines += _namespace_lines(ns, None)
    else:
        conn = connect(None, kube.context)
        api = Api(conn, request_timeout_s=kube.request_timeout_s)
        why = check_context(api, kube.allow_context)
        lines.append(f"context {conn.context} (server {conn.server}): {why}")
        lines += _read_namespace(api, ns, kube.allow_namespace)
    lease = lease_object(ns, RUN_ID, time.time())
    lines.append(
        f"per variant: create Lease {ns}/{LEASE_NAME} held by this run (renewed every "
        f"{RENEW_EVERY_S:g} s), labels {_labels(lease['metadata']['labels'])}; delete it at "
        "the variant's teardown"
    )
    lines.append(f"app: {app.manifests.source}")
    for planned in planned_orders(scenario):  # the variants, or a matrix's cells
        order, spec = planned.spec.variant, planned.spec
        names = app.names(order, ns, RUN_ID)
        for _, body in variant_objects(app, spec, names, on_kind=backend == "kind"):
            lines.append(
                f"{planned.words}: create {body['kind']} {ns}/{body['metadata']['name']} "
                f"labels {_labels(body['metadata']['labels'])}{_detail(body)}; delete it at "
                f"the variant's teardown (only if it still carries {LABEL_RUN}={RUN_ID}, "
                f"by UID)"
            )
    return lines + _data_plane_lines(backend, scenario)


def _data_plane_lines(backend: str, scenario: Scenario) -> list[str]:
    """What the run does to see each node's proxy stop routing to a deleted pod."""
    settings, lines = scenario.data_plane, []
    if settings.agent:
        rights = "NET_ADMIN and NET_RAW to read the NAT rules" if settings.read_nat else "none"
        lines.append(
            f"per variant: create ConfigMap and DaemonSet {scenario.kube.namespace}/"
            f"{AGENT_NAME}-<variant> (image {settings.image or scenario.kube.image}; one pod a "
            f"node, host network, no service account token, not privileged, capabilities "
            f"added: {rights}); delete them at the variant's teardown"
        )
    if settings.host_nat and backend == "local":
        lines.append("read the node's NAT rules from this machine (iptables-save -t nat), only")
    return lines


def _namespace_lines(ns: str, existing: Mapping[str, Any] | None) -> list[str]:
    if existing:
        owner = run_of(existing)
        made = f"made by run {owner}" if owner else "not made by a run"
        return [f"namespace {ns} exists ({made}): used, never deleted by this run"]
    return [
        f"create Namespace {ns} labels {_labels(namespace_labels(RUN_ID))} at each variant's "
        "deploy, if it is missing then; delete it at the variant's teardown (by its UID)"
    ]


def _read_namespace(api: Api, ns: str, allow_namespace: str | None) -> list[str]:
    existing = api.read(NAMESPACE, ns)
    if existing:
        refused = foreign_namespace_refusal(existing, allow_namespace)
        if refused is not None:
            raise BackendError(refused)
    lines = _namespace_lines(ns, existing or None)
    if not existing:
        return lines
    lease = api.read(LEASE, LEASE_NAME, ns)
    if lease:
        held = holding(lease)
        if not held.free_for(RUN_ID, time.time()):
            lines.append(
                f"{refusal(ns, held, time.time()).removeprefix('kube: ')}: the run would watch "
                f"its Lease for {LEASE_DURATION_S} s at most, stop if it is renewed, take it "
                "over if not"
            )
        elif held.holder is not None:
            lines.append(f"take over the expired Lease {ns}/{LEASE_NAME} of run {held.holder}")
    # This run has made nothing yet: every drainlab object there is a gone run's.
    selector = selector_of(app_labels())
    for kind in MANAGED:
        for obj in api.list(kind, ns, label_selector=selector).get("items") or []:
            meta = obj.get("metadata") or {}
            lines.append(
                f"delete what a gone run left: {kind.name} {ns}/{meta.get('name')} "
                f"(run {run_of(obj) or 'unknown'}), then wait for its pods to go"
            )
    return lines


def _labels(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _detail(body: Mapping[str, Any]) -> str:
    spec = body.get("spec") or {}
    if body.get("kind") == "Deployment":
        return f", {spec.get('replicas')} replicas"
    ports = spec.get("ports") or [{}]
    node_port = ports[0].get("nodePort")
    return f", NodePort {node_port}" if node_port else ", NodePort chosen by the API server"
