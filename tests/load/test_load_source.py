"""Where the load comes from (traffic.from) and how many send it (traffic.workers): the settings,
and the backends that can honour them, refused in one line before anything starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from helpers.paths import REPO

from harness.backends.select import choose_backend
from harness.errors import ScenarioError, UsageError
from harness.scenario import load_scenario


def test_from_is_the_yaml_key_of_the_source() -> None:
    assert load_scenario(None).traffic.source == "host"
    assert load_scenario(None, {"traffic.from": "cluster"}).traffic.source == "cluster"
    with pytest.raises(ScenarioError, match=r"^traffic.from: expected one of host, cluster"):
        load_scenario(None, {"traffic.from": "moon"})
    with pytest.raises(ScenarioError, match=r"^traffic.source: unknown setting .*from"):
        load_scenario(None, {"traffic.source": "cluster"})
    with pytest.raises(ScenarioError, match=r"^traffic.workers: 0 is outside 1..64"):
        load_scenario(None, {"traffic.workers": 0})
    assert load_scenario(None, {"traffic.workers": 3}).traffic.workers == "3"


def test_load_from_the_cluster_needs_a_cluster_and_not_a_users_deployment() -> None:
    scenario = load_scenario(None, {"traffic.from": "cluster"})
    with pytest.raises(UsageError, match=r"^traffic.from: cluster needs a cluster .*embedded"):
        choose_backend("embedded", scenario)
    assert choose_backend("local", scenario).name == "local"
    target = load_scenario(None, {"traffic.from": "cluster", "kube.target": "deployment/web"})
    with pytest.raises(UsageError, match=r"kube.target would put load pods beside"):
        choose_backend("kube", target)


def test_a_scenario_written_out_reads_back_with_its_source(tmp_path: Path) -> None:
    scenario = load_scenario(None, {"traffic.from": "cluster", "traffic.workers": "auto"})
    data = scenario.to_dict()
    assert data["traffic"]["from"] == "cluster" and "source" not in data["traffic"]
    path = tmp_path / "again.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_scenario(path).traffic == scenario.traffic


def test_the_load_snippet_the_readme_shows_is_valid(tmp_path: Path) -> None:
    text = (REPO / "README.md").read_text()
    section = text.split("### Load that scales out", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    (tmp_path / "load.yaml").write_text(snippet)
    traffic = load_scenario(tmp_path / "load.yaml").traffic
    assert (traffic.users, traffic.workers, traffic.source) == (40, "auto", "cluster")
