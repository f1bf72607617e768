"""The scenario's matrix section: its checks, the cell order names, and the orders a run plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.kube.objects import in_object_names, names_for
from harness.cli import main
from harness.errors import ScenarioError
from harness.matrix import (
    Cell,
    Matrix,
    backend_problem,
    cell_order,
    orders_of,
    parse_order,
    planned_orders,
    variant_of,
)
from harness.scenario import load_scenario

SHORT = {"duration_s": 8, "chaos.count": 2, "orders": "naive,graceful"}


def _matrix(**section: object) -> dict[str, object]:
    return {**SHORT, "matrix": section}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"actions": ["crash", "explode"]}, "matrix.actions: unknown 'explode' (known: "),
        ({"actions": []}, "matrix.actions: list at least one chaos action, or leave it out"),
        ({"actions": ["crash", "crash"]}, "matrix.actions: an action is listed twice"),
        ({"actions": ["delete_named"]}, "matrix.actions: delete_named needs chaos.pod"),
        ({"profiles": []}, "matrix.profiles: list at least one version, or leave it out"),
        ({"profiles": ["1.2x"]}, "matrix.profiles: expected a version like '1.20' or '1.28'"),
        ({"profiles": ["1.28", "v1.28.3"]}, "matrix.profiles: a version is listed twice"),
        ({"actions": 3}, "matrix.actions: expected a list, got 3"),
        ({"actionz": ["crash"]}, "matrix.actionz: unknown setting"),
    ],
)
def test_a_bad_matrix_is_one_line_naming_the_key(section: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(None, _matrix(**section))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_each_mistake_is_counted() -> None:
    with pytest.raises(ScenarioError, match=r"\(and 1 more\)$"):
        load_scenario(None, _matrix(actions=["explode"], profiles=["2.0"]))


@pytest.mark.parametrize(
    ("cell", "order"),
    [
        (Cell("graceful", "crash"), "graceful@crash"),
        (Cell("close-first", "scale_down", "1.28"), "close-first@scale_down@1.28"),
    ],
)
def test_an_order_name_is_read_back_as_its_cell(cell: Cell, order: str) -> None:
    assert cell.order == cell_order(cell.variant, cell.action, cell.profile) == order
    assert parse_order(order) == cell
    assert variant_of(order) == cell.variant


@pytest.mark.parametrize(
    "order",
    ["graceful", "naive+fix", "graceful@explode", "a@crash@2.0", "a@crash@1.28@x", "@crash"],
)
def test_a_name_no_cell_has_is_its_own_variant(order: str) -> None:
    assert parse_order(order) is None
    assert variant_of(order) == order


def test_without_a_matrix_the_orders_are_the_variants_as_before() -> None:
    scenario = load_scenario(None, SHORT)
    planned = planned_orders(scenario)
    assert [p.spec for p in planned] == [scenario.deploy_spec(v) for v in ("naive", "graceful")]
    assert all(p.scenario is scenario for p in planned)
    assert [p.words for p in planned] == ["variant naive", "variant graceful"]
    assert scenario.order_names() == ["naive", "graceful"]


def test_each_cell_runs_its_action_and_profile_with_the_rest_of_the_chaos_section() -> None:
    scenario = load_scenario(
        None,
        {**_matrix(actions=["scale_down", "crash"], profiles=["1.20", "v1.28.3"]),
         "chaos.scale_by": 2, "embedded.kubernetes_version": "1.24"},
    )  # fmt: skip
    planned = planned_orders(scenario)
    assert [p.spec.variant for p in planned] == [
        f"{v}@{a}@{p}"
        for v in ("naive", "graceful")
        for a in ("scale_down", "crash")
        for p in ("1.20", "1.28")
    ]
    assert scenario.order_names() == [p.spec.variant for p in planned]
    last = planned[-1]
    assert last.words == "variant graceful, action crash, profile 1.28"
    assert last.scenario.chaos.action == "crash" and last.scenario.chaos.scale_by == 2
    assert last.scenario.chaos.count == 2
    assert last.spec.kubernetes_version == "1.28"
    assert last.spec.change == scenario.variant("graceful")
    assert last.scenario.embedded.kubernetes_version == "1.28"
    assert scenario.chaos.action == "delete_random"  # the scenario itself is left as it was
    assert scenario.embedded.kubernetes_version == "1.24"


def test_without_profiles_a_cell_keeps_the_scenarios_version() -> None:
    scenario = load_scenario(None, _matrix(actions=["evict"]))
    (naive, graceful) = planned_orders(scenario)
    assert (naive.spec.variant, graceful.spec.variant) == ("naive@evict", "graceful@evict")
    assert naive.spec.kubernetes_version is None
    assert naive.words == "variant naive, action evict"


def test_profiles_alone_run_the_chaos_sections_action() -> None:
    scenario = load_scenario(None, {**_matrix(profiles=["1.28"]), "chaos.action": "crash"})
    assert scenario.order_names() == ["naive@crash@1.28", "graceful@crash@1.28"]


def test_the_gate_names_a_cell_and_defaults_to_its_variants_first(tmp_path: Path) -> None:
    scenario = load_scenario(None, _matrix(actions=["scale_down", "crash"]))
    assert scenario.gate.order == "graceful@scale_down"
    gated = load_scenario(None, {**_matrix(actions=["crash"]), "gate.order": "naive@crash"})
    assert gated.gate.order == "naive@crash"
    expected = r"gate.order: 'graceful' is not a variant of this run \(variants: naive@crash, "
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(None, {**_matrix(actions=["crash"]), "gate.order": "graceful"})


def test_profiles_are_for_the_embedded_backend_only() -> None:
    assert backend_problem(Matrix(profiles=["1.28"]), "embedded") is None
    assert backend_problem(Matrix(actions=["crash"]), "kind") is None
    refused = backend_problem(Matrix(profiles=["1.28"]), "local")
    assert refused is not None and refused.startswith("matrix.profiles: embedded profiles only")


def test_a_recovered_run_finds_the_cells_orders_from_run_json() -> None:
    scenario = load_scenario(None, _matrix(actions=["crash"], profiles=["1.28"])).to_dict()
    assert orders_of(scenario, ["naive"]) == ["naive@crash@1.28"]
    assert orders_of(load_scenario(None, SHORT).to_dict(), ["naive"]) == ["naive"]


def test_kubernetes_spells_a_cell_in_object_names_and_labels() -> None:
    assert in_object_names("close-first@scale_down") == "close-first-scale-down"
    assert in_object_names("naive+fix") == "naive-fix"
    names = names_for("graceful@drain_node", "drainlab")
    assert names.deployment == "drainlab-sample-graceful-drain-node"


MATRIX_YAML = """\
orders: [naive, graceful]
duration_s: 8
chaos: {count: 2}
matrix: {actions: [scale_down, crash], profiles: ["1.20", "1.28"]}
"""


def _cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    scenario = tmp_path / "m.yaml"
    scenario.write_text(MATRIX_YAML)
    code = main(
        [*args[:1], *(["--scenario"] if args[0] == "run" else []), str(scenario), *args[1:]]
    )
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_and_the_dry_run_show_the_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(tmp_path, capsys, "validate")
    assert code == 0
    assert "# matrix: 8 orders, one per variant and cell: naive@scale_down@1.20, " in out
    code, out, _ = _cli(tmp_path, capsys, "run", "--dry-run", "--backend", "embedded")
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("variant ")]
    assert len(lines) == 8
    assert lines[-1].startswith("variant graceful, action crash, profile 1.28: start 3 app")
    assert "2 chaos crash actions" in lines[-1]


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("--dry-run", "--backend", "kind"), "matrix.profiles: embedded profiles only"),
        (("--verify-fix", "--backend", "embedded"), "--verify-fix: not with a matrix"),
        (("--gate", "graceful", "--backend", "embedded"), "--gate: 'graceful' is not a variant"),
    ],
)
def test_what_a_matrix_cannot_do_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], text: str
) -> None:
    code, _, err = _cli(tmp_path, capsys, "run", *args)
    assert code == 2
    assert err.startswith(f"harness: error: {text}") and err.count("\n") == 1


def test_the_shipped_disruptions_scenario_runs_every_action_under_both_profiles() -> None:
    path = Path(__file__).resolve().parents[1] / "harness" / "scenarios" / "disruptions.yaml"
    orders = [p.spec.variant for p in planned_orders(load_scenario(path))]
    assert len(orders) == 4 * 5 * 2
    assert orders[:2] == ["naive@delete_random@1.20", "naive@delete_random@1.28"]
    cells = [parse_order(o) for o in orders]
    assert {c.action for c in cells if c is not None} == {
        "delete_random", "evict", "drain_node", "scale_down", "crash",
    }  # fmt: skip
    assert None not in cells
