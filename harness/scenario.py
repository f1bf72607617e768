"""Scenarios: what a run does, as plain data. Loaded from YAML and validated before anything starts.

Every default lives in the dataclasses below (the app and its variants in harness.appspec);
``harness/scenarios/default.yaml`` documents them for users. The mapping is turned into them by
harness.settings. An unknown key, a value of the wrong type, or a count or duration that is not
finite or lies outside its range (``BOUNDS``) is a one-line ``ScenarioError`` that names the key
(``traffic.users: expected an integer, got 'ten'``); the file itself is read by harness.yamlfile.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.appspec import CURRENT, MAX_VARIANTS, App, Variant, app_problems, variant_problems
from harness.backends.base import DeploySpec
from harness.chaos import (
    MAX_ACTIONS,
    Chaos,
    chaos_problems,
    schedule_offsets,
)
from harness.classify import ERROR_CLASSES
from harness.dataplane.settings import DataPlane, data_plane_problems
from harness.errors import ScenarioError, cut, shown
from harness.gate import GateLimits, evidence_limit_problems
from harness.kubeversion import DEFAULT_VERSION, parse_version, version_problem
from harness.load.mix import MS, request_problems
from harness.load.pacing import pacing_problems
from harness.load.traffic import SOURCES, Traffic
from harness.load.workers import workers_problem
from harness.matrix import Matrix, matrix_problems, scenario_cells, variant_of
from harness.orders import DEFAULT_ORDERS, ORDERS, sample_variant
from harness.pdb import pdb_problems
from harness.settings import DAY_S, HOUR_S, Bound, bound_problem, build, settings_dict
from harness.yamlfile import read_settings

SHUTDOWN_STRATEGIES = ("fixed", "quiet")

# Every count and duration: (lowest, highest, whether the lowest itself is allowed). The highest
# is more than a real run can need (default.yaml says so beside each key), so a typo such as an
# extra zero or 1e9 is a one-line error before anything starts, not a run that never ends.
BOUNDS: dict[str, Bound] = {
    "replicas": (0, 100, False),
    "duration_s": (0, DAY_S, False),
    "settle_timeout_s": (0, HOUR_S, False),
    "seed": (-(2**63), 2**63 - 1, True),
    "traffic.users": (0, 10_000, False),
    "traffic.spawn_rate": (0, 10_000, False),
    "traffic.fast_weight": (0, 1000, True),
    "traffic.slow_weight": (0, 1000, True),
    "traffic.rate_per_s": (0, 100_000, False),
    "traffic.slow_ms_min": (0, 30_000, True),
    "traffic.slow_ms_max": (0, 30_000, True),
    "traffic.wait_min_s": (0, HOUR_S, True),
    "traffic.wait_max_s": (0, HOUR_S, True),
    "traffic.timeout_s": (0, HOUR_S, False),
    "chaos.start_after_s": (0, DAY_S, True),
    "chaos.every_s": (0, DAY_S, False),
    "chaos.count": (0, MAX_ACTIONS, True),
    "chaos.grace_period_s": (0, HOUR_S, True),
    "chaos.scale_by": (0, 100, False),
    "chaos.restore_after_s": (0, DAY_S, True),
    "chaos.evict_retry_s": (0, HOUR_S, False),
    "chaos.evict_timeout_s": (0, HOUR_S, True),
    "chaos.uncordon_after_s": (0, DAY_S, True),
    "app.shutdown_delay_s": (0, HOUR_S, True),
    "app.quiet_period_s": (0, HOUR_S, True),
    "app.drain_timeout_s": (0, HOUR_S, True),
    "app.prestop_sleep_s": (0, HOUR_S, True),
    "app.grace_period_s": (0, HOUR_S, False),
    "embedded.propagation_min_s": (0, HOUR_S, True),
    "embedded.propagation_max_s": (0, HOUR_S, True),
    "kube.request_timeout_s": (0, HOUR_S, False),
}
# The same, for each entry of traffic.requests.
REQUEST_BOUNDS: dict[str, Bound] = {"weight": (0, 1000, True)}


@dataclass
class Embedded:
    propagation_min_s: float = 0.5  # delay before the Service proxy applies an endpoint change
    propagation_max_s: float = 1.5
    kubernetes_version: str = DEFAULT_VERSION  # its endpoint semantics: harness.kubeversion


@dataclass
class Kube:
    context: str | None = None
    namespace: str = "drainlab"
    allow_context: str | None = None  # a context that is neither kind nor made by the harness
    allow_namespace: str | None = None  # an existing namespace drainlab did not make
    # Where NodePort Services are reached from this machine; None: the API server's host (kind
    # maps both to 127.0.0.1, the local cluster serves both on its node address).
    node_host: str | None = None
    image: str = "drainlab/sample-app:0.1.0"
    request_timeout_s: float = 30.0  # one API call; longer counts as a failure and is retried
    # A Deployment that already runs ("deployment/NAME", in `namespace`): tested as it is,
    # nothing deployed (harness.backends.kube.target); target_service: which of its Services.
    target: str | None = None
    target_service: str | None = None


@dataclass
class Scenario:
    # The sample app's built-in variants to run (harness.orders); default: all four.
    orders: list[str] | None = None
    # Named changes to the app, run one after another (harness.appspec.Variant); default: the
    # sample app's `orders`, or your app as it is (one variant, "current").
    variants: dict[str, Variant] | None = None
    replicas: int = 3
    duration_s: float = 20.0
    settle_timeout_s: float = 60.0
    seed: int = 1
    traffic: Traffic = field(default_factory=Traffic)
    chaos: Chaos = field(default_factory=Chaos)
    app: App = field(default_factory=App)
    embedded: Embedded = field(default_factory=Embedded)
    kube: Kube = field(default_factory=Kube)
    data_plane: DataPlane = field(default_factory=DataPlane)  # the kube backend's node agent
    gate: GateLimits = field(default_factory=GateLimits)  # `harness run --gate` uses it
    matrix: Matrix = field(default_factory=Matrix)  # each variant per action/profile: matrix.py

    def variant_names(self) -> list[str]:
        """The variants a run deploys, in order."""
        if self.kube.target is not None:
            return [CURRENT]  # a running Deployment, as it is
        if self.variants is not None:
            return list(self.variants)
        if self.orders is not None:
            return list(self.orders)
        return list(DEFAULT_ORDERS) if self.app.is_sample else [CURRENT]

    def order_names(self) -> list[str]:
        """The orders a run runs, in order: the variants, or with a matrix its cells' orders."""
        return [c.order for c in scenario_cells(self)] or self.variant_names()

    def variant(self, name: str) -> Variant:
        """The change a variant makes. A sample-app variant named after an order starts from
        that order's settings; its own settings win."""
        own = (self.variants or {}).get(name, Variant())
        if not (self.app.is_sample and name in ORDERS):
            return own
        built_in = sample_variant(name, self.app)
        return dataclasses.replace(built_in, **_set_fields(own), env={**built_in.env, **own.env})

    def deploy_spec(self, name: str) -> DeploySpec:
        """One variant's pods as this scenario describes them."""
        return DeploySpec(variant=name, replicas=self.replicas, change=self.variant(name))

    def chaos_offsets(self) -> list[float]:
        """Seconds from load start at which chaos actions fire."""
        return schedule_offsets(self.chaos)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = settings_dict(self)  # under the YAML's keys (traffic.from)
        data["gate"] = self.gate.to_dict()  # plain lists, for YAML and JSON
        return data


