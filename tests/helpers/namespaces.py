"""A namespace on the local cluster that admits pods."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client


def wait_for_service_account(core: Any, namespace: str, timeout_s: float = 60.0) -> None:
    """Waits until the namespace's default service account has its token: before that, the API
    server refuses pods there (the ServiceAccount admission plugin), and on a busy machine the
    token controller can take seconds after the namespace is created."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if core.read_namespaced_service_account("default", namespace).secrets:
                return
        except client.exceptions.ApiException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no default service account token in {namespace}")
