"""The scenario's data_plane section: defaults, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.dataplane.settings import DataPlane
from harness.errors import ScenarioError
from harness.scenario import load_scenario


def test_defaults() -> None:
    assert load_scenario(None).data_plane == DataPlane(
        agent=True, read_nat=False, host_nat=True, interval_ms=50.0, image=None
    )


def test_a_section_is_read(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("data_plane:\n  read_nat: true\n  interval_ms: 20\n  image: my/py:3\n")
    d = load_scenario(path).data_plane
    assert (d.read_nat, d.interval_ms, d.image) == (True, 20, "my/py:3")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"data_plane.interval_ms": 5},
            "data_plane.interval_ms: must be >= 10 and <= 60000, got 5",
        ),
        ({"data_plane.interval_ms": "fast"}, "data_plane.interval_ms: expected a number"),
        ({"data_plane.agent": "yes"}, "data_plane.agent: expected"),
        (
            {"data_plane.agent": False, "data_plane.read_nat": True},
            "data_plane.read_nat: the agent reads the NAT rules; set agent: true",
        ),
        ({"data_plane.image": "a b"}, "data_plane.image: not an image reference: 'a b'"),
        ({"data_plane.nat": True}, "data_plane.nat: unknown setting (known here: agent, host_nat"),
    ],
)
def test_mistakes_are_one_line(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(None, overrides)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