def _set_fields(variant: Variant) -> dict[str, Any]:
    """The settings a variant names (env aside): those not left at None."""
    return {
        f.name: getattr(variant, f.name)
        for f in dataclasses.fields(variant)
        if f.name != "env" and getattr(variant, f.name) is not None
    }


def load_scenario(
    path: Path | None, overrides: dict[str, Any] | None = None, only: list[str] | None = None
) -> Scenario:
    """Reads a YAML scenario (or the defaults), applies dotted overrides, keeps ``only`` these
    variants (``--variants``) if given, validates the result."""
    raw: dict[str, Any] = read_settings(path) if path is not None else {}
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for depth, part in enumerate(parents, 1):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ScenarioError(f"{'.'.join(parents[:depth])}: expected a mapping")
        node[leaf] = value
    scenario: Scenario = build(Scenario, raw, "")
    if path is not None:
        _paths_beside(scenario, path.absolute().parent)
    if only is not None:
        _keep_only(scenario, only)
    if "order" not in (raw.get("gate") or {}):
        # No variant named for the gate: the sample app's graceful order, else the first variant.
        names = scenario.order_names()
        if names and scenario.gate.order not in names:
            # With a matrix: the default variant's first cell, if it runs.
            first = [n for n in names if variant_of(n) == scenario.gate.order] or names
            scenario.gate = dataclasses.replace(scenario.gate, order=first[0])
    validate(scenario)
    return scenario


