"""``harness run --dry-run``: what a run would create, start and delete, touching nothing.

The kube backends' plan is ``harness.backends.kube.plan`` (objects, labels, namespace, Lease);
the embedded backend's is the processes it would start, here.
"""

from __future__ import annotations

import shlex

from harness.backends.select import Choice
from harness.errors import UsageError
from harness.matrix import planned_orders
from harness.scenario import Scenario


def dry_run_lines(choice: Choice, scenario: Scenario) -> list[str]:
    """One line per thing the run would do; a one-line HarnessError where it would be refused."""
    if choice.name == "embedded":
        return _embedded_lines(scenario)
    from harness.backends.kube.plan import plan_lines  # not imported by embedded runs

    return plan_lines(choice.name, scenario)


def refuse_before_run(choice: Choice, scenario: Scenario) -> None:
    """The refusals a run must meet before its run folder exists: a system namespace on a kube
    backend is a one-line UsageError (exit 2), not a failed run; so are manifests that are not
    one Deployment and one Service, and a variant that cannot be applied to them."""
    if choice.name == "embedded":
        return
    from harness.backends.kube.guard import namespace_refusal

    refused = namespace_refusal(scenario.kube.namespace)
    if refused is not None:
        raise UsageError(refused)
    from harness.backends.kube.adapt import checked

    checked(scenario, on_kind=choice.name == "kind")  # the app's manifests and every variant


def _embedded_lines(scenario: Scenario) -> list[str]:
    from harness.backends.embedded import default_app_command

    command = scenario.app.command or default_app_command()
    lines = ["dry run on the embedded backend: no process is started, nothing is written"]
    for planned in planned_orders(scenario):  # the variants, or a matrix's cells
        spec, chaos = planned.spec, planned.scenario.chaos
        env = " ".join(
            f"{k}={v}" for k, v in sorted({**scenario.app.env, **spec.change.env}.items())
        )
        lines.append(
            f"{planned.words}: start {spec.replicas} app processes `{shlex.join(command)}` "
            f"({env}), each on its own 127.x address, behind a Service proxy in the harness; "
            f"then locust ({scenario.traffic.users} users, {scenario.duration_s:g} s) and "
            f"{len(chaos.at_s) or chaos.count} chaos {chaos.action} actions; all of them "
            "stopped at the variant's end"
        )
    return lines
