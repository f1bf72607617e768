"""The kube backend: any app (its manifests) on any Kubernetes cluster, through the official client.

Generic building blocks, which know nothing of orders or timelines: kubeconfig (reading
kubeconfig files as kubectl does), client (connecting to a context, raw-JSON calls), retry (the
retry policy), kinds (the resource kinds as data), api (the small API client: a few verbs on any
kind, with retries), watch (list-then-watch threads), logs (following container logs).

The engine that uses them: guard (which contexts and namespaces are allowed), contextcheck (the
guard on a live connection), lease (one run per namespace), manifests (the app's manifests
rendered into one Deployment and one Service), variant (a variant's change applied to them),
adapt (both adapted to the run: namespace, names, labels, NodePort), objects (names, labels, the
run id and what a run owns), readiness (the probe path waited on, and what a probe that never
passes answered), apply (making them), checks (what deploy,
restart and teardown wait for), cleanup (removing them, and what a killed run left), stamps (the
time rule), podstate / endpointstate / podevents (API objects → timeline events), rolloutstatus
(rollout and readiness of API objects), session (one deployed order's observers), backend (the
Backend protocol), plan (what ``harness run --dry-run`` prints).

``--target deployment/NAME`` (a Deployment that already runs, nothing deployed): target (the
backend for it), twin (the user's Service and its NodePort twin), ownership (pod → ReplicaSet →
Deployment, checked before each delete), targetplan (its dry run).
"""

from harness.backends.kube.backend import KubeBackend

__all__ = ["KubeBackend"]