def _keep_only(scenario: Scenario, only: list[str]) -> None:
    """Runs just ``only`` of the scenario's variants, in that order."""
    names = scenario.variant_names()
    unknown = [name for name in only if name not in names]
    if not only or unknown:
        raise ScenarioError(
            f"--variants: {shown(unknown[0] if unknown else '')} is not a variant of this "
            f"scenario (variants: {', '.join(names)})"
        )
    if scenario.variants is not None:
        scenario.variants = {name: scenario.variants[name] for name in only}
    elif scenario.app.is_sample and scenario.kube.target is None:
        scenario.orders = list(only)


def _paths_beside(scenario: Scenario, folder: Path) -> None:
    """Paths in a scenario (the app's program, workdir, manifests, image archive, a variant's
    patch) given relative mean beside the scenario file, wherever the harness is started from."""
    app = scenario.app
    app.command = _program_beside(folder, app.command)
    app.workdir = _beside(folder, app.workdir)
    app.manifests = _beside(folder, app.manifests)
    app.image_archive = _beside(folder, app.image_archive)
    for name, variant in (scenario.variants or {}).items():
        if variant.patch is not None:
            scenario.variants[name] = dataclasses.replace(  # type: ignore[index]
                variant, patch=_beside(folder, variant.patch)
            )


def _beside(folder: Path, path: str | None) -> str | None:
    if path is None or Path(path).is_absolute():
        return path
    return str(folder / path)


def _program_beside(folder: Path, command: list[str] | None) -> list[str] | None:
    """A scenario's ``app.command`` program given as a relative path (``./server``,
    ``bin/app``) means the file beside the scenario, wherever the harness is started from. A bare
    name (``python3``) is looked up on PATH as usual, and arguments are the app's business."""
    if not command or "/" not in command[0] or Path(command[0]).is_absolute():
        return command
    return [str(folder / command[0]), *command[1:]]


def validate(s: Scenario) -> None:
    """Checks that the values make sense together; raises a one-line ScenarioError."""
    problems = _out_of_bounds(s) + _variant_problems(s) + data_plane_problems(s.data_plane)
    problems += matrix_problems(s.matrix, s.chaos.pod)
    t = s.traffic
    problems += _traffic_problems(t)
    # A slow request must fit the drain, else the draining orders (graceful too) cut it at the
    # drain's end and exit 1; and it must fit the client's timeout, else every order counts the
    # scenario's own slow requests as timeouts. Either way the run would measure the scenario.
    draws_ms = any(MS in r.path for r in t.mix())  # only {ms} makes a request slow on purpose
    if draws_ms and t.slow_ms_max >= s.app.drain_timeout_s * 1000:
        problems.append(
            f"traffic.slow_ms_max ({t.slow_ms_max} ms) must be below app.drain_timeout_s "
            f"({s.app.drain_timeout_s:g} s): the draining orders would cut the slowest requests"
        )
    if draws_ms and t.slow_ms_max >= t.timeout_s * 1000:
        problems.append(
            f"traffic.slow_ms_max ({t.slow_ms_max} ms) must be below traffic.timeout_s "
            f"({t.timeout_s:g} s): the slowest requests would all count as timeouts"
        )
    problems += chaos_problems(s.chaos, s.duration_s, count_schedule=not problems)
    a = s.app
    if a.shutdown_strategy not in SHUTDOWN_STRATEGIES:
        problems.append(f"app.shutdown_strategy: expected one of {', '.join(SHUTDOWN_STRATEGIES)}")
    problems += app_problems(a) + pdb_problems(a.pdb)
    if a.command is not None and not any("{port}" in part for part in a.command):
        problems.append("app.command: must contain {port} so each pod can listen on its own port")
    if a.command is not None and any("\x00" in part for part in a.command):
        problems.append("app.command: a NUL character cannot be passed to a program")
    e = s.embedded
    if e.propagation_min_s > e.propagation_max_s:
        problems.append("embedded: need 0 <= propagation_min_s <= propagation_max_s")
    if parse_version(e.kubernetes_version) is None:
        problems.append(version_problem(e.kubernetes_version))
    g = s.gate
    if not problems and g.order not in s.order_names():
        problems.append(
            f"gate.order: {shown(g.order)} is not a variant of this run "
            f"(variants: {', '.join(s.order_names())})"
        )
    if g.max_failed is not None and g.max_failed < 0:
        problems.append("gate.max_failed: must be >= 0")
    if g.max_failure_rate is not None and not 0 <= g.max_failure_rate <= 1:
        problems.append("gate.max_failure_rate: must be between 0 and 1")
    unknown = [c for c in g.classes or () if c not in ERROR_CLASSES]
    if unknown:
        problems.append(f"gate.classes: unknown error class {shown(unknown[0])}")
    problems += [f"gate.{key}: {problem}" for key, problem in evidence_limit_problems(g)]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ScenarioError(problems[0] + more)


