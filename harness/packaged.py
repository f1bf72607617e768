"""Where the files drainlab ships beside its code are: the sample app, its manifests, the
default scenario and the local cluster's scripts. The one place that knows; everything else asks.
"""

from __future__ import annotations

from pathlib import Path

import harness

_PACKAGE = Path(harness.__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def sample_app_path() -> Path:
    """The sample app's program (run by the embedded backend, built into its image)."""
    return _CHECKOUT / "sample-app" / "app.py"


def sample_manifests_dir() -> Path:
    """The sample app's kustomize base: its Deployment and Service."""
    return _CHECKOUT / "manifests" / "base"


def default_scenario_path() -> Path:
    """The default scenario, every key documented."""
    return _PACKAGE / "scenarios" / "default.yaml"


def cluster_local_dir() -> Path:
    """The local cluster's scripts (cluster-local/)."""
    return _CHECKOUT / "cluster-local"
