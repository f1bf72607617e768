"""Fixtures of the backend tests that talk to the local real cluster."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from harness.backends.clusters.local import LocalCluster


@pytest.fixture
def api(local_cluster: LocalCluster) -> client.ApiClient:
    """The official client, on the local cluster's kubeconfig and context."""
    api_client: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(local_cluster.kubeconfig), context=local_cluster.context
    )
    return api_client


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> Iterator[str]:
    """A namespace name nothing uses yet; deleted after the test if anything made it."""
    name = f"drainlab-t-{uuid.uuid4().hex[:8]}"
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        assert exc.status == 404
