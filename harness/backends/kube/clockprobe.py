"""A node's clock against this machine's, read through the API server: ``exec`` in a pod on the
node prints its ``time.time()``, between two readings of this machine's clock (harness.load.clocks
turns the three into an offset and its uncertainty). A few probes, the tightest one kept."""

from __future__ import annotations

import time

from kubernetes.stream import stream

from harness.backends.kube.api import Api
from harness.backends.kube.kinds import POD
from harness.errors import BackendError
from harness.load.clocks import ClockReading, best, cristian

PROBES = 3
_PRINT_TIME = ["python3", "-c", "import time; print(repr(time.time()))"]


def probe_clock(api: Api, namespace: str, pod: str, container: str) -> ClockReading:
    """The node's offset as seen from ``pod`` (a running container with python3)."""
    execute = api.method(POD, "connect_get", "exec")
    readings = []
    for _ in range(PROBES):
        before = time.time()
        try:
            out = stream(
                execute,
                pod,
                namespace,
                container=container,
                command=_PRINT_TIME,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _request_timeout=api.request_timeout_s,
            )
        except Exception as exc:  # the client raises ApiException, websocket and OS errors
            raise BackendError(f"kube: reading the clock in pod {pod}: {exc}") from None
        after = time.time()
        try:
            remote = float(str(out).strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BackendError(f"kube: pod {pod} printed no time: {str(out)[:200]!r}") from None
        readings.append(cristian(before, remote, after))
    return best(readings)
