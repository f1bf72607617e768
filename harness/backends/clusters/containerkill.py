"""Killing a pod's container from its node's container runtime: the ``crash`` disruption.

SIGKILL must come from outside the container: its PID 1 ignores every signal it has no handler
for when it is sent from inside its own PID namespace, SIGKILL included, so ``kubectl exec ...
kill -9 1`` does nothing. The node's runtime can send it, as the kernel's OOM killer or a crash
would end the process: ``ctr tasks kill --signal SIGKILL <container id>`` on the node's
containerd. The kubelet then sees the container exit and starts it again (restartPolicy Always);
the pod object is not deleted and no preStop hook runs.

A provisioner whose nodes' containerd is reachable from here offers :class:`ContainerKiller`
(the local cluster: its socket is on this machine); the kube backend refuses ``crash`` on any
other cluster, with one line saying why.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol, runtime_checkable

from harness.backends.clusters.tool import run_tool
from harness.errors import BackendError

NAMESPACE = "k8s.io"  # the CRI's containerd namespace
KILL_TIMEOUT_S = 30.0
CONTAINERD_PREFIX = "containerd://"  # how a pod's status names a containerd container
METHOD = "containerd task kill"


@runtime_checkable
class ContainerKiller(Protocol):
    """A cluster whose nodes' runtime the harness reaches: it can SIGKILL a container."""

    def kill_container(self, container_id: str) -> int | None:
        """SIGKILL to the container's process (``container_id`` as a pod's status gives it:
        ``containerd://<id>``); its PID when the runtime said. BackendError (one line)."""
        ...


def runtime_id(container_id: str, who: str) -> str:
    """The runtime's own id of a pod status' ``containerID``; BackendError unless containerd's."""
    if not container_id.startswith(CONTAINERD_PREFIX) or len(container_id) == len(
        CONTAINERD_PREFIX
    ):
        raise BackendError(
            f"{who}: cannot kill container {container_id or '(none)'}: not a containerd container"
        )
    return container_id.removeprefix(CONTAINERD_PREFIX)


def task_pid(tasks_ls: str, task: str) -> int | None:
    """The PID of ``task`` in ``ctr tasks ls`` output (TASK PID STATUS), None if not listed."""
    for row in tasks_ls.splitlines()[1:]:
        fields = row.split()
        if len(fields) >= 2 and fields[0] == task and fields[1].isdigit():
            return int(fields[1])
    return None


def kill_task(socket: Path, container_id: str, who: str) -> int | None:
    """SIGKILL to a containerd container's task through ``socket``; its PID when listed."""
    task = runtime_id(container_id, who)
    ctr = shutil.which("ctr")
    if ctr is None:
        raise BackendError(f"{who}: cannot kill a container: `ctr` (containerd's CLI) not on PATH")
    base = [ctr, "--address", str(socket), "-n", NAMESPACE, "tasks"]
    pid = task_pid(run_tool(who, "list tasks", [*base, "ls"], KILL_TIMEOUT_S), task)
    argv = [*base, "kill", "--signal", "SIGKILL", task]
    run_tool(who, f"kill container {task[:12]}", argv, KILL_TIMEOUT_S, label="ctr tasks kill")
    return pid


class KillsThroughNodeContainerd:
    """:class:`ContainerKiller` for the local cluster, whose node's containerd socket is here."""

    def kill_container(self, container_id: str) -> int | None:
        # Imported here: local.py imports this module to offer the capability.
        from harness.backends.clusters.local import containerd_socket

        return kill_task(containerd_socket(), container_id, "local cluster")
