"""harness/packaged.py in this checkout: every shipped file is where it says (the installed
package is tests/test_packaging_install.py's; the GitHub action, test_packaging_action.py's)."""

from __future__ import annotations

import pytest
from helpers.paths import REPO

from harness import packaged
from harness.backends.clusters import local


def test_in_a_checkout_the_shipped_files_are_the_repository_folders() -> None:
    assert packaged.sample_app_path() == REPO / "sample-app" / "app.py"
    assert packaged.sample_manifests_dir() == REPO / "manifests" / "base"
    assert packaged.kind_config_path() == REPO / "manifests" / "kind-config.yaml"
    assert packaged.cluster_local_dir() == REPO / "cluster-local"
    assert packaged.default_scenario_path() == REPO / "harness" / "scenarios" / "default.yaml"
    for path in (packaged.sample_app_path(), packaged.kind_config_path()):
        assert path.is_file(), path
    assert (packaged.sample_manifests_dir() / "kustomization.yaml").is_file()
    assert (packaged.cluster_local_dir() / "up.sh").is_file()
    assert packaged.default_scenario_path().is_file()


@pytest.mark.parametrize("given", ["", "/srv/my-app.py"])
def test_the_cluster_scripts_get_the_shipped_sample_app_unless_the_user_names_one(
    given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRAINLAB_APP", given)
    expected = given or str(packaged.sample_app_path())
    assert local._script_env()["DRAINLAB_APP"] == expected
