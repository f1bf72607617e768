"""The embedded backend: pods as local processes behind a kube-proxy-like Service proxy.

What ``make chaos`` runs where no cluster is available, and what most tests use. See backend.py
for the model and the constructor, proxy.py for what the proxy can and cannot reproduce.
"""

from harness.backends.embedded.app import default_app_command
from harness.backends.embedded.backend import EmbeddedBackend
from harness.backends.embedded.proxy import Endpoint, ProxyStats, Route, ServiceProxy

__all__ = [
    "EmbeddedBackend",
    "Endpoint",
    "ProxyStats",
    "Route",
    "ServiceProxy",
    "default_app_command",
]
