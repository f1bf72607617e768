"""The traffic section of a scenario (``traffic:``): who sends what, how fast, from where.

Its own module, apart from harness.scenario, because the locust processes read it too
(harness.load.config): they must not import the rest of the harness (the analysis, numpy, YAML).
Bounds and the checks across sections are harness.scenario's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.load.mix import Request, sample_app_mix

HOST, CLUSTER = SOURCES = ("host", "cluster")


@dataclass
class Traffic:
    users: int = 10
    spawn_rate: float = 10.0
    keepalive: bool = True  # False: a new connection per request (a request may override it)
    requests: list[Request] | None = None  # what users send, by weight; None: the sample app's mix
    fast_weight: int | None = None  # the sample app's mix: share of GET / (3 when unset)
    slow_weight: int | None = None  # share of GET /work?ms={ms} (1 when unset)
    slow_ms_min: int = 100  # {ms} in a path: uniform in [slow_ms_min, slow_ms_max]
    slow_ms_max: int = 600
    pacing: str | None = None  # paced | closed (harness.load.pacing); None: paced unless think time
    rate_per_s: float | None = None  # requests per second over all users, instead of think time
    wait_min_s: float | None = None  # think time between a user's requests (0 when unset)
    wait_max_s: float | None = None  # (0.05 when unset)
    timeout_s: float = 10.0  # a request slower than this is a "timeout" failure
    workers: str = "1"  # load processes (locust's distributed mode), or "auto": one per core
    # Where the load comes from: "host" (this machine) or "cluster" (locust pods in drainlab's
    # namespace, sending to the Service's ClusterIP; harness.backends.kube.loadpods).
    source: str = field(default=HOST, metadata={"key": "from"})
    load_image: str | None = None  # the load pods' image; None: built for the local cluster

    def mix(self) -> list[Request]:
        """The requests users pick from: ``requests``, or the sample app's two."""
        if self.requests is not None:
            return self.requests
        fast, slow = self.fast_weight, self.slow_weight
        return sample_app_mix(3 if fast is None else fast, 1 if slow is None else slow)

    def think_s(self) -> tuple[float, float]:
        """Think time bounds, 0 and 0.05 s when unset; with ``rate_per_s`` users pace instead."""
        return (self.wait_min_s or 0.0, 0.05 if self.wait_max_s is None else self.wait_max_s)
