"""Scenarios: what a run does, as plain data. Loaded from YAML and validated before anything starts.

Every default lives here, in the dataclasses below; ``harness/scenarios/default.yaml`` documents
them for users. An unknown key, a value of the wrong type, or a count or duration that is not
finite or lies outside its range (``BOUNDS``) is a one-line ``ScenarioError`` that names the key
(``traffic.users: expected an integer, got 'ten'``); the file itself is read by harness.yamlfile.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.appspec import CURRENT, App, Probe, ProbeChange, Variant
from harness.backends.base import DeploySpec
from harness.chaos import (
    ACTIONS,
    MAX_ACTIONS,
    Chaos,
    actions_from,
    last_offset,
    planned_actions,
    schedule_offsets,
)
from harness.classify import ERROR_CLASSES
from harness.errors import ScenarioError, cut, shown
from harness.gate import GateLimits
from harness.load.mix import MS, Request, request_problems, sample_app_mix
from harness.orders import DEFAULT_ORDERS, ORDERS, sample_variant
from harness.yamlfile import read_settings

SHUTDOWN_STRATEGIES = ("fixed", "quiet")

HOUR_S, DAY_S = 3600.0, 86400.0
PROBES = ("readiness", "liveness", "startup")
PROBE_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "port": (0, 65535, False),
    "initial_delay_s": (0, HOUR_S, True),
    "period_s": (0, HOUR_S, False),
    "timeout_s": (0, HOUR_S, False),
    "success_threshold": (0, 100, False),
    "failure_threshold": (0, 100, False),
}
VARIANT_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "prestop_sleep_s": (0, HOUR_S, True),
    "grace_period_s": (0, HOUR_S, True),
}
MAX_VARIANTS = 20
# Every count and duration: (lowest, highest, whether the lowest itself is allowed). The highest
# is more than a real run can need (default.yaml says so beside each key), so a typo such as an
# extra zero or 1e9 is a one-line error before anything starts, not a run that never ends.
BOUNDS: dict[str, tuple[float, float, bool]] = {
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
REQUEST_BOUNDS: dict[str, tuple[float, float, bool]] = {"weight": (0, 1000, True)}


@dataclass
class Traffic:
    users: int = 10
    spawn_rate: float = 10.0
    keepalive: bool = True  # False: a new connection per request (a request may override it)
    requests: list[Request] | None = None  # what users send, by weight; None: the sample app's mix
    fast_weight: int | None = None  # the sample app's mix: share of GET / (3 when unset)
    slow_weight: int | None = None  # share of GET /work?ms={ms} (1 when unset)
    slow_ms_min: int = 100  # {ms} in a path: uniform in [slow_ms_min, slow_ms_max]
    slow_ms_max: int = 600
    rate_per_s: float | None = None  # requests per second over all users, instead of think time
    wait_min_s: float | None = None  # think time between a user's requests (0 when unset)
    wait_max_s: float | None = None  # (0.05 when unset)
    timeout_s: float = 10.0  # a request slower than this is a "timeout" failure

    def mix(self) -> list[Request]:
        """The requests users pick from: ``requests``, or the sample app's two."""
        if self.requests is not None:
            return self.requests
        fast, slow = self.fast_weight, self.slow_weight
        return sample_app_mix(3 if fast is None else fast, 1 if slow is None else slow)

    def think_s(self) -> tuple[float, float]:
        """Think time bounds, 0 and 0.05 s when unset; with ``rate_per_s`` users pace instead."""
        return (self.wait_min_s or 0.0, 0.05 if self.wait_max_s is None else self.wait_max_s)


@dataclass
class Embedded:
    propagation_min_s: float = 0.5  # delay before the Service proxy applies an endpoint change
    propagation_max_s: float = 1.5


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
    gate: GateLimits = field(default_factory=GateLimits)  # `harness run --gate` uses it

    def variant_names(self) -> list[str]:
        """The variants a run deploys, in order."""
        if self.variants is not None:
            return list(self.variants)
        if self.orders is not None:
            return list(self.orders)
        return list(DEFAULT_ORDERS) if self.app.is_sample else [CURRENT]

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
        data = dataclasses.asdict(self)
        data["gate"] = self.gate.to_dict()  # plain lists, for YAML and JSON
        return data


