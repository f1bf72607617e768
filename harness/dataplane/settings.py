"""The scenario's ``data_plane:`` section: how the kube backend watches each node's proxy.

Its defaults are documented for users in harness/scenarios/default.yaml; harness.scenario builds
and validates it with the rest of the scenario.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import shown
from harness.settings import Bound, bound_problem

INTERVAL_MS: Bound = (10, 60_000, True)
# An image reference: no whitespace, no control character (what the API would refuse later).
IMAGE = re.compile(r"[^\s\x00-\x1f]{1,512}")


@dataclass
class DataPlane:
    agent: bool = True  # the node agent (a DaemonSet) that watches kube-proxy
    read_nat: bool = False  # the agent may read the node's NAT rules (NET_ADMIN, NET_RAW)
    host_nat: bool = True  # on the local cluster, read each node's NAT rules from the host
    interval_ms: float = 50.0  # how often each observer reads
    image: str | None = None  # the agent's image (with python3); None: the sample app's


def data_plane_problems(d: DataPlane) -> list[str]:
    """The section's problems, one line each."""
    problems = bound_problem("data_plane.interval_ms", d.interval_ms, INTERVAL_MS)
    if d.read_nat and not d.agent:
        problems.append("data_plane.read_nat: the agent reads the NAT rules; set agent: true")
    if d.image is not None and not IMAGE.fullmatch(d.image):
        problems.append(f"data_plane.image: not an image reference: {shown(d.image)}")
    return problems
