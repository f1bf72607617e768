"""Endpoint semantics by Kubernetes version: what the embedded Service does with terminating pods.

The scenario's ``embedded.kubernetes_version`` ("1.20" by default) picks the profile:

- **EndpointSlice conditions** (KEP-1672, "Tracking Terminating Endpoints"): from 1.22 (the
  EndpointSliceTerminatingCondition gate, alpha in 1.20 and 1.21, on by default from 1.22) a
  terminating pod stays in its EndpointSlice with ``ready: false``, ``serving`` (its readiness
  probe's verdict) and ``terminating: true``. Before, it leaves the slice at once, and no
  condition but readiness is published (the events then carry ``serving``/``terminating`` null).
- **Proxying to terminating endpoints** (KEP-1669, ProxyTerminatingEndpoints: beta and on by
  default from 1.26, GA in 1.28): when a Service has no ready endpoint, kube-proxy sends new
  connections to its serving-terminating ones instead of rejecting them. Up to 1.25 terminating
  endpoints are never used (dropped at once). A pod that fails its readiness on SIGTERM (the
  sample app's graceful order) is no longer serving, so it opts out of that fallback.

Only the minor matters: "1.20", "1.28", "1.28.3" and "v1.28" are read alike.

A run states the semantics it had (:class:`RunSemantics`, summary.json's ``semantics``): the
embedded backend its profile, the kube backend the server's version (``/version``'s gitVersion)
and what that version implies. Feature gates are not visible from outside the control plane;
whether the server did publish the conditions is read from the run's endpoint events
(``harness.analysis.semantics``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.errors import shown

DEFAULT_VERSION = "1.20"
CONDITIONS_FROM = 22  # KEP-1672 on by default
FALLBACK_FROM = 26  # KEP-1669 on by default (GA in 1.28)
_VERSION = re.compile(r"v?1\.(\d{1,3})(?:\.\d{1,4})?")
OLDEST, NEWEST = 16, 99


@dataclass(frozen=True, slots=True)
class EndpointSemantics:
    minor: int

    @property
    def publishes_conditions(self) -> bool:
        """Terminating endpoints stay in the slice with serving/terminating conditions."""
        return self.minor >= CONDITIONS_FROM

    @property
    def serving_terminating_fallback(self) -> bool:
        """With no ready endpoint, the proxy uses the serving-terminating ones."""
        return self.minor >= FALLBACK_FROM

    @property
    def name(self) -> str:
        return f"1.{self.minor}"


EMBEDDED_SOURCE = "embedded profile"
SERVER_SOURCE = "server"


@dataclass(frozen=True, slots=True)
class RunSemantics:
    """The endpoint semantics a run had, as its backend states them."""

    source: str  # EMBEDDED_SOURCE or SERVER_SOURCE
    version: str | None  # the profile ("1.28") or the server's gitVersion ("v1.28.3")
    profile: EndpointSemantics | None  # None: the server did not say its version

    def block(self) -> dict[str, Any]:
        """summary.json's ``semantics``, but ``conditions_seen`` (the run's events say it)."""
        profile = self.profile
        return {
            "source": self.source,
            "version": self.version,
            "profile": profile.name if profile else None,
            "conditions": profile.publishes_conditions if profile else None,
            "fallback": profile.serving_terminating_fallback if profile else None,
            "reason": None if profile else "the server did not say its version",
        }


def embedded_semantics(version: str) -> RunSemantics:
    """The embedded backend's: its ``embedded.kubernetes_version`` profile."""
    profile = semantics(version)
    return RunSemantics(EMBEDDED_SOURCE, profile.name, profile)


def server_semantics(git_version: str | None, minor: int | None) -> RunSemantics:
    """A cluster's: its /version (gitVersion, and the minor it gives apart)."""
    profile = EndpointSemantics(minor) if minor is not None else None
    if profile is None and git_version:
        profile = parse_version(git_version.split("+")[0].split("-")[0])
    return RunSemantics(SERVER_SOURCE, git_version, profile)


def parse_version(text: str) -> EndpointSemantics | None:
    """The profile of a version string; None when it is none of 1.16 to 1.99."""
    match = _VERSION.fullmatch(text.strip())
    if match is None or not OLDEST <= int(match.group(1)) <= NEWEST:
        return None
    return EndpointSemantics(int(match.group(1)))


def semantics(text: str) -> EndpointSemantics:
    profile = parse_version(text)
    if profile is None:
        raise ValueError(version_problem(text))
    return profile


def version_problem(text: str) -> str:
    return (
        f"embedded.kubernetes_version: expected a version like '1.20' or '1.28' "
        f"(1.{OLDEST} to 1.{NEWEST}), got {shown(text)}"
    )
