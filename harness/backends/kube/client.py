"""Connecting to a kubeconfig context, and the raw-JSON calls the backend makes.

The backend reads API objects as plain JSON dicts (``_preload_content=False``), not the client's
models: the same code then reads every version of every object (v1.20's
``discovery.k8s.io/v1beta1`` EndpointSlices have no model in current clients) and nothing is
lost in conversion. Calls are blocking; the backend runs them in threads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes import config as _config
from kubernetes.config.config_exception import ConfigException

from harness.backends.kube.kubeconfig import Resolved, kubeconfig_files, resolve
from harness.backends.kube.kubeconfig import load as kubeconfig_load
from harness.errors import BackendError

# The config loader has no type hints; typed as Any here, once.
config: Any = _config


@dataclass(frozen=True, slots=True)
class Connection:
    api: Any  # kubernetes.client.ApiClient
    context: str
    server: str
    ca: bytes | None = None  # the cluster's CA (PEM) as the kubeconfig gives it


def list_contexts(kubeconfig: Path | None) -> tuple[list[str], str | None]:
    """The kubeconfig's contexts and its current one, merged as kubectl merges them
    (None: ``KUBECONFIG`` or ~/.kube/config; see kubeconfig.py)."""
    merged = kubeconfig_load(kubeconfig_files(kubeconfig))
    return sorted(merged.contexts), merged.current_context


def resolve_context(kubeconfig: Path | None, context: str | None) -> Resolved:
    """The context kubectl would use (``context``, else the current one), read only."""
    return resolve(kubeconfig_load(kubeconfig_files(kubeconfig)), context)


def connect(kubeconfig: Path | None, context: str | None) -> Connection:
    """An API client for ``context`` (None: the kubeconfig's current context, as kubectl picks it).

    A context that does not exist is a one-line error listing the ones that do. urllib3's own
    retries are off: retry.py is the one place that retries, and it logs each retry.
    """
    resolved = resolve_context(kubeconfig, context)
    configuration = client.Configuration()
    configuration.retries = 0
    try:
        api = config.new_client_from_config_dict(
            config_dict=resolved.config,
            context=resolved.context,
            persist_config=False,
            client_configuration=configuration,
        )
    except (ConfigException, OSError, ValueError) as exc:
        raise BackendError(
            f"kube: cannot use context {resolved.context!r}: {_first_line(exc)}"
        ) from None
    return Connection(
        api=api, context=resolved.context, server=str(api.configuration.host), ca=resolved.ca
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


REQUEST_TIMEOUT_S = 30.0  # one plain call (scenario kube.request_timeout_s); watches set their own


def raw(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Calls a generated API method and returns the response body as a JSON dict."""
    kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT_S)
    response = fn(*args, _preload_content=False, **kwargs)
    try:
        data = response.data
    finally:
        response.release_conn()
    loaded = json.loads(data) if data else {}
    return loaded if isinstance(loaded, dict) else {}


def served_group_versions(api: Any, timeout_s: float = REQUEST_TIMEOUT_S) -> set[str]:
    """Every ``group/version`` (and ``v1`` for the core group) the server serves."""
    served = {"v1"}
    body = raw(client.ApisApi(api).get_api_versions, _request_timeout=timeout_s)
    for group in body.get("groups") or []:
        for version in group.get("versions") or []:
            if version.get("groupVersion"):
                served.add(str(version["groupVersion"]))
    return served


def server_minor(api: Any, timeout_s: float = REQUEST_TIMEOUT_S) -> int | None:
    """The server's Kubernetes minor version (20 for v1.20.2), None if it does not say."""
    return server_version(api, timeout_s)[1]


def server_version(api: Any, timeout_s: float = REQUEST_TIMEOUT_S) -> tuple[str | None, int | None]:
    """The server's /version: its gitVersion ("v1.28.3", None if it does not say) and minor."""
    body = raw(client.VersionApi(api).get_code, _request_timeout=timeout_s)
    digits = "".join(ch for ch in str(body.get("minor") or "") if ch.isdigit())
    git = body.get("gitVersion")
    return (str(git) if git else None), (int(digits) if digits else None)
