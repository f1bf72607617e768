"""Scenarios: what a run does, as plain data. Loaded from YAML and validated before anything starts.

Every default lives here, in the dataclasses below; ``harness/scenarios/default.yaml`` documents
them for users. An unknown key or a value of the wrong type is a one-line ``ScenarioError`` that
names the key (``traffic.users: expected an integer, got 'ten'``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.backends.base import DeploySpec
from harness.chaos import ACTIONS, Chaos
from harness.classify import ERROR_CLASSES
from harness.errors import ScenarioError
from harness.gate import GateLimits
from harness.orders import DEFAULT_ORDERS, ORDERS, deploy_spec

SHUTDOWN_STRATEGIES = ("fixed", "quiet")


@dataclass
class Traffic:
    users: int = 10
    spawn_rate: float = 10.0
    keepalive: bool = True  # False: a new connection per request
    fast_weight: int = 3  # share of GET /
    slow_weight: int = 1  # share of GET /work?ms=...
    slow_ms_min: int = 100
    slow_ms_max: int = 600
    wait_min_s: float = 0.0  # think time between a user's requests
    wait_max_s: float = 0.05
    timeout_s: float = 10.0  # a request slower than this is a "timeout" failure


@dataclass
class App:
    shutdown_delay_s: float = 5.0  # graceful: how long to keep serving after readiness fails
    shutdown_strategy: str = "fixed"  # fixed delay, or "quiet": until no new connection for a while
    quiet_period_s: float = 1.0
    drain_timeout_s: float = 20.0
    prestop_sleep_s: float = 5.0  # the prestop order's preStop sleep
    grace_period_s: float = 30.0  # terminationGracePeriodSeconds
    command: list[str] | None = None  # embedded: your own app, with {host} and {port}


@dataclass
class Embedded:
    propagation_min_s: float = 0.5  # delay before the Service proxy applies an endpoint change
    propagation_max_s: float = 1.5
    readiness_period_s: float = 0.5
    readiness_timeout_s: float = 1.0
    readiness_failure_threshold: int = 1
    readiness_success_threshold: int = 1


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
    orders: list[str] = field(default_factory=lambda: list(DEFAULT_ORDERS))
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

    def deploy_spec(self, order: str) -> DeploySpec:
        """The pods of one order as this scenario describes them (replicas, app settings)."""
        a = self.app
        return deploy_spec(
            order,
            replicas=self.replicas,
            shutdown_delay_s=a.shutdown_delay_s,
            shutdown_strategy=a.shutdown_strategy,
            quiet_period_s=a.quiet_period_s,
            drain_timeout_s=a.drain_timeout_s,
            prestop_sleep_s=a.prestop_sleep_s,
            grace_period_s=a.grace_period_s,
        )

    def chaos_offsets(self) -> list[float]:
        """Seconds from load start at which chaos actions fire."""
        if self.chaos.at_s:
            return sorted(self.chaos.at_s)
        return [self.chaos.start_after_s + i * self.chaos.every_s for i in range(self.chaos.count)]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["gate"] = self.gate.to_dict()  # plain lists, for YAML and JSON
        return data


def load_scenario(path: Path | None, overrides: dict[str, Any] | None = None) -> Scenario:
    """Reads a YAML scenario (or the defaults), applies dotted overrides, validates the result."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise ScenarioError(f"{path}: not valid YAML{where}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ScenarioError(f"{path}: expected a mapping of settings at the top level")
        raw = loaded
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    scenario: Scenario = _build(Scenario, raw, "")
    if path is not None:
        scenario.app.command = _program_beside(path, scenario.app.command)
    validate(scenario)
    return scenario


def _program_beside(scenario_path: Path, command: list[str] | None) -> list[str] | None:
    """A scenario's ``app.command`` program given as a relative path (``./server``,
    ``bin/app``) means the file beside the scenario, wherever the harness is started from. A bare
    name (``python3``) is looked up on PATH as usual, and arguments are the app's business."""
    if not command or "/" not in command[0] or Path(command[0]).is_absolute():
        return command
    return [str(scenario_path.absolute().parent / command[0]), *command[1:]]


