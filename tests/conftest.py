"""Shared pytest fixtures.

``local_cluster``: the real single-node Kubernetes built on this machine (cluster-local/). It is
brought up once per session, on first use, and torn down at the end if this session started it
(set DRAINLAB_KEEP_CLUSTER=1 to leave it running). On a fresh machine the first bring-up installs
packages and builds Kubernetes (about ten minutes on 2 cores): its progress lines are shown as
they come. Machines that cannot run it at all (not Linux, not root) skip the tests that use it;
anywhere else a failed bring-up is an error, never a skip.

``restore_log_handlers``: for tests that call `harness run` in-process (it adds a handler).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator

import pytest

from harness.backends.clusters import local
from harness.backends.clusters.local import LocalCluster
from harness.logsetup import ROOT_LOGGER


def _printer(config: pytest.Config) -> local.Progress:
    """Print lines past pytest's output capture, so a long first build shows its progress."""
    capman = config.pluginmanager.getplugin("capturemanager")

    def progress(line: str) -> None:
        if capman is None:
            print(line, file=sys.stderr, flush=True)
            return
        with capman.global_and_fixture_disabled():
            print(line, file=sys.stderr, flush=True)

    return progress


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need the local cluster run after the others, so that its first build (started
    in the background by .ci/run) overlaps them; those marked ``last`` run after all (they take
    shared things down and up). Otherwise the files' order."""

    def phase(item: pytest.Item) -> tuple[bool, bool]:
        marked = {mark.name for mark in item.iter_markers()}
        return "last" in marked, "cluster" in marked

    items.sort(key=phase)


@pytest.fixture
def restore_log_handlers() -> Iterator[None]:
    """`harness run` routes warnings to its Console; keep that handler out of later tests."""
    logger = logging.getLogger(ROOT_LOGGER)
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.fixture(scope="session")
def local_cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    reason = local.unsupported_reason()
    if reason is not None:
        pytest.skip(reason)
    progress = _printer(request.config)
    cluster = local.ensure_up(progress)
    yield cluster
    if cluster.started and os.environ.get("DRAINLAB_KEEP_CLUSTER", "") in ("", "0"):
        local.teardown(progress)
