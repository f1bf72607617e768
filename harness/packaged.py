"""Where drainlab's shipped files are: the sample app, its manifests, the default scenario and the
local cluster's scripts. Every caller finds them here and nowhere else.

=======================  ==============================  =================================
function                 in a checkout                   installed (pip), below harness/
=======================  ==============================  =================================
sample_app_path()        sample-app/app.py               sample_app/app.py
sample_manifests_dir()   manifests/base/                 sample_manifests/base/
kind_config_path()       manifests/kind-config.yaml      sample_manifests/kind-config.yaml
cluster_local_dir()      cluster-local/                  cluster_local/
default_scenario_path()  harness/scenarios/default.yaml  scenarios/default.yaml
=======================  ==============================  =================================

The repository keeps sample-app/, manifests/ and cluster-local/ at its root; setup.py maps them
into the package at build time (package data). An installed harness finds them through the import
system; a checkout's harness (editable install, or PYTHONPATH) has no such packages (setuptools'
editable finder does not resolve a data folder mapped below a regular package), so it uses the
folders beside harness/ — the same files the checkout's own code ships with.

The functions only say where a file should be: callers check that it exists and say what is
missing in their own words.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_HARNESS = Path(__file__).resolve().parent
_CHECKOUT = _HARNESS.parent


def _shipped(package: str, folder: str) -> Path:
    """The folder the build maps to ``package``: installed, the package's own folder; in a
    checkout, ``folder`` at its root."""
    # importlib.resources.files() of a folder without __init__.py is a MultiplexedPath on Python
    # 3.10/3.11, not a path a subprocess (bash, docker build) can be given; the import system's
    # search location is the same folder as a plain path.
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return _CHECKOUT / folder


def sample_app_path() -> Path:
    """The sample app's program (aiohttp; run as ``python app.py --host H --port P``); its
    Dockerfile and README lie beside it."""
    return _shipped("harness.sample_app", "sample-app") / "app.py"


def sample_manifests_dir() -> Path:
    """The sample app's kustomize base: its Deployment and Service (the orders' overlays lie in
    ../overlays)."""
    return _shipped("harness.sample_manifests", "manifests") / "base"


def kind_config_path() -> Path:
    """The kind cluster drainlab creates: one control plane, two workers, nodePorts mapped to
    127.0.0.1."""
    return _shipped("harness.sample_manifests", "manifests") / "kind-config.yaml"


def cluster_local_dir() -> Path:
    """The local cluster's scripts (up.sh, down.sh, status.sh, ...; see its README.md)."""
    return _shipped("harness.cluster_local", "cluster-local")


def default_scenario_path() -> Path:
    """The default scenario: every key with its default and meaning."""
    return _HARNESS / "scenarios" / "default.yaml"
