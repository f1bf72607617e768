"""The load model: paced (the default) or a closed loop, and the rate a paced load offers.

- paced: each user on a fixed schedule, locust's ``constant_throughput``: a request starts one
  interval after the previous one started, or at once when that one took longer. A failed
  request does not bring the next one forward, so an outage of connections refused in under a
  millisecond makes no more failures than one of slow errors; the offered rate is
  ``rate_per_s`` over all users, or ``DEFAULT_USER_RATE_PER_S`` per user. Users whose answers
  are slower than their interval send less (the sample app's /work takes 100-600 ms).
- closed: today's think-time loop, each user sending its next request ``wait_min_s`` to
  ``wait_max_s`` after the previous answer: the faster the failures, the more of them. It has
  no offered rate of its own (it is the service's speed).

``traffic.pacing`` left out is paced, unless think time is given (a scenario written before
pacing existed meant the closed loop); a run.json from before then has no ``pacing`` and was
closed unless it had ``rate_per_s``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The locust process imports this module: nothing from harness.analysis (numpy, the asyncio side).
PACED, CLOSED = LOAD_MODELS = ("paced", "closed")


@dataclass(frozen=True, slots=True)
class Load:
    """How a run offered its load: the load model and, when paced, its rate over all users."""

    model: str  # one of LOAD_MODELS
    offered_rate_per_s: float | None


# Chosen so the default scenario sends about as many requests as the closed loop did (10 users,
# 20 s, the sample app's mix: about 1740 per variant): a user waits out 1/28 s after a fast
# answer, and a /work answer (a quarter of the mix, 350 ms on average) takes longer than that.
DEFAULT_USER_RATE_PER_S = 35.0


def load_model(
    pacing: str | None, rate_per_s: float | None, wait_min_s: float | None, wait_max_s: float | None
) -> str:
    if pacing is not None:
        return pacing
    if rate_per_s is None and (wait_min_s, wait_max_s) != (None, None):
        return CLOSED
    return PACED


def user_rate_per_s(rate_per_s: float | None, users: int) -> float:
    """A paced user's requests per second."""
    return DEFAULT_USER_RATE_PER_S if rate_per_s is None else rate_per_s / users


def pacing_problems(
    pacing: str | None, rate_per_s: float | None, wait_min_s: float | None, wait_max_s: float | None
) -> list[str]:
    think = (wait_min_s, wait_max_s) != (None, None)
    if pacing is not None and pacing not in LOAD_MODELS:
        return [f"traffic.pacing: expected paced or closed, got {pacing!r}"]
    if rate_per_s is not None and think:
        return [
            "traffic.rate_per_s: a target rate and think time (wait_min_s, wait_max_s) are "
            "alternatives; give one"
        ]
    if pacing == PACED and think:
        return [
            "traffic.pacing: paced users keep a rate; think time (wait_min_s, wait_max_s) "
            "is the closed loop's (pacing: closed)"
        ]
    if pacing == CLOSED and rate_per_s is not None:
        return [
            "traffic.pacing: closed users think between requests; a rate (rate_per_s) is "
            "paced (pacing: paced)"
        ]
    return []


def traffic_load(traffic: Any) -> Load:
    """The load of a scenario's ``Traffic`` (harness.scenario; Any: that module imports this)."""
    return load_of(
        {
            "pacing": traffic.pacing,
            "rate_per_s": traffic.rate_per_s,
            "wait_min_s": traffic.wait_min_s,
            "wait_max_s": traffic.wait_max_s,
            "users": traffic.users,
        }
    )


def load_sentence(traffic: Any) -> str:
    """What `harness validate` says of the load model."""
    load = traffic_load(traffic)
    if load.offered_rate_per_s is None:
        return "load model: closed (each user sends its next request a think time after an answer)"
    rate = load.offered_rate_per_s
    return (
        f"load model: paced, {rate / traffic.users:g} requests/s per user, {rate:g}/s over "
        f"{traffic.users} users (a failed request does not bring a user's next one forward)"
    )


def load_of(traffic: Mapping[str, Any]) -> Load:
    """The load model and offered rate of a run, from its scenario's traffic as run.json holds
    it (an older run.json has no ``pacing``: the closed loop then, unless it had a rate)."""
    rate = traffic.get("rate_per_s")
    users = traffic.get("users") or 1
    if "pacing" not in traffic:
        model = PACED if rate is not None else CLOSED
    else:
        model = load_model(
            traffic["pacing"], rate, traffic.get("wait_min_s"), traffic.get("wait_max_s")
        )
    if model != PACED:
        return Load(model, None)
    return Load(model, user_rate_per_s(rate, users) * users)
