"""The scenario's ``matrix:`` section: each variant runs once per chaos action (and per embedded
profile), in one run, compared in one table.

A cell is one variant under one action (and profile). It runs as the order
``<variant>@<action>`` or ``<variant>@<action>@<profile>`` (``graceful@crash@1.28``): ``@`` is
in no variant name (appspec: lowercase letters, digits, '-'), no action and no profile, so the
name is read back without ambiguity; it is file-name safe, and the kube backend spells it in
object names its own way (kube.objects.in_object_names). ``cell_order`` makes the name and
``parse_order`` reads it: the one owner of that form.

A cell runs with the scenario's chaos section, only its ``action`` replaced (its schedule and
other settings kept), and on the embedded backend with the cell's Kubernetes profile
(``DeploySpec.kubernetes_version``, read where the backend deploys). Without ``matrix:`` the
orders are the variants, named as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.backends.base import DeploySpec
from harness.chaos import ACTIONS, Chaos
from harness.errors import shown
from harness.kubeversion import embedded_semantics, parse_version, version_problem

if TYPE_CHECKING:
    from harness.scenario import Scenario

SEP = "@"


@dataclass
class Matrix:
    """The scenario's ``matrix:`` section; both None: no matrix."""

    actions: list[str] | None = None  # chaos actions (chaos.ACTIONS); None: chaos.action alone
    profiles: list[str] | None = None  # embedded.kubernetes_version values; None: the scenario's

    @property
    def is_set(self) -> bool:
        return self.actions is not None or self.profiles is not None


@dataclass(frozen=True, slots=True)
class Cell:
    variant: str
    action: str
    profile: str | None = None  # "1.28": only when the matrix lists profiles

    @property
    def order(self) -> str:
        return cell_order(self.variant, self.action, self.profile)


def cell_order(variant: str, action: str, profile: str | None = None) -> str:
    """The order a cell runs as: ``variant@action`` or ``variant@action@profile``."""
    return SEP.join([variant, action] + ([profile] if profile is not None else []))


def parse_order(order: str) -> Cell | None:
    """The cell an order name stands for; None for a plain variant's order (``graceful``,
    ``naive+fix``) or a name no cell has."""
    parts = order.split(SEP)
    if len(parts) not in (2, 3) or not parts[0] or parts[1] not in ACTIONS:
        return None
    profile = parts[2] if len(parts) == 3 else None
    if profile is not None and parse_version(profile) is None:
        return None
    return Cell(parts[0], parts[1], profile)


def cell_semantics(order: str) -> dict[str, Any] | None:
    """The endpoint semantics a cell with an embedded profile ran with (RunSemantics.block);
    None for any other order: those run with the backend's own, stated once for the run."""
    cell = parse_order(order)
    if cell is None or cell.profile is None:
        return None
    return embedded_semantics(cell.profile).block()


def variant_of(order: str) -> str:
    """The variant an order deploys: a cell's variant, else the order itself."""
    cell = parse_order(order)
    return cell.variant if cell is not None else order


def profile_name(text: str) -> str:
    """A profile as order names spell it: its minor ("v1.28.3" -> "1.28")."""
    profile = parse_version(text)
    return profile.name if profile is not None else text


def cells(matrix: Matrix, variants: list[str], action: str) -> list[Cell]:
    """Every cell, variant by variant, then action by action, then profile by profile;
    ``action``: the chaos section's, when the matrix lists no actions."""
    actions = matrix.actions if matrix.actions is not None else [action]
    profiles: list[str | None] = (
        [profile_name(p) for p in matrix.profiles] if matrix.profiles is not None else [None]
    )
    return [Cell(v, a, p) for v in variants for a in actions for p in profiles]


