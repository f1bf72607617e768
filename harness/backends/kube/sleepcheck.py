"""Whether the app's image has a ``sleep`` program, asked of a running pod before teardown.

A preStop ``exec`` of ``sleep`` (the spelling for servers before 1.30, harness.fixes.patch)
fails at once in an image without one (distroless, scratch): the hook fails, SIGTERM comes at the
delete, and the fix does nothing. So while a pod of the variant still runs, drainlab runs
``sleep 0`` in its app container (the Kubernetes exec API, as ``kubectl exec`` does) and the fix
says what it found: ``present``, ``absent: <what the runtime said>``, or ``not checked: <why>``.
"""

from __future__ import annotations

import logging
from typing import Any

import yaml

from harness.backends.kube import checks
from harness.backends.kube.api import Api
from harness.backends.kube.manifests import Obj
from harness.backends.kube.objects import Names
from harness.errors import one_line

log = logging.getLogger(__name__)

PRESENT = "present"
_ERROR_CHANNEL = 3
# The check runs in teardown, also of a run being stopped: it must not hold that up for long.
MAX_WAIT_S = 10.0


def in_running_pod(api: Api, names: Names, container: Obj, timeout_s: float) -> str:
    """The check in one ready, not terminating pod of the variant; never raises (it runs in
    teardown, whatever ended the variant)."""
    name = container.get("name")
    if not name:
        return "not checked: the variant was not deployed"
    try:
        pods = [p for p in checks.pod_infos(api, names) if p.ready and not p.terminating]
    except Exception as exc:  # teardown goes on whatever the API said
        return f"not checked: listing the pods failed ({one_line(str(exc))[:160]})"
    if not pods:
        return "not checked: no pod of the variant was running at teardown"
    wait = min(timeout_s, MAX_WAIT_S)
    return sleep_binary(api.conn.api, names.namespace, pods[-1].name, str(name), wait)


def sleep_binary(
    api_client: Any, namespace: str, pod: str, container: str, timeout_s: float
) -> str:
    """``present``, ``absent: ...`` or ``not checked: ...`` for ``sleep`` in ``container``."""
    from kubernetes import client
    from kubernetes.stream import stream

    try:
        ws = stream(
            client.CoreV1Api(api_client).connect_get_namespaced_pod_exec,
            pod,
            namespace,
            container=container,
            command=["sleep", "0"],
            stdin=False,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
            _request_timeout=timeout_s,
        )
        ws.run_forever(timeout=timeout_s)
        status = ws.read_channel(_ERROR_CHANNEL)
        ws.close()
    except Exception as exc:  # the exec API refused or the connection failed: say so
        log.info("sleep check in %s/%s: %s", namespace, pod, exc)
        return f"not checked: exec in pod {pod} failed ({one_line(str(exc))[:160]})"
    return sleep_verdict(status, pod)


def sleep_verdict(status_text: str, pod: str) -> str:
    """The verdict from the exec API's status channel (a v1 Status as YAML/JSON)."""
    try:
        status = yaml.safe_load(status_text) if status_text else None
    except yaml.YAMLError:
        status = None
    if not isinstance(status, dict):
        return f"not checked: no exit status from the exec in pod {pod}"
    if status.get("status") == "Success" or status.get("reason") == "NonZeroExitCode":
        return PRESENT  # it ran (`sleep 0` exits 0; any exit code means it exists)
    message = one_line(str(status.get("message") or "the exec failed"))
    return f"absent: `sleep 0` in pod {pod}: {message[:200]}"
