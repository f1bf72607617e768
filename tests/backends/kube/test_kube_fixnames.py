"""A fix's variant ``<variant>+fix`` on Kubernetes: '+' is neither in a DNS name nor in a label
value, so its objects are named and labelled ``<variant>-fix``; on kind it takes its variant's
nodePort (the variant is gone by then, and kind reaches no other port)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.kubeobjects import objects_of
from helpers.userapp import deployment, service, write_file

from harness.appspec import Variant
from harness.backends.base import DeploySpec
from harness.backends.kube.adapt import DeployableApp
from harness.backends.kube.manifests import load
from harness.backends.kube.objects import LABEL_ORDER, names_for
from harness.fixes.model import Fix
from harness.scenario import Scenario
from harness.verify import fix_specs


def _names_and_label_values(obj: Any) -> Iterator[str]:
    """Every object name, label value and selector value in an object, at any depth."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("labels", "matchLabels", "selector") and isinstance(value, dict):
                yield from (v for v in value.values() if isinstance(v, str))
            if key == "name" and isinstance(value, str):
                yield value
            yield from _names_and_label_values(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _names_and_label_values(item)


@pytest.mark.parametrize("order", ["naive", "close-first", "prestop", "graceful"])
def test_no_plus_reaches_a_sample_fix_variants_object_names_or_labels(order: str) -> None:
    scenario = Scenario(orders=[order])
    (spec,) = fix_specs(scenario, {order: Fix(order, Variant(prestop_sleep_s=3.0))}, [order])
    names = names_for(spec.variant, "drainlab", "run-1")
    dep, svc = objects_of(spec, names)
    assert dep["metadata"]["name"] == svc["metadata"]["name"] == f"drainlab-sample-{order}-fix"
    assert names.labels[LABEL_ORDER] == f"{order}-fix"
    spelled = list(_names_and_label_values(dep)) + list(_names_and_label_values(svc))
    assert spelled and not [s for s in spelled if "+" in s]
    assert "+" not in names.selector


def test_a_user_apps_fix_variant_is_named_after_its_variant_and_on_kind_takes_its_port(
    tmp_path: Path,
) -> None:
    path = write_file(tmp_path / "app.yaml", deployment(), service())
    app = DeployableApp(load(path), None, ("current", "tuned"), sample=False)
    spec = DeploySpec("tuned+fix", change=Variant(prestop_sleep_s=2.0))
    names = app.names(spec.variant, "d", "r")
    dep, svc = objects_of(spec, names, app, on_kind=True)
    assert (dep["metadata"]["name"], svc["metadata"]["name"]) == ("web-tuned-fix", "web-tuned-fix")
    assert not [s for s in _names_and_label_values([dep, svc]) if "+" in s]
    _, tuned = objects_of(DeploySpec("tuned"), app.names("tuned", "d", "r"), app, on_kind=True)
    assert svc["spec"]["ports"][0]["nodePort"] == tuned["spec"]["ports"][0]["nodePort"]
    _, elsewhere = objects_of(spec, names, app, on_kind=False)
    assert "nodePort" not in elsewhere["spec"]["ports"][0]  # the API server chooses
