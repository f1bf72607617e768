"""The app under test and its variants, as data: the scenario's ``app:`` and ``variants:``.

One description serves every backend:

- embedded: ``command`` (with ``{host}``/``{port}``), ``env``, ``workdir`` and the probes below,
  which the embedded kubelet runs with Kubernetes' semantics;
- kube, kind, local: ``manifests``, a YAML file or kustomize folder rendering one Deployment and
  one Service, deployed into drainlab's own namespace; their probes are read from the manifests.
  ``images`` (kind) and ``image_archive`` (local) bring the images to the nodes.

A **variant** is a named change to that app (env, args, preStop, grace period, probe settings, a
strategic merge patch of the Deployment); a run deploys each variant in turn and compares them.
The sample app is one app among others: with neither ``command`` nor ``manifests`` it is the app,
shipped with drainlab (harness.packaged), and its four shutdown orders are four built-in variants
(harness.orders); the scenario's ``orders:`` list names which of them run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Probe:
    """An HTTP GET probe with the kubelet's semantics: success is 200-399 within the timeout."""

    path: str = "/readyz"
    port: int | None = None  # None: the app's own port
    initial_delay_s: float = 0.0
    period_s: float = 0.5
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 1


@dataclass(frozen=True)
class ProbeChange:
    """A variant's change to one probe: the settings it names replace the app's, the rest stay."""

    path: str | None = None
    port: int | None = None
    initial_delay_s: float | None = None
    period_s: float | None = None
    timeout_s: float | None = None
    success_threshold: int | None = None
    failure_threshold: int | None = None

    def changes(self) -> dict[str, object]:
        """The settings this change names."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def applied_to(self, probe: Probe) -> Probe:
        return dataclasses.replace(probe, **self.changes())  # type: ignore[arg-type]


@dataclass(frozen=True)
class Variant:
    """A named change to the app. Every setting left unset keeps what the app has."""

    env: dict[str, str] = field(default_factory=dict)  # added to (or replacing) the app's env
    args: list[str] | None = None  # replaces the app's arguments (embedded: after the program)
    prestop_sleep_s: float | None = None  # a preStop hook `sleep N` (exec); 0: no hook
    prestop_command: list[str] | None = None  # a preStop exec hook of your own
    grace_period_s: float | None = None  # terminationGracePeriodSeconds
    readiness: ProbeChange | None = None
    liveness: ProbeChange | None = None
    startup: ProbeChange | None = None
    # kube, kind, local: a strategic merge patch of the Deployment (a YAML file; a relative path
    # is found beside the scenario).
    patch: str | None = None


# What a user's app is run as when the scenario names no variant: the app as it is.
CURRENT = "current"


@dataclass
class App:
    """The scenario's ``app:`` section (see the module docstring)."""

    # The sample app's own settings, read by its built-in variants (harness.orders); a user's
    # app takes its settings through env and variants instead.
    shutdown_delay_s: float = 5.0  # graceful: how long to keep serving after readiness fails
    shutdown_strategy: str = "fixed"  # fixed delay, or "quiet": until no new connection for a while
    quiet_period_s: float = 1.0
    drain_timeout_s: float = 20.0
    prestop_sleep_s: float = 5.0  # the prestop order's preStop sleep
    # terminationGracePeriodSeconds of the sample app and of `command:` apps (manifests carry
    # their own).
    grace_period_s: float = 30.0
    # embedded: your own app
    command: list[str] | None = None  # with {host} and {port}; a relative program: beside the file
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None  # the app's working directory (relative: beside the scenario)
    # kube, kind, local: your own app
    manifests: str | None = None  # a YAML file or kustomize folder (relative: beside the scenario)
    images: list[str] = field(default_factory=list)  # kind: loaded into the nodes before deploy
    image_archive: str | None = None  # local: a `docker save` or OCI archive imported into the node
    # embedded: the probes (on Kubernetes they come from the manifests)
    readiness: Probe = field(default_factory=Probe)
    liveness: Probe | None = None
    startup: Probe | None = None

    @property
    def is_sample(self) -> bool:
        """True when the app is drainlab's sample app (no command or manifests of the user's)."""
        return self.command is None and self.manifests is None
