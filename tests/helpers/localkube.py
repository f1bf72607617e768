"""kubectl against the local cluster, and a namespace of a test's own there (for the cluster
tests that run pods of their own)."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.backends.clusters.local import LocalCluster

KUBECTL = Path("/var/cache/drainlab/kubernetes-v1.20.2/bin/kubectl")


def kubectl(lc: LocalCluster, *args: str, timeout: float = 60) -> str:
    done = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(lc.kubeconfig), "--context", lc.context, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr.strip()}"
    return done.stdout


@contextmanager
def own_namespace(lc: LocalCluster, prefix: str) -> Iterator[str]:
    """A namespace the test creates, and deletes with everything in it at the end."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kubectl(lc, "create", "namespace", name)
    try:
        # v1.20 admits pods once the namespace's default service account has its token.
        deadline = time.monotonic() + 60
        while not kubectl(
            lc, "-n", name, "get", "sa", "default", "-o", "jsonpath={.secrets}",
            "--ignore-not-found",
        ):  # fmt: skip
            assert time.monotonic() < deadline, "no default service account token after 60 s"
            time.sleep(0.5)
        yield name
    finally:
        kubectl(lc, "delete", "namespace", name, "--wait=true", timeout=180)
