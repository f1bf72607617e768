"""Clusters the harness can bring up itself, each behind one small protocol.

A provisioner makes sure its cluster is up (creating it, or finding it running) and hands the
kube backend a :class:`ClusterTarget`: which kubeconfig and context reach the API, and which host
the Services' nodePorts answer on. Everything after that is the one kube backend
(``harness.backends.kube``), whatever made the cluster. The provisioners, by ``--backend`` name:

- ``kind``: a kind cluster on this machine's Docker (kind.py);
- ``local``: the single-node cluster built here from Debian's packages (local.py).

The user's app images (``app.images``, ``app.image_archive``) reach the nodes through
:meth:`ClusterProvisioner.load_images`, which the kube backend calls before deploying (images.py).

A provisioner may offer more than its protocol: :class:`NatReader` (a node's NAT rules read from
outside the node, the data plane's ground truth) is one such capability, which only the local
cluster has; the kube side asks for it with ``isinstance(provisioner, NatReader)``.

``harness.backends.select`` maps each name to its provisioner: a new one is a module here and one
entry there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    """Where a running cluster is reached."""

    kubeconfig: Path | None  # None: KUBECONFIG or ~/.kube/config
    context: str
    node_host: str  # where NodePort Services answer: http://{node_host}:{nodePort}
    started: bool  # True when this ensure_up() created or started the cluster


class ClusterProvisioner(Protocol):
    """Brings one cluster up, or finds it up, and says where it is reached."""

    name: str  # the --backend name that selects it

    def ensure_up(self) -> ClusterTarget:
        """Blocks until the cluster is up; idempotent. BackendError (one line) when it cannot."""
        ...

    def load_images(self, images: Sequence[str], archive: Path | None) -> list[str]:
        """Once the cluster is up, before anything is deployed: makes the app's images (by
        reference, and those in an image archive) usable by the nodes without a registry;
        returns their references, normalized. BackendError (one line) when one cannot be, with
        nothing of it left in the cluster. See images.py."""
        ...


@runtime_checkable
class LoadImageMaker(Protocol):
    """An optional capability of a provisioner: it makes the load pods' image (python3, locust
    and drainlab's harness package) and puts it on its nodes, for ``traffic.from: cluster``
    without a ``traffic.load_image``. The local cluster has it (cluster-local/build-load-image.sh);
    kind could (docker build and kind load) but it cannot be tested here."""

    def load_image(self) -> str:
        """Makes the image (cached) and imports it; returns its reference. BackendError (one
        line) when it cannot."""
        ...


@runtime_checkable
class NatReader(Protocol):
    """An optional capability of a provisioner: it can read a node's NAT table from outside the
    node, so drainlab sees when the node's kube-proxy really stopped routing to an endpoint
    without anything running in the cluster (harness/dataplane/hostnat.py polls it, and
    harness/dataplane/natrules.py reads the Service's endpoints out of the text).

    The local cluster has it (its node's network namespace is on this machine). kind could
    (``docker exec <node> iptables-save -t nat`` runs the node image's own iptables, the variant
    its kube-proxy writes with) but does not: it cannot be tested here. A cluster elsewhere
    cannot: there the data-plane agent reads the rules inside each node."""

    def read_node_nat(self, node: str) -> str:
        """The node's ``iptables-save -t nat`` text. BackendError (one line) when it cannot be
        read: an unknown node, the cluster down, no iptables-save, a failed or hung read."""
        ...


def print_progress(line: str) -> None:
    """Where provisioners report their progress by default: stdout, as it happens."""
    print(line, flush=True)
