"""drainlab's data-plane agent: one per node, reports what the node's Service proxy does.

Standard library only: the kube backend ships this file (with natrules.py beside it) in a
ConfigMap and runs it with the python3 of an image the cluster already has (the sample app's)::

    python3 agent.py --namespace NS --service SVC [--read-nat] [--interval-ms 50]

Every ``--interval-ms`` it reads kube-proxy's metrics (``--metrics-url``, by default
http://127.0.0.1:10249/metrics: a ``hostNetwork`` pod shares the node's network namespace) and,
with ``--read-nat`` and an ``iptables-save`` on PATH, the node's NAT rules for the Service. It
prints one JSON line per change on stdout, each with ``"drainlab_agent": 1``, the node
(``--node``, by default $NODE_NAME from the downward API), ``ts`` (the node's clock) and
``kind``:

- ``metrics``: ``sync_ts``, ``changes_total``, ``changes_pending``, ``queued_ts``,
  ``duration_sum``, ``duration_count`` (kube-proxy's last sync, endpoint-change counters, last
  queued sync and the sum and count of sync durations), when any of them changed;
- ``nat``: ``addresses``, the Service's "IP:PORT" endpoints in the NAT rules, when they changed;
- ``state``: an observer's ``method`` ("kube_proxy_metrics" or "nat_rules"), ``state``
  ("watching" or "unavailable") and ``reason``, when it changed.

It never exits on its own (``--polls N``: after N rounds, for tests); SIGTERM ends it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

METRICS_URL = "http://127.0.0.1:10249/metrics"
SYNC = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"
QUEUED = "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds"
CHANGES_TOTAL = "kubeproxy_sync_proxy_rules_endpoint_changes_total"
CHANGES_PENDING = "kubeproxy_sync_proxy_rules_endpoint_changes_pending"
DURATION = "kubeproxy_sync_proxy_rules_duration_seconds"  # a histogram: its _sum and _count
METRIC_KEYS = {SYNC: "sync_ts", QUEUED: "queued_ts", CHANGES_TOTAL: "changes_total"}
METRIC_KEYS[CHANGES_PENDING] = "changes_pending"
METRIC_KEYS[DURATION + "_sum"] = "duration_sum"
METRIC_KEYS[DURATION + "_count"] = "duration_count"
TIMEOUT_S = 2.0

ServiceEndpoints = Callable[[str, str, str], frozenset[str]]


def parse_metrics(text: str) -> dict[str, float]:
    """The values of the metrics the agent reports, by their short names, from Prometheus text
    (each of them is one unlabelled sample)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ")
        key = METRIC_KEYS.get(name.split("{", 1)[0])
        if key is None:
            continue
        try:
            found[key] = float(rest.split()[0])
        except (ValueError, IndexError):
            continue
    return found


def load_service_endpoints() -> ServiceEndpoints | None:
    """natrules.service_endpoints: beside this file in the ConfigMap, or in the harness."""
    try:
        import natrules  # type: ignore[import-not-found, unused-ignore]

        return natrules.service_endpoints  # type: ignore[no-any-return, unused-ignore]
    except ImportError:
        pass
    try:
        from harness.dataplane import natrules as packaged  # type: ignore[attr-defined, unused-ignore]

        return packaged.service_endpoints  # type: ignore[no-any-return, unused-ignore]
    except ImportError:
        return None


class Agent:
    def __init__(self, args: argparse.Namespace, out: Any = sys.stdout) -> None:
        self.args = args
        self.out = out
        self.states: dict[str, tuple[str, str]] = {}
        self.metrics: dict[str, float] | None = None
        self.addresses: list[str] | None = None
        self.iptables_save = shutil.which("iptables-save")
        self.service_endpoints = load_service_endpoints() if args.read_nat else None

    def say(self, kind: str, **fields: Any) -> None:
        line = {"drainlab_agent": 1, "ts": round(time.time(), 6), "node": self.args.node}
        self.out.write(json.dumps({**line, "kind": kind, **fields}, sort_keys=True) + "\n")
        self.out.flush()

    def state(self, method: str, state: str, reason: str = "") -> None:
        if self.states.get(method) != (state, reason):
            self.states[method] = (state, reason)
            extra = {"reason": reason} if reason else {}
            self.say("state", method=method, state=state, **extra)

    def poll_metrics(self) -> None:
        try:
            with urllib.request.urlopen(self.args.metrics_url, timeout=TIMEOUT_S) as answer:
                text = answer.read().decode("utf-8", "replace")
        except (OSError, ValueError) as exc:
            why = f"kube-proxy metrics not reachable at {self.args.metrics_url}: {exc}"
            self.state("kube_proxy_metrics", "unavailable", one_line(why))
            return
        values = parse_metrics(text)
        if SYNC not in text or "changes_total" not in values:
            why = f"kube-proxy metrics at {self.args.metrics_url} lack {SYNC} or {CHANGES_TOTAL}"
            self.state("kube_proxy_metrics", "unavailable", why)
            return
        self.state("kube_proxy_metrics", "watching")
        if values != self.metrics:
            self.metrics = values
            self.say("metrics", **values)

    def poll_nat(self) -> None:
        if not self.args.read_nat:
            why = "reading NAT rules not allowed (data_plane.read_nat is false)"
            self.state("nat_rules", "unavailable", why)
            return
        if self.iptables_save is None:
            self.state("nat_rules", "unavailable", "no iptables-save in the agent image")
            return
        if self.service_endpoints is None:
            self.state("nat_rules", "unavailable", "natrules.py is not beside the agent")
            return
        try:
            done = subprocess.run(
                [self.iptables_save, "-t", "nat"],
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S * 5,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.state("nat_rules", "unavailable", one_line(f"iptables-save failed: {exc}"))
            return
        if done.returncode != 0:
            said = one_line(done.stderr) or f"exit code {done.returncode}"
            self.state("nat_rules", "unavailable", f"iptables-save failed: {said}")
            return
        self.state("nat_rules", "watching")
        found = self.service_endpoints(done.stdout, self.args.namespace, self.args.service)
        addresses = sorted(found)
        if addresses != self.addresses:
            self.addresses = addresses
            self.say("nat", addresses=addresses)

    def run(self) -> None:
        interval_s = self.args.interval_ms / 1000
        rounds = 0
        while self.args.polls == 0 or rounds < self.args.polls:
            started = time.monotonic()
            self.poll_metrics()
            self.poll_nat()
            rounds += 1
            time.sleep(max(0.0, interval_s - (time.monotonic() - started)))


def one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--node", default=os.environ.get("NODE_NAME", ""))
    parser.add_argument("--read-nat", action="store_true")
    parser.add_argument("--interval-ms", type=float, default=50.0)
    parser.add_argument("--metrics-url", default=METRICS_URL)
    parser.add_argument("--polls", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        Agent(parse_args(argv)).run()


if __name__ == "__main__":
    main()
