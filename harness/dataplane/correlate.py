"""Which moment each node's proxy stopped routing to a removed endpoint: pure, no I/O, no threads.

A :class:`RemovalCorrelator` is fed the controller's endpoint changes (``endpoint_removed`` /
``endpoint_added`` with the endpoint's "IP:PORT") and what the data-plane observers read on each
node, and returns the ``removal_applied`` events those complete (harness.timeline), one per
(pod, node, method).

The NAT rules (methods "nat_rules", "nat_rules_host") are exact: a removal is applied on a node
at the first snapshot of the node's NAT rules for the Service that lacks the endpoint's IP (on
any port: the controller's events name the pod's IP, the rules "IP:PORT"), after a
snapshot that held it (an address the observer never saw is never reported: a reader looking
at the wrong rules must not claim anything). If the address had already left the rules when
the controller's removal arrives (the proxy was quicker than the harness's watch), that
earlier snapshot is the moment.

kube-proxy's metrics (method "kube_proxy_metrics") do not name endpoints; they say when the
last sync wrote the rules (``kubeproxy_sync_proxy_rules_last_timestamp_seconds``), how many
endpoint changes kube-proxy has taken in (``..._endpoint_changes_total``) and how many Services
still have changes waiting for a sync (``..._endpoint_changes_pending``, reset when a sync
takes them in, at its start), and how long syncs took (``..._duration_seconds`` sum and count:
when exactly one sync ended between two readings, its duration, hence its start). The rule: a
removal the controller published at R is applied on a node by the first sync that completed
after R (its ``sync_ts`` > R) and either

1. started after R (``sync_ts`` minus its duration >= R): kube-proxy, watching the same API
   server, had the change by then, and a sync takes in every change it has at its start; or
2. was reported with no change pending (``changes_pending`` == 0) and none queued since it
   ended (``..._last_queued_timestamp_seconds`` <= ``sync_ts``: else a sync already under way
   may have taken the changes, and reset the pending count, without having written them), after
   kube-proxy counted a change since R − WATCH_LEAD_S (``changes_total`` above the last total
   reported at or before then; without such a report this test is not made): the sync took in
   every change received until then. kube-proxy's watch may deliver the change before the
   harness's does: on the local cluster under load kube-proxy counted a removal and began the
   sync that applied it 94 ms before the harness saw the removal, and a baseline taken at R
   had already counted it, so the next sync, 1.9 s later, was taken instead.

A sync that began before R and left changes pending is not taken: a later one is, so under
churn the moment can be late (by a sync), never early, unless kube-proxy's own watch trails the
harness's. On the local cluster (v1.20, 23 deletions under load) every moment fell between the
last host read of the NAT rules that held the endpoint and the first that did not (reads every
~55 ms), 17 ms after that interval's middle at p50, 36 ms at most. ``sync_ts`` is in the
node's clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from harness.timeline import EventKind, TimelineEvent

# How long before the harness's watch kube-proxy's may have taken in an endpoint change (seen:
# 94 ms; see rule 2).
WATCH_LEAD_S = 0.25
KUBE_PROXY_METRICS = "kube_proxy_metrics"
NAT_RULES = "nat_rules"
NAT_RULES_HOST = "nat_rules_host"
EMBEDDED_PROXY = "embedded_proxy"
# From the most direct to the least: the order a reader prefers them in.
METHODS = (NAT_RULES_HOST, NAT_RULES, KUBE_PROXY_METRICS, EMBEDDED_PROXY)


@dataclass(frozen=True, slots=True)
class Removal:
    pod: str
    address: str
    ts: float  # the controller's moment (endpoint_removed)
    added_ts: float | None  # when this pod's endpoint was last added, if seen


@dataclass(slots=True)
class _MetricsNode:
    totals: list[tuple[float, float]] = field(default_factory=list)  # (seen_ts, total), by time
    last_sync_ts: float | None = None
    durations: tuple[float, float] | None = None  # the last (sum, count) of sync durations
    waiting: list[tuple[Removal, float]] = field(default_factory=list)  # (removal, baseline)

    def baseline(self, at: float) -> float | None:
        """The last changes_total reported at or before ``at``."""
        found = None
        for seen, total in self.totals:
            if seen > at:
                break
            found = total
        return found


@dataclass(slots=True)
class _NatView:
    present: frozenset[str] = frozenset()
    vanished: dict[str, tuple[float, float]] = field(default_factory=dict)  # addr → (ts, poll)
    last_ts: float | None = None
    waiting: list[Removal] = field(default_factory=list)


class RemovalCorrelator:
    """Matches endpoint removals to the observers' readings; see the module docstring."""

    def __init__(self) -> None:
        self._added: dict[str, float] = {}  # pod → when its endpoint was last added
        self._metrics: dict[str, _MetricsNode] = {}
        self._nat: dict[tuple[str, str], _NatView] = {}  # (node, method) → view
        self._done: set[tuple[str, str, str]] = set()  # (pod, node, method)

    # ----- the controller ----------------------------------------------------------------------

    def endpoint_added(self, pod: str, address: str, ts: float) -> list[TimelineEvent]:
        del address  # an address may come back with a new pod: removals carry the pod
        self._added[pod] = ts
        for key in [k for k in self._done if k[0] == pod]:
            self._done.discard(key)  # the pod is an endpoint again: its next removal counts
        return []

    def endpoint_removed(self, pod: str, address: str, ts: float) -> list[TimelineEvent]:
        """The controller dropped the pod's endpoint at ``ts``; returns what is already known
        (a NAT view the address has left already)."""
        if not address:
            return []
        removal = Removal(pod, address, ts, self._added.get(pod))
        host = host_of(address)
        for state in self._metrics.values():
            baseline = state.baseline(ts - WATCH_LEAD_S)
            if baseline is not None:
                state.waiting.append((removal, baseline))
        events: list[TimelineEvent] = []
        for (node, method), view in self._nat.items():
            gone = view.vanished.get(host)
            if gone is not None and (removal.added_ts is None or gone[0] >= removal.added_ts):
                events += self._applied(removal, node, method, gone[0], {"poll_ms": gone[1]})
            elif host in view.present:
                view.waiting.append(removal)
        return events

    # ----- kube-proxy's metrics ----------------------------------------------------------------

    def proxy_metrics(
        self,
        node: str,
        seen_ts: float,
        sync_ts: float | None,
        changes_total: float,
        changes_pending: float,
        durations: tuple[float, float] | None = None,
        queued_ts: float | None = None,
    ) -> list[TimelineEvent]:
        """One reading of a node's kube-proxy metrics, taken at ``seen_ts``; ``durations``: the
        sum and count of its sync durations, ``queued_ts``: its last queued sync, when read."""
        state = self._metrics.setdefault(node, _MetricsNode())
        state.totals.append((seen_ts, changes_total))
        new_sync = sync_ts is not None and sync_ts != state.last_sync_ts
        state.last_sync_ts = sync_ts
        started = None  # the sync's start, when one sync alone ended since the last reading
        last = state.durations
        if durations is not None and last is not None and durations[1] - last[1] == 1:
            started = None if sync_ts is None else sync_ts - (durations[0] - last[0])
        state.durations = durations if durations is not None else state.durations
        if not new_sync or sync_ts is None:
            return []
        events: list[TimelineEvent] = []
        still: list[tuple[Removal, float]] = []
        for removal, baseline in state.waiting:
            began_after = started is not None and started >= removal.ts
            quiet = queued_ts is None or queued_ts <= sync_ts
            drained = changes_pending == 0 and quiet and changes_total > baseline
            if sync_ts > removal.ts and (began_after or drained):
                extra = {
                    "sync_ts": round(sync_ts, 6),
                    "poll_ms": round((seen_ts - sync_ts) * 1000, 1),
                    "changes_total": changes_total,
                }
                if started is not None:
                    extra["sync_started_ts"] = round(started, 6)
                events += self._applied(removal, node, KUBE_PROXY_METRICS, sync_ts, extra)
            else:
                still.append((removal, baseline))
        state.waiting = still
        return events

    # ----- NAT rules ---------------------------------------------------------------------------

    def nat_snapshot(
        self, node: str, method: str, ts: float, addresses: Iterable[str]
    ) -> list[TimelineEvent]:
        """The Service's endpoints in a node's NAT rules, as read at ``ts``."""
        view = self._nat.setdefault((node, method), _NatView())
        now = frozenset(host_of(a) for a in addresses)  # a pod leaves with its last port
        poll_ms = round((ts - view.last_ts) * 1000, 1) if view.last_ts is not None else None
        for address in view.present - now:
            view.vanished[address] = (ts, poll_ms if poll_ms is not None else 0.0)
        for address in now:
            view.vanished.pop(address, None)
        view.present, view.last_ts = now, ts
        events: list[TimelineEvent] = []
        still = []
        for removal in view.waiting:
            if host_of(removal.address) in now:
                still.append(removal)
            else:
                events += self._applied(removal, node, method, ts, {"poll_ms": poll_ms})
        view.waiting = still
        return events

    # ----- the result --------------------------------------------------------------------------

    def _applied(
        self, removal: Removal, node: str, method: str, ts: float, extra: Mapping[str, object]
    ) -> list[TimelineEvent]:
        key = (removal.pod, node, method)
        if key in self._done:
            return []
        self._done.add(key)
        detail = {
            "node": node,
            "method": method,
            "address": removal.address,
            "endpoint_removed_ts": round(removal.ts, 6),
            **extra,
        }
        return [TimelineEvent(ts, EventKind.REMOVAL_APPLIED, removal.pod, detail)]


def host_of(endpoint: str) -> str:
    """The IP of "IP:PORT" ("[IPv6]:PORT"), or the address itself when it has no port: the
    controller's events name a pod's IP, the NAT rules its IP and port."""
    if endpoint.startswith("["):
        return endpoint[1:].split("]", 1)[0]
    return endpoint.rsplit(":", 1)[0] if endpoint.count(":") == 1 else endpoint
