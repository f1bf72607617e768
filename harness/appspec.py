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
import re
from dataclasses import dataclass, field

from harness.errors import shown
from harness.settings import HOUR_S, Bound, bound_problem


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
    # kind and local: a `docker save` or OCI layout archive imported into the nodes before deploy
    image_archive: str | None = None
    # kube: a PodDisruptionBudget for the app's pods: {min_available: N} or {max_unavailable: N}
    pdb: dict[str, str] | None = None
    # embedded: the probes (on Kubernetes they come from the manifests)
    readiness: Probe = field(default_factory=Probe)
    liveness: Probe | None = None
    startup: Probe | None = None

    @property
    def is_sample(self) -> bool:
        """True when the app is drainlab's sample app (no command or manifests of the user's)."""
        return self.command is None and self.manifests is None


PROBES = ("readiness", "liveness", "startup")
PROBE_BOUNDS: dict[str, Bound] = {
    "port": (0, 65535, False),
    "initial_delay_s": (0, HOUR_S, True),
    "period_s": (0, HOUR_S, False),
    "timeout_s": (0, HOUR_S, False),
    "success_threshold": (0, 100, False),
    "failure_threshold": (0, 100, False),
}
VARIANT_BOUNDS: dict[str, Bound] = {
    "prestop_sleep_s": (0, HOUR_S, True),
    "grace_period_s": (0, HOUR_S, True),
}
MAX_VARIANTS = 20

# A variant's name goes into object names, label values and file names: a DNS label, short
# enough that "<app>-<variant>" stays one.
_VARIANT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def variant_problems(key: str, name: str, variant: Variant) -> list[str]:
    """A variant's problems, each one line naming the key."""
    problems = []
    if not _VARIANT_NAME.fullmatch(name):
        problems.append(
            f"{key}: a variant's name is 1-30 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    for setting, bound in VARIANT_BOUNDS.items():
        problems += bound_problem(f"{key}.{setting}", getattr(variant, setting), bound)
    if variant.prestop_sleep_s and variant.prestop_command:
        problems.append(f"{key}: give prestop_sleep_s or prestop_command, not both")
    if variant.prestop_command is not None and not variant.prestop_command:
        problems.append(f"{key}.prestop_command: name the program to run")
    problems += _env_problems(f"{key}.env", variant.env)
    for probe in PROBES:
        change: ProbeChange | None = getattr(variant, probe)
        if change is not None:
            problems += _probe_problems(f"{key}.{probe}", change)
    return problems


def app_problems(a: App) -> list[str]:
    """The app section's problems, each one line naming the key."""
    problems = _env_problems("app.env", a.env)
    for probe in PROBES:
        settings: Probe | None = getattr(a, probe)
        if settings is not None:
            problems += _probe_problems(f"app.{probe}", settings)
    if a.command is not None and not a.command:
        problems.append("app.command: name the program to run")
    return problems


def _env_problems(key: str, env: dict[str, str]) -> list[str]:
    bad = [name for name in env if not _ENV_NAME.fullmatch(name)]
    if bad:
        return [f"{key}: {shown(bad[0])} is not an environment variable name"]
    if any("\x00" in value for value in env.values()):
        return [f"{key}: a NUL character cannot be passed to a program"]
    return []


def _probe_problems(key: str, probe: Probe | ProbeChange) -> list[str]:
    problems = []
    if probe.path is not None and not probe.path.startswith("/"):
        problems.append(f"{key}.path: must start with '/', got {shown(probe.path)}")
    for setting, bound in PROBE_BOUNDS.items():
        problems += bound_problem(f"{key}.{setting}", getattr(probe, setting), bound)
    return problems