def _traffic_problems(t: Traffic) -> list[str]:
    """The traffic section's own problems (its numbers' bounds are BOUNDS' and REQUEST_BOUNDS')."""
    problems = []
    if t.requests is not None:
        for name in ("fast_weight", "slow_weight"):
            if getattr(t, name) is not None:
                problems.append(f"traffic.{name}: with traffic.requests, give each its weight")
        if not t.requests:
            problems.append("traffic.requests: list at least one request, or leave it out")
        for index, request in enumerate(t.requests):
            key = f"traffic.requests[{index}]"
            problems += request_problems(request, key)
            for name, limits in REQUEST_BOUNDS.items():
                problems += bound_problem(f"{key}.{name}", getattr(request, name), limits)
    if not problems and sum(r.weight for r in t.mix()) == 0:
        key = "traffic.requests" if t.requests else "traffic.fast_weight, slow_weight"
        problems.append(f"{key}: the weights must not all be 0")
    if t.slow_ms_min > t.slow_ms_max:
        problems.append("traffic: need 0 <= slow_ms_min <= slow_ms_max <= 30000")
    problems += pacing_problems(t.pacing, t.rate_per_s, t.wait_min_s, t.wait_max_s)
    problems += [p for p in [workers_problem(t.workers)] if p is not None]
    if t.source not in SOURCES:
        problems.append(
            f"traffic.from: expected one of {', '.join(SOURCES)}, got {shown(t.source)}"
        )
    wait_min_s, wait_max_s = t.think_s()
    if wait_min_s > wait_max_s:
        problems.append("traffic: need 0 <= wait_min_s <= wait_max_s")
    return problems


def _variant_problems(s: Scenario) -> list[str]:
    """orders or variants: which variants run, and what each changes."""
    problems = []
    if s.kube.target is not None and (s.orders is not None or s.variants is not None):
        problems.append("kube.target: tests the Deployment as it runs; drop orders/variants")
    if s.orders is not None and s.variants is not None:
        problems.append("orders: give orders (the sample app's variants) or variants, not both")
    if s.orders is not None and not s.app.is_sample:
        problems.append(
            "orders: names the sample app's built-in variants; name your app's under variants:"
        )
    if s.orders is not None:
        if not s.orders:
            problems.append("orders: name at least one order")
        for name in s.orders:
            if name not in ORDERS:
                problems.append(f"orders: unknown order {shown(name)} (known: {', '.join(ORDERS)})")
        if len(set(s.orders)) != len(s.orders):
            problems.append("orders: an order is listed twice")
    variants = s.variants or {}
    if s.variants is not None and not variants:
        problems.append("variants: name at least one variant (e.g. current: {})")
    if len(variants) > MAX_VARIANTS:
        problems.append(f"variants: {len(variants)} variants, at most {MAX_VARIANTS}")
    for name, variant in variants.items():
        problems += variant_problems(f"variants.{cut(name)}", name, variant)
    return problems


def _out_of_bounds(s: Scenario) -> list[str]:
    """One problem per BOUNDS key whose value is outside its range (NaN is outside any)."""
    problems = []
    for key, bound in BOUNDS.items():
        value: Any = s
        for part in key.split("."):
            value = getattr(value, part) if value is not None else None
        problems += bound_problem(key, value, bound)
    return problems
