from pathlib import Path

import pytest
from helpers.paths import REPO

from harness.errors import ScenarioError
from harness.scenario import Scenario, load_scenario

DEFAULT_YAML = REPO / "harness" / "scenarios" / "default.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_documented_defaults_match_the_code() -> None:
    assert load_scenario(DEFAULT_YAML) == Scenario()


def test_no_file_gives_defaults() -> None:
    assert load_scenario(None) == Scenario()


def test_overrides_are_applied_and_typed() -> None:
    s = load_scenario(None, {"orders": "naive,graceful", "traffic.users": 4, "duration_s": 12})
    assert s.orders == ["naive", "graceful"]
    assert s.traffic.users == 4
    assert s.duration_s == 12.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("traffic:\n  userz: 3\n", "traffic.userz: unknown setting"),
        ("traffic:\n  users: ten\n", "traffic.users: expected an integer, got 'ten'"),
        ("replicas: true\n", "replicas: expected an integer"),
        ("orders: [naive, fast]\n", "orders: unknown order 'fast'"),
        ("duration_s: -5\n", "duration_s: must be > 0"),
        ("traffic:\n  users: 0\n", "traffic.users: must be > 0"),
        ("chaos:\n  count: 50\n", "actions fall at or after the end of the run"),
        ("chaos: 3\n", "chaos: expected a mapping"),
        ("[1, 2]\n", "expected a mapping of settings"),
        ("a: [\n", "not valid YAML (line"),
        ("chaos:\n  action: delete_named\n", "chaos.pod: delete_named needs"),
        ("chaos:\n  max_surge: lots\n", "chaos.max_surge: expected an integer or a percentage"),
        ("app:\n  command: [my-app]\n", "app.command: must contain {port}"),
        ("kube:\n  request_timeout_s: 0\n", "kube.request_timeout_s: must be > 0"),
    ],
)
def test_bad_scenarios_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.yaml")


def test_explicit_offsets_override_the_schedule() -> None:
    s = load_scenario(None, {"chaos.at_s": [9, 3.5]})
    assert s.chaos_offsets() == [3.5, 9.0]