def validate(s: Scenario) -> None:
    """Checks that the values make sense together; raises a one-line ScenarioError."""
    problems: list[str] = []
    if not s.orders:
        problems.append("orders: name at least one order")
    for name in s.orders:
        if name not in ORDERS:
            problems.append(f"orders: unknown order {name!r} (known: {', '.join(ORDERS)})")
    if len(set(s.orders)) != len(s.orders):
        problems.append("orders: an order is listed twice")
    _positive(problems, "replicas", s.replicas)
    _positive(problems, "duration_s", s.duration_s)
    _positive(problems, "settle_timeout_s", s.settle_timeout_s)
    t = s.traffic
    _positive(problems, "traffic.users", t.users)
    _positive(problems, "traffic.spawn_rate", t.spawn_rate)
    _positive(problems, "traffic.timeout_s", t.timeout_s)
    if t.fast_weight < 0 or t.slow_weight < 0 or t.fast_weight + t.slow_weight == 0:
        problems.append("traffic: fast_weight and slow_weight must be >= 0 and not both 0")
    if not 0 <= t.slow_ms_min <= t.slow_ms_max <= 30000:
        problems.append("traffic: need 0 <= slow_ms_min <= slow_ms_max <= 30000")
    if not 0 <= t.wait_min_s <= t.wait_max_s:
        problems.append("traffic: need 0 <= wait_min_s <= wait_max_s")
    c = s.chaos
    if c.action not in ACTIONS:
        problems.append(f"chaos.action: unknown {c.action!r} (known: {', '.join(ACTIONS)})")
    elif ACTIONS[c.action].needs_pod and not c.pod:
        problems.append(f"chaos.pod: {c.action} needs the pod's index or name")
    if c.count < 0:
        problems.append("chaos.count: must be >= 0")
    _positive(problems, "chaos.every_s", c.every_s)
    if c.start_after_s < 0 or any(x < 0 for x in c.at_s):
        problems.append("chaos: offsets must be >= 0")
    if c.grace_period_s is not None and c.grace_period_s < 0:
        problems.append("chaos.grace_period_s: must be >= 0")
    late = [x for x in s.chaos_offsets() if x >= s.duration_s]
    if late:
        problems.append(
            f"chaos: {len(late)} of {len(s.chaos_offsets())} actions fall at or after the end of "
            f"the run (duration_s={s.duration_s:g}, last at {max(late):g} s); "
            "raise duration_s or lower count/every_s"
        )
    for pct_key in ("max_surge", "max_unavailable"):
        if not _is_int_or_percent(getattr(c, pct_key)):
            problems.append(f"chaos.{pct_key}: expected an integer or a percentage like '25%'")
    a = s.app
    if a.shutdown_strategy not in SHUTDOWN_STRATEGIES:
        problems.append(f"app.shutdown_strategy: expected one of {', '.join(SHUTDOWN_STRATEGIES)}")
    for key in ("shutdown_delay_s", "quiet_period_s", "drain_timeout_s", "prestop_sleep_s"):
        if getattr(a, key) < 0:
            problems.append(f"app.{key}: must be >= 0")
    _positive(problems, "app.grace_period_s", a.grace_period_s)
    if a.command is not None and not any("{port}" in part for part in a.command):
        problems.append("app.command: must contain {port} so each pod can listen on its own port")
    e = s.embedded
    if not 0 <= e.propagation_min_s <= e.propagation_max_s:
        problems.append("embedded: need 0 <= propagation_min_s <= propagation_max_s")
    _positive(problems, "embedded.readiness_period_s", e.readiness_period_s)
    _positive(problems, "embedded.readiness_timeout_s", e.readiness_timeout_s)
    _positive(problems, "embedded.readiness_failure_threshold", e.readiness_failure_threshold)
    _positive(problems, "embedded.readiness_success_threshold", e.readiness_success_threshold)
    _positive(problems, "kube.request_timeout_s", s.kube.request_timeout_s)
    g = s.gate
    if g.order not in ORDERS:
        problems.append(f"gate.order: unknown order {g.order!r}")
    if g.max_failed is not None and g.max_failed < 0:
        problems.append("gate.max_failed: must be >= 0")
    if g.max_failure_rate is not None and not 0 <= g.max_failure_rate <= 1:
        problems.append("gate.max_failure_rate: must be between 0 and 1")
    unknown = [c for c in g.classes or () if c not in ERROR_CLASSES]
    if unknown:
        problems.append(f"gate.classes: unknown error class {unknown[0]!r}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ScenarioError(problems[0] + more)


def _positive(problems: list[str], key: str, value: float) -> None:
    if value <= 0:
        problems.append(f"{key}: must be > 0, got {value:g}")


def _is_int_or_percent(value: str) -> bool:
    text = str(value).strip()
    digits = text[:-1] if text.endswith("%") else text
    return digits.isdigit()


def _build(cls: type[Any], raw: Any, prefix: str) -> Any:
    """Builds dataclass ``cls`` from a mapping, checking keys and types as it goes."""
    if not isinstance(raw, dict):
        raise ScenarioError(f"{prefix.rstrip('.') or 'scenario'}: expected a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ScenarioError(
            f"{prefix}{unknown[0]}: unknown setting (known here: {', '.join(sorted(fields))})"
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
    if origin in (list, tuple):
        if isinstance(value, str) and args[0] is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ScenarioError(f"{key}: expected a list, got {value!r}")
        items = [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ScenarioError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ScenarioError(f"{key}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ScenarioError(f"{key}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        raise ScenarioError(f"{key}: expected a string, got {value!r}")
    raise ScenarioError(f"{key}: unsupported setting type")  # pragma: no cover - schema bug