def _set_fields(variant: Variant) -> dict[str, Any]:
    """The settings a variant names (env aside): those not left at None."""
    return {
        f.name: getattr(variant, f.name)
        for f in dataclasses.fields(variant)
        if f.name != "env" and getattr(variant, f.name) is not None
    }


def load_scenario(path: Path | None, overrides: dict[str, Any] | None = None) -> Scenario:
    """Reads a YAML scenario (or the defaults), applies dotted overrides, validates the result."""
    raw: dict[str, Any] = read_settings(path) if path is not None else {}
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for depth, part in enumerate(parents, 1):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ScenarioError(f"{'.'.join(parents[:depth])}: expected a mapping")
        node[leaf] = value
    scenario: Scenario = _build(Scenario, raw, "")
    if path is not None:
        _paths_beside(scenario, path.absolute().parent)
    if "order" not in (raw.get("gate") or {}):
        # No variant named for the gate: the sample app's graceful order, else the first variant.
        names = scenario.variant_names()
        if names and scenario.gate.order not in names:
            scenario.gate = dataclasses.replace(scenario.gate, order=names[0])
    validate(scenario)
    return scenario


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
    problems = _out_of_bounds(s) + _variant_problems(s)
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
    c = s.chaos
    if c.action not in ACTIONS:
        problems.append(f"chaos.action: unknown {shown(c.action)} (known: {', '.join(ACTIONS)})")
    elif ACTIONS[c.action].needs_pod and not c.pod:
        problems.append(f"chaos.pod: {c.action} needs the pod's index or name")
    if len(c.at_s) > MAX_ACTIONS:
        problems.append(f"chaos.at_s: {len(c.at_s)} offsets, at most {MAX_ACTIONS}")
    if any(not 0 <= x <= DAY_S for x in c.at_s):
        problems.append(f"chaos.at_s: offsets must be >= 0 and <= {DAY_S:g}")
    if not problems:  # the schedule's numbers are finite and bounded: count, never build
        late = actions_from(c, s.duration_s)
        if late:
            problems.append(
                f"chaos: {late} of {planned_actions(c)} actions fall at or after the end of "
                f"the run (duration_s={s.duration_s:g}, last at {last_offset(c):g} s); "
                "raise duration_s or lower count/every_s"
            )
    for pct_key in ("max_surge", "max_unavailable"):
        if not _is_int_or_percent(getattr(c, pct_key)):
            problems.append(f"chaos.{pct_key}: expected an integer or a percentage like '25%'")
    a = s.app
    if a.shutdown_strategy not in SHUTDOWN_STRATEGIES:
        problems.append(f"app.shutdown_strategy: expected one of {', '.join(SHUTDOWN_STRATEGIES)}")
    problems += _app_problems(a)
    if a.command is not None and not any("{port}" in part for part in a.command):
        problems.append("app.command: must contain {port} so each pod can listen on its own port")
    if a.command is not None and any("\x00" in part for part in a.command):
        problems.append("app.command: a NUL character cannot be passed to a program")
    e = s.embedded
    if e.propagation_min_s > e.propagation_max_s:
        problems.append("embedded: need 0 <= propagation_min_s <= propagation_max_s")
    g = s.gate
    if not problems and g.order not in s.variant_names():
        problems.append(
            f"gate.order: {shown(g.order)} is not a variant of this run "
            f"(variants: {', '.join(s.variant_names())})"
        )
    if g.max_failed is not None and g.max_failed < 0:
        problems.append("gate.max_failed: must be >= 0")
    if g.max_failure_rate is not None and not 0 <= g.max_failure_rate <= 1:
        problems.append("gate.max_failure_rate: must be between 0 and 1")
    unknown = [c for c in g.classes or () if c not in ERROR_CLASSES]
    if unknown:
        problems.append(f"gate.classes: unknown error class {shown(unknown[0])}")
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
                problems += _bound_problem(f"{key}.{name}", getattr(request, name), limits)
    if not problems and sum(r.weight for r in t.mix()) == 0:
        key = "traffic.requests" if t.requests else "traffic.fast_weight, slow_weight"
        problems.append(f"{key}: the weights must not all be 0")
    if t.slow_ms_min > t.slow_ms_max:
        problems.append("traffic: need 0 <= slow_ms_min <= slow_ms_max <= 30000")
    if t.rate_per_s is not None and (t.wait_min_s, t.wait_max_s) != (None, None):
        problems.append(
            "traffic.rate_per_s: a target rate and think time (wait_min_s, wait_max_s) are "
            "alternatives; give one"
        )
    wait_min_s, wait_max_s = t.think_s()
    if wait_min_s > wait_max_s:
        problems.append("traffic: need 0 <= wait_min_s <= wait_max_s")
    return problems


