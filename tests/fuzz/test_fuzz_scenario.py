"""The scenario loader on anything: a Scenario whose every bound holds, or one ScenarioError line.

Whatever the file holds (any bytes, any YAML or JSON tree, any nesting, any value for any key),
``load_scenario`` either returns a scenario that validates or raises ``ScenarioError`` with a
single line; no other exception escapes. Values inside their documented bounds are accepted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import yaml
from helpers.fuzz import NUMBERS, deep_json, fuzz, json_trees
from hypothesis import given
from hypothesis import strategies as st

from harness.chaos import Chaos, actions_from, schedule_offsets
from harness.errors import ScenarioError
from harness.scenario import BOUNDS, Scenario, load_scenario

TMP = Path(tempfile.mkdtemp(prefix="drainlab-fuzz-scenario-"))


def settings_keys(cls: type[Any] = Scenario, prefix: str = "") -> list[str]:
    """Every dotted key a scenario file may set."""
    keys = []
    for f in dataclasses.fields(cls):
        default = getattr(cls(), f.name)
        if dataclasses.is_dataclass(default):
            keys += settings_keys(type(default), f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


KEYS = settings_keys()


def load_file(data: bytes) -> Scenario | str:
    path = TMP / "s.yaml"
    path.write_bytes(data)
    return load(path)


def load(path: Path | None, overrides: dict[str, Any] | None = None) -> Scenario | str:
    """The scenario, or the error's text (checked to be one line)."""
    try:
        scenario = load_scenario(path, overrides)
    except ScenarioError as exc:
        text = str(exc)
        assert text and len(text.splitlines()) == 1, text
        return text
    assert_within_bounds(scenario)
    return scenario


def assert_within_bounds(s: Scenario) -> None:
    for key, (low, high, low_allowed) in BOUNDS.items():
        section, _, name = key.rpartition(".")
        value = getattr(getattr(s, section) if section else s, name)
        if value is not None:
            assert math.isfinite(value) and low <= value <= high, (key, value)
            assert low_allowed or value > low, (key, value)
    assert len(s.chaos_offsets()) <= 10_000


@fuzz(300)
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    load_file(data)


@fuzz(300)
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    load_file(text.encode("utf-8", "surrogatepass"))


@fuzz(200)
@given(json_trees(), st.sampled_from(["yaml", "json"]))
def test_any_tree(tree: Any, form: str) -> None:
    text = json.dumps(tree) if form == "json" else yaml.safe_dump(tree)
    load_file(text.encode())


@fuzz(200)
@given(st.sampled_from(KEYS), json_trees(max_leaves=5))
def test_any_tree_under_a_real_key(key: str, tree: Any) -> None:
    *sections, name = key.split(".")
    document: Any = {name: tree}
    for section in reversed(sections):
        document = {section: document}
    load_file(json.dumps(document).encode())  # JSON keeps NaN and huge numbers as written


@fuzz(40)
@given(st.integers(min_value=0, max_value=3000), st.sampled_from([*KEYS, ""]))
def test_any_nesting(depth: int, key: str) -> None:
    result = load_file(f'{{"{key}": {deep_json(depth)}}}'.encode())
    if depth > 40:
        assert isinstance(result, str)


@fuzz(400)
@given(st.sampled_from(KEYS), st.one_of(json_trees(max_leaves=3), NUMBERS))
def test_any_value_for_any_key(key: str, value: Any) -> None:
    """As the command line's flags set them: typed values straight into the scenario."""
    load(None, {key: value})


@fuzz(300)
@given(st.data())
def test_values_within_bounds_pass_their_bound(data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(BOUNDS)))
    low, high, low_allowed = BOUNDS[key]
    is_int = isinstance(getattr_dotted(Scenario(), key), int) or key == "chaos.count"
    if is_int:
        value: float = data.draw(st.integers(int(low) + (0 if low_allowed else 1), int(high)))
    else:
        value = data.draw(st.floats(low, high, exclude_min=not low_allowed))
    result = load(None, {key: value})
    if isinstance(result, str):  # only another rule may refuse it (chaos past the end, ...)
        assert not result.startswith(f"{key}: must be"), result


def getattr_dotted(obj: Any, key: str) -> Any:
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


@fuzz(300)
@given(
    st.integers(0, 10_000),
    st.floats(0, 86_400),
    st.floats(0, 86_400, exclude_min=True),
    st.floats(0, 86_400, exclude_min=True),
)
def test_actions_past_the_end_are_counted_as_the_schedule_has_them(
    count: int, start: float, every: float, duration: float
) -> None:
    chaos = Chaos(start_after_s=start, every_s=every, count=count)
    late = [offset for offset in schedule_offsets(chaos) if offset >= duration]
    assert actions_from(chaos, duration) == len(late)
