"""traffic.pacing: paced by default, closed when asked or when think time is given, and how a
run's load model is read back from its run.json (harness.load.pacing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.load.pacing import DEFAULT_USER_RATE_PER_S, Load, load_of, traffic_load
from harness.scenario import Traffic, load_scenario


def scenario_file(tmp_path: Path, traffic: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text("traffic:\n" + traffic)
    return path


def test_the_default_load_is_paced() -> None:
    assert traffic_load(Traffic()) == Load("paced", 10 * DEFAULT_USER_RATE_PER_S)
    assert traffic_load(Traffic(users=4, rate_per_s=20.0)) == Load("paced", 20.0)


def test_think_time_or_pacing_closed_is_the_closed_loop() -> None:
    assert traffic_load(Traffic(wait_max_s=0.1)) == Load("closed", None)
    assert traffic_load(Traffic(pacing="closed")) == Load("closed", None)


@pytest.mark.parametrize(
    ("traffic", "message"),
    [
        ("  pacing: open\n", "traffic.pacing: expected paced or closed, got 'open'"),
        ("  pacing: paced\n  wait_max_s: 1\n", "traffic.pacing: paced users keep a rate"),
        ("  pacing: closed\n  rate_per_s: 5\n", "traffic.pacing: closed users think"),
        ("  rate_per_s: 20\n  wait_max_s: 1\n", "traffic.rate_per_s: a target rate and think"),
    ],
)
def test_contradicting_settings_are_one_line(tmp_path: Path, traffic: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(scenario_file(tmp_path, traffic))


def test_a_run_json_from_before_pacing_was_closed_unless_it_had_a_rate() -> None:
    assert load_of({"users": 10, "rate_per_s": None, "wait_max_s": None}) == Load("closed", None)
    assert load_of({"users": 10, "rate_per_s": 50.0}) == Load("paced", 50.0)
    assert load_of({"users": 10, "pacing": None, "rate_per_s": None}) == Load(
        "paced", 10 * DEFAULT_USER_RATE_PER_S
    )


def test_validate_says_which_load_model(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["validate"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"# load model: paced, {DEFAULT_USER_RATE_PER_S:g} requests/s per user")
