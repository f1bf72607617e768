"""The kube backend: the sample app on any Kubernetes cluster, through the official client.

Modules, one job each: client (kubeconfig contexts, raw-JSON calls), guard (which contexts are
allowed), retry (the retry policy), objects (the Deployment/Service/Namespace of an order),
watch (list-then-watch threads), logs (following container logs), stamps (the time rule),
podstate / endpointstate / podevents (API objects → timeline events), rolloutstatus (rollout
and readiness checks), session (one deployed order's observers), backend (the Backend protocol).
"""

from harness.backends.kube.backend import KubeBackend

__all__ = ["KubeBackend"]
