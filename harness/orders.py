"""The shutdown orders drainlab compares, and how each one maps onto an app and a pod spec."""

from __future__ import annotations

from dataclasses import dataclass

from harness.backends.base import DeploySpec


@dataclass(frozen=True, slots=True)
class Order:
    name: str
    app_order: str  # the sample app's SHUTDOWN_ORDER
    uses_prestop: bool
    summary: str


ORDERS: dict[str, Order] = {
    o.name: o
    for o in (
        Order("naive", "naive", False, "exits at once on SIGTERM"),
        Order("close-first", "close-first", False, "closes the listener on SIGTERM, then drains"),
        Order("prestop", "prestop", True, "a preStop sleep, then close-first"),
        Order(
            "graceful",
            "graceful",
            False,
            "fails readiness, keeps serving while the endpoint goes, then drains",
        ),
    )
}
DEFAULT_ORDERS: tuple[str, ...] = ("naive", "close-first", "prestop", "graceful")


def deploy_spec(
    order: str,
    *,
    replicas: int,
    shutdown_delay_s: float,
    shutdown_strategy: str,
    quiet_period_s: float,
    drain_timeout_s: float,
    prestop_sleep_s: float,
    grace_period_s: float,
) -> DeploySpec:
    """The pod spec for one order: env for the app, preStop only for the prestop order."""
    spec = ORDERS[order]
    env = {
        "SHUTDOWN_ORDER": spec.app_order,
        "SHUTDOWN_DELAY": f"{shutdown_delay_s:g}",
        "SHUTDOWN_STRATEGY": shutdown_strategy,
        "QUIET_PERIOD": f"{quiet_period_s:g}",
        "DRAIN_TIMEOUT": f"{drain_timeout_s:g}",
    }
    return DeploySpec(
        order=order,
        replicas=replicas,
        env=env,
        prestop_sleep_s=prestop_sleep_s if spec.uses_prestop else 0.0,
        grace_period_s=grace_period_s,
    )
