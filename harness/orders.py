"""The sample app's shutdown orders: its four built-in variants (see harness.appspec)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.appspec import App, Variant


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


def sample_variant(order: str, app: App) -> Variant:
    """The sample app's built-in variant for one order: its env, and a preStop sleep for the
    prestop order only; the grace period is the scenario's ``app.grace_period_s``."""
    spec = ORDERS[order]
    env = {
        "SHUTDOWN_ORDER": spec.app_order,
        "SHUTDOWN_DELAY": f"{app.shutdown_delay_s:g}",
        "SHUTDOWN_STRATEGY": app.shutdown_strategy,
        "QUIET_PERIOD": f"{app.quiet_period_s:g}",
        "DRAIN_TIMEOUT": f"{app.drain_timeout_s:g}",
    }
    return Variant(
        env=env,
        prestop_sleep_s=app.prestop_sleep_s if spec.uses_prestop else 0.0,
        grace_period_s=app.grace_period_s,
    )