def matrix_problems(m: Matrix, pod: str | None) -> list[str]:
    """The matrix section's problems, one line each; ``pod``: the chaos section's."""
    problems: list[str] = []
    if m.actions is not None:
        if not m.actions:
            problems.append("matrix.actions: list at least one chaos action, or leave it out")
        for action in m.actions:
            if action not in ACTIONS:
                problems.append(
                    f"matrix.actions: unknown {shown(action)} (known: {', '.join(ACTIONS)})"
                )
            elif ACTIONS[action].needs_pod and not pod:
                problems.append(f"matrix.actions: {action} needs chaos.pod (the pod's index)")
        if len(set(m.actions)) != len(m.actions):
            problems.append("matrix.actions: an action is listed twice")
    if m.profiles is not None:
        if not m.profiles:
            problems.append("matrix.profiles: list at least one version, or leave it out")
        for text in m.profiles:
            if parse_version(text) is None:
                problems.append("matrix.profiles: " + version_problem(text).split(": ", 1)[1])
        named = [profile_name(p) for p in m.profiles]
        if len(set(named)) != len(named):
            problems.append("matrix.profiles: a version is listed twice")
    return problems


def backend_problem(m: Matrix, backend: str) -> str | None:
    """A profiles list on a backend that runs a real cluster: its version is the cluster's."""
    if m.profiles is not None and backend != "embedded":
        return (
            f"matrix.profiles: embedded profiles only; the {backend} backend runs the "
            "cluster's own Kubernetes version (drop matrix.profiles)"
        )
    return None


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    """One order of a run: the scenario it runs with, its deployment, and its progress words."""

    scenario: Scenario
    spec: DeploySpec
    words: str  # "variant graceful, action crash, profile 1.28"


def planned_orders(scenario: Scenario) -> list[PlannedOrder]:
    """The orders a run runs, in order: each variant, or each cell of the matrix."""
    if not scenario.matrix.is_set:
        return [
            PlannedOrder(scenario, scenario.deploy_spec(v), f"variant {v}")
            for v in scenario.variant_names()
        ]
    return [_planned_cell(scenario, cell) for cell in scenario_cells(scenario)]


def scenario_cells(scenario: Scenario) -> list[Cell]:
    """The scenario's cells; none without a matrix."""
    if not scenario.matrix.is_set:
        return []
    return cells(scenario.matrix, scenario.variant_names(), scenario.chaos.action)


def _planned_cell(scenario: Scenario, cell: Cell) -> PlannedOrder:
    chaos = dataclasses.replace(scenario.chaos, action=cell.action)
    embedded = scenario.embedded
    if cell.profile is not None:
        embedded = dataclasses.replace(embedded, kubernetes_version=cell.profile)
    own = dataclasses.replace(scenario, chaos=chaos, embedded=embedded)
    spec = dataclasses.replace(
        scenario.deploy_spec(cell.variant), variant=cell.order, kubernetes_version=cell.profile
    )
    words = f"variant {cell.variant}, action {cell.action}"
    return PlannedOrder(own, spec, words + (f", profile {cell.profile}" if cell.profile else ""))


def recorded(scenario: Mapping[str, Any]) -> tuple[Matrix, str] | None:
    """The matrix of a scenario as run.json keeps it, and its chaos action (the cells' action
    when the matrix lists none); None without a matrix."""
    section, chaos = scenario.get("matrix"), scenario.get("chaos")
    if not isinstance(section, dict):
        return None
    matrix = Matrix(_texts(section.get("actions")), _texts(section.get("profiles")))
    action = chaos.get("action") if isinstance(chaos, dict) else None
    return (matrix, str(action or Chaos.action)) if matrix.is_set else None


def orders_of(scenario: Mapping[str, Any], variants: list[str]) -> list[str]:
    """The orders a run's scenario (as run.json keeps it) planned for ``variants``: its cells'
    orders when it has a matrix, else the variants."""
    found = recorded(scenario)
    if found is None:
        return variants
    matrix, action = found
    return [c.order for c in cells(matrix, variants, action)]


def _texts(value: Any) -> list[str] | None:
    return [str(v) for v in value] if isinstance(value, list) else None
