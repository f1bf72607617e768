"""Pod addresses: a distinct loopback address per pod, and a free port on it.

Linux routes all of 127.0.0.0/8 to the loopback interface, so every pod can have its own "pod IP"
(127.77.x.y) as it would in a cluster, which keeps pods apart in logs and in `ss` output. Where
binding such an address fails (macOS only has 127.0.0.1 unless aliases are added), every pod
gets a distinct port on 127.0.0.1 instead.
"""

from __future__ import annotations

import itertools
import random
import socket
from collections.abc import Iterator

FALLBACK_HOST = "127.0.0.1"
_SUBNET = (127, 77)
_HOSTS_PER_SUBNET = 250 * 250

_alias_usable: bool | None = None
# Shared by every backend in the process, and started at a random place so that colleagues'
# concurrent runs rarely pick the same address (a clash would still be harmless: the port is
# checked free on that address).
_counter: Iterator[int] = itertools.count(random.SystemRandom().randrange(_HOSTS_PER_SUBNET))


def loopback_aliases_usable() -> bool:
    """True when this machine lets us bind 127.77.x.y (checked once)."""
    global _alias_usable
    if _alias_usable is None:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((_address(0), 0))
            _alias_usable = True
        except OSError:
            _alias_usable = False
    return _alias_usable


def next_pod_host() -> str:
    """A loopback address for a new pod: its own 127.77.x.y, or 127.0.0.1 as the fallback."""
    if not loopback_aliases_usable():
        return FALLBACK_HOST
    return _address(next(_counter) % _HOSTS_PER_SUBNET)


def free_port(host: str) -> int:
    """A port nothing listens on at ``host`` right now.

    The app binds it a moment later; if someone else takes it in between, the app fails to start,
    and the pod's container restart picks a new port (see pod.py), as a crash would in a cluster.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _address(n: int) -> str:
    # 1..250 in the last two octets: avoids .0 and .255, which look like network/broadcast.
    return f"{_SUBNET[0]}.{_SUBNET[1]}.{n // 250 + 1}.{n % 250 + 1}"
