"""A realistic synthetic run folder for the report, JUnit and gate tests, built to be
internally consistent (tests/report/test_report_synthetic.py checks that, so a report test that
fails points at the report, not at the fixture).

``make_run`` simulates each shutdown order the way the embedded backend would see it: three
replicas under steady load, five deletions, the Service's routing lagging the delete, and each
order's own shutdown (naive exits at once, close-first closes its listener, prestop sleeps and has
one pod killed at its grace period, graceful keeps serving until routing has moved on). Requests
routed to a pod that no longer listens are refused; requests in flight when a process ends are
reset. It then writes summary.json by the rules of docs/summary-v1.md (phases included) and the
records, timeline and pods files, with a torn last line in one records file as a crash leaves it.

``GATE`` is the gate the report tests give it.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.evidence import comparisons_block, confidence_block
from harness.classify import ERROR_CLASSES
from harness.gate import GateLimits, evaluate
from harness.records import RequestRecord
from harness.timeline import EventKind, TimelineEvent

ORDERS = ("naive", "close-first", "prestop", "graceful")
GATE = {"order": "graceful", "max_failed": 0, "max_failure_rate": None, "classes": None}
RECORD_FIELDS = tuple(f.name for f in fields(RequestRecord))
PHASES = (
    "before_sigterm",
    "propagating",
    "draining",
    "after_exit",
    "unknown",  # none here: every moment of every deletion is observed
    "no_ready_replica",
    "unattributed",
)
BASE_TS = 1764012600.0
DURATION_S = 20.0
DELETES_AT = (3.0, 6.0, 9.0, 12.0, 15.0)
GRACE_S = 8.0
# The moments of a pod row, in file order (independent of analysis/pods.py, which it checks).
POD_KEYS = [
    "created",
    "scheduled",
    "network_ready",
    "container_started",
    "ready",
    "endpoint_added",
    "delete_requested",
    "endpoint_removed",
    "removal_applied",
    "prestop_started",
    "prestop_ended",
    "sigterm",
    "readiness_failed",
    "listener_closed",
    "drained",
    "exit",
    "exited",
    "killed",
    "last_served",
]


@dataclass
class Pod:
    name: str
    steps: dict[str, float | None] = field(default_factory=dict)

    def at(self, key: str) -> float | None:
        return self.steps.get(key)

    @property
    def routed_from(self) -> float:
        return float(self.steps["ready"]) + 0.6  # type: ignore[arg-type]

    @property
    def routed_until(self) -> float:
        applied = self.at("removal_applied")
        return applied if applied is not None else math.inf

    @property
    def listening_until(self) -> float:
        for key in ("listener_closed", "exited", "killed"):
            value = self.at(key)
            if value is not None:
                return value
        return math.inf

    @property
    def stopped(self) -> float:
        for key in ("exited", "killed"):
            value = self.at(key)
            if value is not None:
                return value
        return math.inf


def _new_pod(order: str, index: int, created: float) -> Pod:
    pod = Pod(f"{order}-7c9d5-{index:02d}")
    pod.steps = dict.fromkeys(POD_KEYS)
    steps = pod.steps
    steps["created"] = created
    steps["scheduled"] = created + 0.03
    steps["network_ready"] = created + 0.42
    steps["container_started"] = created + 0.71
    steps["ready"] = created + 1.62
    steps["endpoint_added"] = created + 1.71
    return pod


def _delete(order: str, pod: Pod, d: float, kill: bool) -> None:
    s = pod.steps
    s["delete_requested"] = d
    s["endpoint_removed"] = d + 0.26
    s["removal_applied"] = d + 0.95 + 0.1 * (int(d) % 3)
    if order == "naive":
        s["sigterm"] = d + 0.02
        s["exit"] = d + 0.05
        s["exited"] = d + 0.07
    elif order == "close-first":
        s["sigterm"] = d + 0.02
        s["listener_closed"] = d + 0.03
        s["drained"] = d + 0.45
        s["exit"] = d + 0.47
        s["exited"] = d + 0.5
    elif order == "prestop":
        s["prestop_started"] = d + 0.01
        s["prestop_ended"] = d + 5.0
        s["sigterm"] = d + 5.01
        s["listener_closed"] = d + 5.02
        if kill:  # a stuck request keeps it from draining: SIGKILL at the grace period
            s["killed"] = d + GRACE_S
        else:
            s["drained"] = d + 5.3
            s["exit"] = d + 5.31
            s["exited"] = d + 5.33
    else:  # graceful
        s["sigterm"] = d + 0.02
        s["readiness_failed"] = d + 0.03
        s["listener_closed"] = d + 3.03
        s["drained"] = d + 3.2
        s["exit"] = d + 3.21
        s["exited"] = d + 3.24


def _window_end(pod: Pod) -> float:
    """docs/summary-v1.md: 2 s after the later of routing stopped and exit or kill."""
    return max(pod.routed_until, pod.stopped) + 2.0


def _phase(t: float, pod: Pod) -> str:
    d, s = float(pod.steps["delete_requested"]), pod.at("sigterm") or math.inf  # type: ignore[arg-type]
    r, x = pod.routed_until, pod.stopped
    if t < d:
        return "unattributed"
    if t < s:
        return "before_sigterm"
    if t < min(r, x):
        return "propagating"
    if r <= t < x:
        return "draining"
    return "after_exit"


def _attribute(end: float, pod_name: str | None, deleted: list[Pod]) -> tuple[Pod | None, str]:
    for pod in deleted:
        if pod.name == pod_name:
            return pod, _phase(end, pod)
    holding = [p for p in deleted if p.steps["delete_requested"] <= end < _window_end(p)]  # type: ignore[operator]
    if not holding:
        return None, "unattributed"
    pod = max(holding, key=lambda p: p.steps["delete_requested"])  # type: ignore[arg-type,return-value]
    return pod, _phase(end, pod)


@dataclass
class OrderRun:
    name: str
    t0: float
    pods: list[Pod]
    records: list[RequestRecord]
    events: list[TimelineEvent]
    deleted: list[Pod]


def simulate(order: str, t0: float, rate: float, rng: random.Random) -> OrderRun:
    pods = [_new_pod(order, i, t0 - 9.0 + 0.2 * i) for i in range(3)]
    deleted: list[Pod] = []
    for n, offset in enumerate(DELETES_AT):
        d = t0 + offset
        victim = min((p for p in pods if p.at("delete_requested") is None), key=lambda p: p.name)
        _delete(order, victim, d, kill=order == "prestop" and n == 2)
        deleted.append(victim)
        pods.append(_new_pod(order, len(pods), d + 0.05))

    records: list[RequestRecord] = []
    count = int(rate * DURATION_S)
    starts = sorted(t0 + rng.random() * DURATION_S for _ in range(count))
    # (routed from, routed until, listening until, stopped, name): looked up per request, so
    # computed once (the large-run test simulates a million requests).
    spans = [(p.routed_from, p.routed_until, p.listening_until, p.stopped, p.name) for p in pods]
    for start in starts:
        routed = [s for s in spans if s[0] <= start < s[1]]
        _, _, listening_until, stopped, pod_name = routed[rng.randrange(len(routed))]
        slow = rng.random() < 0.25
        latency = rng.uniform(0.1, 0.6) if slow else rng.lognormvariate(math.log(0.004), 0.4)
        name = f"/work?ms={int(latency * 1000)}" if slow else "/"
        if start >= listening_until:
            end = start + 0.0008
            records.append(_failed(start, end, name, None, "connection_refused"))
        elif start + latency > stopped:
            end = stopped + 0.001
            records.append(_failed(start, end, name, None, "connection_reset"))
        else:
            end = start + latency
            records.append(RequestRecord(start, end, latency * 1000, name, 200, 12, pod_name, None))
    records += _injected(order, t0, deleted, pods)
    records.sort(key=lambda r: r.end)
    pod_last: dict[str, float] = {}
    for r in records:
        if r.pod is not None and r.error is None:
            pod_last[r.pod] = max(pod_last.get(r.pod, 0.0), r.end)
    for p in deleted:
        p.steps["last_served"] = pod_last.get(p.name)
    return OrderRun(order, t0, pods, records, _events(pods, t0), deleted)


def _failed(start: float, end: float, name: str, pod: str | None, error: str) -> RequestRecord:
    status = 503 if error == "http_5xx" else 0
    return RequestRecord(
        start, end, (end - start) * 1000, name, status, 0, pod, error, f"{error} (synthetic)"
    )


def _injected(order: str, t0: float, deleted: list[Pod], pods: list[Pod]) -> list[RequestRecord]:
    """Failures the simple traffic model does not produce by itself, so every phase and several
    classes appear somewhere in the run."""
    out = []
    if order == "prestop":
        killed = deleted[2]
        d = float(killed.steps["delete_requested"])  # type: ignore[arg-type]
        # a request that hung while the preStop hook ran, and two cut while draining
        out.append(_failed(d - 8.0, d + 2.0, "/work?ms=600", None, "timeout"))
        for k in range(2):
            end = float(killed.steps["sigterm"]) + 1.0 + k  # type: ignore[arg-type]
            # the pod is known (its stream was cut mid-response), so the failure is its own
            out.append(_failed(end - 0.4, end, "/work?ms=400", killed.name, "remote_disconnected"))
    if order == "close-first":
        # two 503s from a pod nobody deleted, after every deletion window: not a shutdown problem
        survivor = next(p for p in pods if p.at("delete_requested") is None)
        end = t0 + 18.6
        out += [
            _failed(end - 0.01, end + k * 0.01, "/", survivor.name, "http_5xx") for k in range(2)
        ]
    return out


def _events(pods: list[Pod], t0: float) -> list[TimelineEvent]:
    # Written out here, not taken from analysis/pods.py: the fixture must not share the mapping
    # it is used to check.
    kinds = {
        "created": EventKind.POD_CREATED,
        "scheduled": EventKind.POD_SCHEDULED,
        "network_ready": EventKind.POD_NETWORK_READY,
        "container_started": EventKind.POD_CONTAINER_STARTED,
        "ready": EventKind.POD_READY,
        "endpoint_added": EventKind.ENDPOINT_ADDED,
        "delete_requested": EventKind.DELETE_REQUESTED,
        "endpoint_removed": EventKind.ENDPOINT_REMOVED,
        "removal_applied": EventKind.REMOVAL_APPLIED,
        "prestop_started": EventKind.PRESTOP_STARTED,
        "prestop_ended": EventKind.PRESTOP_ENDED,
        "sigterm": EventKind.SIGTERM_SENT,
        "readiness_failed": "app_readiness_failed",
        "listener_closed": "app_listener_closed",
        "drained": "app_drained",
        "exit": "app_exit",
        "exited": EventKind.EXITED,
        "killed": EventKind.KILLED,
    }
    events = [
        TimelineEvent(t0, EventKind.LOAD_STARTED, None, {}),
        TimelineEvent(t0 + DURATION_S, EventKind.LOAD_STOPPED, None, {}),
    ]
    replaced = iter(p.name for p in pods if p.at("delete_requested") is not None)
    for pod in pods:
        for key, kind in kinds.items():
            value = pod.at(key)
            if value is None:
                continue
            detail: dict[str, Any] = {}
            if key == "delete_requested":
                detail = {"grace_period_s": GRACE_S}
                events.append(
                    TimelineEvent(
                        value - 0.001,
                        "chaos_action",
                        None,
                        {"action": "delete_random", "targets": [pod.name]},
                    )
                )
            elif key == "exited":
                detail = {"code": 0}
            elif key == "ready" and value > t0:
                detail = {"replaces": next(replaced)}
            events.append(TimelineEvent(value, kind, pod.name, detail))
        if pod.at("ready") is not None:
            events.append(TimelineEvent(pod.routed_from, EventKind.ADDITION_APPLIED, pod.name, {}))
    return sorted(events, key=lambda e: e.ts)


def _pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    arr = np.array(values)
    return {
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p95": round(float(np.percentile(arr, 95)), 3),
        "p99": round(float(np.percentile(arr, 99)), 3),
        "max": round(float(arr.max()), 3),
    }


def _stage(deleted: list[Pod], key: str) -> dict[str, Any]:
    values = [
        (float(p.steps[key]) - float(p.steps["delete_requested"])) * 1000  # type: ignore[arg-type]
        for p in deleted
        if p.at(key) is not None
    ]
    pct = _pct(values)
    return {"p50": pct["p50"], "p99": pct["p99"], "samples": len(values)}


def _basis(pod: Pod) -> dict[str, str]:
    """Where each moment of a deletion comes from: all the platform's here, as on the embedded
    backend (the kubelet's SIGTERM, the proxy's removal, the exit or the kill)."""
    return {
        "delete": "delete_requested",
        "sigterm": "sigterm_sent",
        "removal": "removal_applied",
        "exit": "killed" if pod.at("killed") is not None else "exited",
    }


def _phase_basis(deleted: list[Pod]) -> dict[str, Any]:
    exits = sorted({_basis(p)["exit"] for p in deleted})
    events = {
        "before_sigterm": ["delete_requested", "sigterm_sent"],
        "propagating": ["removal_applied", "sigterm_sent"],
        "draining": sorted([*exits, "removal_applied", "sigterm_sent"]),
        "after_exit": exits,
    }
    block: dict[str, Any] = {
        phase: {
            "rests_on": "platform",
            "events": kinds,
            "deletions": len(deleted),
            "undelimited": 0,
        }
        for phase, kinds in events.items()
    }
    block["missing"] = {"sigterm": 0, "removal": 0, "exit": 0}
    return block


def order_summary(run: OrderRun) -> dict[str, Any]:
    by_class = dict.fromkeys(ERROR_CLASSES, 0)
    by_phase = dict.fromkeys(PHASES, 0)
    per_deletion: dict[str, dict[str, Any]] = {
        p.name: {
            "pod": p.name,
            "ts": p.steps["delete_requested"],
            "failed": 0,
            "by_phase": dict.fromkeys(PHASES[:-1], 0),
            "basis": _basis(p),
        }
        for p in run.deleted
    }
    near: list[float] = []
    for r in run.records:
        pod, phase = _attribute(r.end, r.pod, run.deleted)
        if pod is not None and pod.steps["delete_requested"] <= r.end < _window_end(pod):  # type: ignore[operator]
            near.append(r.latency_ms)
        if r.error is None:
            continue
        by_class[r.error] += 1
        by_phase[phase] += 1
        if pod is not None and phase != "unattributed":
            per_deletion[pod.name]["failed"] += 1
            per_deletion[pod.name]["by_phase"][phase] += 1
    failed = sum(by_class.values())
    requests = len(run.records)
    removal = _stage(run.deleted, "removal_applied")
    # docs/summary-v1.md: a request is inside a deletion's window when its end lies in [D, E].
    inside = [
        r
        for r in run.records
        if any(p.steps["delete_requested"] <= r.end <= _window_end(p) for p in run.deleted)  # type: ignore[operator]
    ]
    failed_inside = sum(1 for r in inside if r.error is not None)
    return {
        "requests": requests,
        "failed": failed,
        "failure_rate": failed / requests,
        "failures_by_class": by_class,
        "failures_by_phase": by_phase,
        "deletions": len(run.deleted),
        "confidence": confidence_block(
            requests, failed, len(run.deleted), len(inside), failed_inside
        ),
        "per_deletion": list(per_deletion.values()),
        "phase_basis": _phase_basis(run.deleted),
        "latency_ms": _pct([r.latency_ms for r in run.records]),
        "latency_ms_around_deletions": _pct(near),
        "propagation_ms": {
            "p50": removal["p50"],
            "p99": removal["p99"],
            "samples": removal["samples"],
            "stages": {
                "endpoint_removed": _stage(run.deleted, "endpoint_removed"),
                "removal_applied": removal,
                "last_served": _stage(run.deleted, "last_served"),
            },
        },
        "window": {"start": run.t0, "end": run.t0 + DURATION_S},
        "files": {
            "records": f"records-{run.name}.jsonl",
            "timeline": f"timeline-{run.name}.jsonl",
            "pods": f"pods-{run.name}.jsonl",
        },
    }


def _cause(r: RequestRecord, pod: Pod) -> str | None:
    """What cut a failure of ``pod``'s deletion (docs/summary-v1.md, pods rows), or None."""
    cut = r.error in ("connection_reset", "remote_disconnected")
    stops = (pod.at("sigterm"), pod.stopped)
    if cut and any(m is not None and r.start < m <= r.end for m in stops):
        return "cut_in_flight"
    deaf = pod.listening_until
    if (r.error == "connection_refused" and r.end >= deaf) or (
        cut and deaf <= r.start < pod.routed_until
    ):
        return "sent_not_listening"
    if cut and r.end >= pod.routed_until:
        return "cut_keepalive"
    return None


