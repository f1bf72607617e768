"""The resource kinds the kube backend touches, as data: which generated API serves each, and how
its methods are named.

The official client has one method per verb and kind (``read_namespaced_deployment``,
``list_node``...). A :class:`Kind` names the API class and the methods' suffix, so the API
client (api.py) reaches every kind with the same few verbs, and a new kind is one entry here.
EndpointSlices are the exception the client serves through ``CustomObjectsApi``: the version the
server has is only known at run time (:func:`endpoint_slices`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Kind:
    name: str  # as messages and logs say it: "deployment", "service account"
    plural: str  # as messages about lists say it: "pods"
    api: str  # the kubernetes.client class that serves it: "CoreV1Api", "AppsV1Api"
    method: str  # the generated methods' suffix: read_<method>, create_<method>, list_<method>
    namespaced: bool = True
    # Spec fields a replace must repeat from the existing object: they are immutable once set.
    kept_on_replace: tuple[str, ...] = ()
    # For kinds served through CustomObjectsApi: "group/version" (the method then takes the
    # group, the version and the plural before its own arguments).
    group_version: str | None = None


NAMESPACE = Kind("namespace", "namespaces", "CoreV1Api", "namespace", namespaced=False)
NODE = Kind("node", "nodes", "CoreV1Api", "node", namespaced=False)
POD = Kind("pod", "pods", "CoreV1Api", "namespaced_pod")
SERVICE_ACCOUNT = Kind(
    "service account", "service accounts", "CoreV1Api", "namespaced_service_account"
)
EVENT = Kind("event", "events", "CoreV1Api", "namespaced_event")
ENDPOINTS = Kind("endpoints", "endpoints", "CoreV1Api", "namespaced_endpoints")
LEASE = Kind("lease", "leases", "CoordinationV1Api", "namespaced_lease")
DEPLOYMENT = Kind("deployment", "deployments", "AppsV1Api", "namespaced_deployment")
DAEMON_SET = Kind("daemon set", "daemon sets", "AppsV1Api", "namespaced_daemon_set")
CONFIG_MAP = Kind("config map", "config maps", "CoreV1Api", "namespaced_config_map")
# clusterIP is immutable: a replace must repeat it (and clusterIPs on 1.20+).
SERVICE = Kind(
    "service",
    "services",
    "CoreV1Api",
    "namespaced_service",
    kept_on_replace=("clusterIP", "clusterIPs"),
)


def endpoint_slices(group_version: str) -> Kind:
    """EndpointSlices of ``discovery.k8s.io/v1`` or ``/v1beta1``, whichever the server serves."""
    return Kind(
        "endpointslice",
        "endpointslices",
        "CustomObjectsApi",
        "namespaced_custom_object",
        group_version=group_version,
    )