def _out_of_bounds(s: Scenario) -> list[str]:
    """One problem per BOUNDS key whose value is outside its range (NaN is outside any)."""
    problems = []
    for key, bound in BOUNDS.items():
        value: Any = s
        for part in key.split("."):
            value = getattr(value, part) if value is not None else None
        problems += _bound_problem(key, value, bound)
    return problems


# A variant's name goes into object names, label values and file names: a DNS label, short
# enough that "<app>-<variant>" stays one.
_VARIANT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _variant_problems(s: Scenario) -> list[str]:
    """orders or variants: which variants run, and what each changes."""
    problems = []
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
        key = f"variants.{cut(name)}"
        if not _VARIANT_NAME.fullmatch(name):
            problems.append(
                f"{key}: a variant's name is 1-30 lowercase letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        for setting, bound in VARIANT_BOUNDS.items():
            problems += _bound_problem(f"{key}.{setting}", getattr(variant, setting), bound)
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


def _app_problems(a: App) -> list[str]:
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
        problems += _bound_problem(f"{key}.{setting}", getattr(probe, setting), bound)
    return problems


def _bound_problem(key: str, value: float | None, limits: tuple[float, float, bool]) -> list[str]:
    """The problem of one bounded number, if any (None: an optional setting left unset)."""
    low, high, low_allowed = limits
    if value is None or ((value >= low if low_allowed else value > low) and value <= high):
        return []
    sign = ">=" if low_allowed else ">"
    return [f"{key}: must be {sign} {_number(low)} and <= {_number(high)}, got {_number(value)}"]


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _is_int_or_percent(value: str) -> bool:
    text = str(value).strip()
    digits = text[:-1] if text.endswith("%") else text
    return digits.isascii() and digits.isdigit()  # not "²" or "١٢", which int() refuses


def _build(cls: type[Any], raw: Any, prefix: str) -> Any:
    """Builds dataclass ``cls`` from a mapping, checking keys and types as it goes."""
    if not isinstance(raw, dict):
        raise ScenarioError(f"{prefix.rstrip('.') or 'scenario'}: expected a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(name) for name in set(raw) - set(fields))
    if unknown:
        raise ScenarioError(
            f"{prefix}{cut(unknown[0])}: unknown setting (known here: {', '.join(sorted(fields))})"
        )
    values = {name: _coerce(hints[name], raw[name], prefix + name) for name in raw}
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, key)
    if origin is dict:
        if not isinstance(value, dict):
            raise ScenarioError(f"{key}: expected a mapping, got {shown(value)}")
        key_hint, value_hint = args
        mapping = {}
        for name, item in value.items():
            label = f"{key}.{cut(str(name))}"  # headers.X-Token: the key names the entry
            mapping[_coerce(key_hint, name, label)] = _coerce(value_hint, item, label)
        return mapping
    if origin in (list, tuple):
        if isinstance(value, str) and args[0] is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ScenarioError(f"{key}: expected a list, got {shown(value)}")
        items = [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ScenarioError(f"{key}: expected true or false, got {shown(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ScenarioError(f"{key}: expected an integer, got {shown(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf  # an integer past float's range
            if math.isfinite(number):
                return number
            raise ScenarioError(f"{key}: expected a finite number, got {shown(value)}")
        raise ScenarioError(f"{key}: expected a number, got {shown(value)}")
    if hint is str:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        raise ScenarioError(f"{key}: expected a string, got {shown(value)}")
    raise ScenarioError(f"{key}: unsupported setting type")  # pragma: no cover - schema bug