def pod_rows(run: OrderRun) -> list[dict[str, Any]]:
    """Rows as harness.analysis.pods writes them: the steps, then what the analysis adds."""
    failed: dict[str, int] = {}
    after_closed: dict[str, int] = {}
    causes = {
        p.name: {
            "cut_in_flight": 0,
            "sent_not_listening": 0,
            "cut_keepalive": 0,
            "unexplained_by_phase": dict.fromkeys(PHASES[:-1], 0),
        }
        for p in run.pods
    }
    for r in run.records:
        if r.error is None:
            continue
        pod, phase = _attribute(r.end, r.pod, run.deleted)
        if pod is None or phase == "unattributed":
            continue
        failed[pod.name] = failed.get(pod.name, 0) + 1
        closed = pod.at("listener_closed")
        if closed is not None and r.end >= closed:
            after_closed[pod.name] = after_closed.get(pod.name, 0) + 1
        cause = _cause(r, pod)
        if cause is None:
            causes[pod.name]["unexplained_by_phase"][phase] += 1  # type: ignore[index]
        else:
            causes[pod.name][cause] += 1  # type: ignore[operator]
    replaced = iter(p.name for p in run.deleted)
    rows = []
    for p in run.pods:
        deleted = p.at("delete_requested") is not None
        rows.append(
            {
                "pod": p.name,
                "order": run.name,
                **p.steps,
                "exit_code": 0 if p.at("exited") is not None else None,
                "replaces": next(replaced) if p.steps["created"] > run.t0 else None,  # type: ignore[operator]
                "grace_period_s": GRACE_S if deleted else None,
                "failed": failed.get(p.name, 0),
                "failed_after_listener_closed": after_closed.get(p.name, 0),
                **causes[p.name],
            }
        )
    return rows


