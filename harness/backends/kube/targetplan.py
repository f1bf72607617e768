"""``harness run --target ... --dry-run``: what a target run would read, make and delete.

Touches nothing. On a given context (``--backend kube``) it reads what the run reads first (the
guard's facts, the namespace, the Deployment, its Services, the Lease) and stops with the same
one line where the run would; for kind and the local cluster it reads nothing (the cluster may
not be up yet).
"""

from __future__ import annotations

import time

from harness.backends.kube.kinds import LEASE
from harness.backends.kube.lease import LEASE_NAME, holding, refusal
from harness.backends.kube.objects import LABEL_RUN, selector_of
from harness.backends.kube.target import preflight, target_name
from harness.backends.kube.twin import twin_labels, twin_name, twin_object
from harness.scenario import Scenario

RUN_ID = "<run id>"  # made when the run starts


def target_plan_lines(backend: str, scenario: Scenario, bring_up: str | None) -> list[str]:
    """One line per step of a target run; a one-line HarnessError where it would be refused."""
    kube = scenario.kube
    assert kube.target is not None
    ns, name = kube.namespace, target_name(kube.target)
    lines = [f"dry run of target deployment/{name} on the {backend} backend: nothing is changed"]
    if bring_up is not None:
        service = kube.target_service or "<its Service>"
        lines += [
            bring_up + "; not read in a dry run",
            f"find deployment/{name} in namespace {ns} and the Service selecting its pods "
            f"({service}); deploy nothing",
            f"create Service {ns}/{twin_name(service)} (NodePort, the same selector and ports) "
            f"labels {selector_of(twin_labels(service, RUN_ID))}; delete it at teardown (only "
            f"if it still carries {LABEL_RUN}={RUN_ID}, by UID)",
        ]
    else:
        api, why, found = preflight(kube)
        lines.append(f"context {api.conn.context} (server {api.conn.server}): {why}")
        twin = twin_object(found.service, RUN_ID)
        spec = twin["spec"]
        replicas = (found.deployment.get("spec") or {}).get("replicas")
        lines += [
            f"target deployment/{name} in namespace {ns} ({replicas} replicas, pods "
            f"{found.names.selector}); deploy nothing, never change it",
            f"traffic through the Service path: Service {ns}/{found.names.service} (its "
            "endpoints go to the timeline) and its twin",
            f"create Service {ns}/{twin['metadata']['name']} (NodePort, selector "
            f"{selector_of(spec['selector'])}, ports "
            f"{','.join(str(p.get('port')) for p in spec['ports'])}) labels "
            f"{selector_of(twin['metadata']['labels'])}; delete it at teardown (only if it "
            f"still carries {LABEL_RUN}={RUN_ID}, by UID)",
        ]
        lease = api.read(LEASE, LEASE_NAME, ns)
        if lease and not holding(lease).free_for(RUN_ID, time.time()):
            lines.append(refusal(ns, holding(lease), time.time()).removeprefix("kube: "))
    lines.append(
        f"create Lease {ns}/{LEASE_NAME} held by this run (one drainlab run per namespace); "
        "delete it at teardown"
    )
    action = scenario.chaos.action
    if action == "rolling_restart":
        lines.append(
            f"chaos {action}: patch deployment/{name}'s pod template annotation "
            "kubectl.kubernetes.io/restartedAt, as kubectl rollout restart does (this changes "
            "your Deployment)"
        )
    else:
        lines.append(
            f"chaos {action}: delete only pods owned by deployment/{name} (pod -> ReplicaSet "
            "-> Deployment, by UID, re-read before each delete)"
        )
    return lines