def make_run(
    root: Path,
    *,
    orders: tuple[str, ...] = ORDERS,
    rate: float = 150.0,
    partial: bool = False,
    gate: dict[str, Any] | None = None,
    seed: int = 1,
    torn_tail: bool = True,
) -> Path:
    """Writes a run folder under ``root`` and returns it."""
    run_dir = root / "run-20261124T193000Z"
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    summaries: dict[str, Any] = {}
    propagation: list[float] = []
    for i, order in enumerate(orders):
        run = simulate(order, BASE_TS + 40.0 * i, rate, rng)
        summaries[order] = order_summary(run)
        propagation += [
            (p.routed_until - float(p.steps["delete_requested"])) * 1000  # type: ignore[arg-type]
            for p in run.deleted
        ]
        _write_jsonl(run_dir / f"records-{order}.jsonl", [_record_dict(r) for r in run.records])
        _write_jsonl(run_dir / f"timeline-{order}.jsonl", [asdict(e) for e in run.events])
        _write_jsonl(run_dir / f"pods-{order}.jsonl", pod_rows(run))
    if torn_tail and orders:
        with (run_dir / f"records-{orders[0]}.jsonl").open("a", encoding="utf-8") as handle:
            handle.write('{"start":1764012619.9,"end":1764012619.95,"latency')  # a crash mid-line
    p99 = float(np.percentile(np.array(propagation), 99)) if propagation else None
    summary: dict[str, Any] = {
        "schema_version": 1,
        "partial": partial,
        "backend": "embedded",
        "backend_detail": {
            "why": "no kubeconfig context given and no usable kind",
            "kubernetes_version": None,
        },
        "scenario": {
            "orders": list(orders),
            "replicas": 3,
            "duration_s": DURATION_S,
            "seed": seed,
            "chaos": {"action": "delete_random", "at_s": list(DELETES_AT), "grace_period_s": None},
            "app": {"grace_period_s": GRACE_S, "prestop_sleep_s": 5.0, "shutdown_delay_s": 3.0},
            "gate": {
                "order": "graceful",
                "max_failed": 0,
                "max_failure_rate": None,
                "classes": None,
            },
        },
        "started": "2026-11-24T19:30:00+00:00",
        "finished": "2026-11-24T19:32:40+00:00",
        "seed": seed,
        "versions": {
            "drainlab": "0.1.0",
            "python": "3.11.7",
            "aiohttp": "3.9.5",
            "locust": "2.24.1",
        },
        "orders": summaries,
        "comparisons": comparisons_block(summaries),
        "recommendation": {
            "prestop_sleep_s": math.ceil((p99 + 1000) / 1000) if p99 else None,
            "shutdown_delay_s": math.ceil((p99 + 1000) / 1000) if p99 else None,
            "basis": (
                f"p99 propagation {p99:.0f} ms over {len(propagation)} deletions + margin 1000 ms"
                if p99
                else None
            ),
            "reason": None if p99 else "no deletion was measured",
        },
    }
    if gate is not None:
        # As a gated run stores it: the limits and the verdict of its one evaluation.
        summary["gate"] = evaluate(summary, GateLimits.from_mapping(gate)).to_dict()
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return run_dir


def _record_dict(r: RequestRecord) -> dict[str, Any]:
    # dataclasses.asdict deep-copies every field: a third of the time of a 1 M-record run.
    return {f: getattr(r, f) for f in RECORD_FIELDS}


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, separators=(",", ":")) + "\n")


# -- the fixture is what it claims to be ---------------------------------------------------------
