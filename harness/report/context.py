"""What the page says, as plain data: numbers formatted, verdicts worded, nothing rendered.

Pure functions of the summary (and of per-order extras computed elsewhere), so the wording can be
tested without a browser and the template stays free of logic. Every number that comes from
summary.json keeps its raw value beside the formatted one; the template writes it into a
``data-value`` attribute, and the browser test checks the page against the summary through it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError
from harness.gate import GateLimits, evaluate, summary_orders
from harness.orders import ORDERS
from harness.records import ERROR_CLASSES

# The phases of docs/summary-v1.md, in the order a deletion goes through them.
PHASES: tuple[tuple[str, str], ...] = (
    ("no_ready_replica", "no endpoint at all was ready"),
    ("before_sigterm", "between the delete and SIGTERM: the preStop hook was running"),
    ("propagating", "after SIGTERM, while the Service still sent new connections to the pod"),
    ("draining", "after routing moved on, before exit: in-flight and keep-alive work was cut"),
    ("after_exit", "the process was gone while clients still reached it"),
    ("unattributed", "outside every deletion window: not caused by a deletion"),
)
MISSING = "—"


@dataclass(frozen=True, slots=True)
class Cell:
    order: str
    metric: str  # dotted path into orders.<order>, e.g. "failures_by_class.timeout"
    raw: str  # the summary's value as JSON, for data-value
    text: str
    css: str = ""  # "bad" | "zero" | "na" | ""
    title: str = ""  # why a value is missing, or what a metric means


@dataclass(frozen=True, slots=True)
class TableRow:
    label: str
    cells: list[Cell]
    group: str = ""  # rows of a group are shaded together ("by class", "by phase")
    title: str = ""


@dataclass(frozen=True, slots=True)
class OrderLine:
    order: str
    failed: int | None
    requests: int | None
    text: str
    bad: bool


@dataclass(frozen=True, slots=True)
class GateView:
    ok: bool
    line: str
    order: str
    limits: str


@dataclass(frozen=True, slots=True)
class Verdict:
    headline: str
    bad: bool
    lines: list[OrderLine]
    gate: GateView | None = None


@dataclass(frozen=True, slots=True)
class Recommendation:
    prestop_sleep_s: str
    shutdown_delay_s: str
    raw_prestop: str
    raw_delay: str
    basis: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class RunInfo:
    backend: str
    details: list[tuple[str, str]]
    versions: list[tuple[str, str]]
    scenario_json: str
    partial: bool
    facts: list[tuple[str, str]] = field(default_factory=list)
    ended_by: str | None = None  # the error that ended the run, or how it was recovered


def order_names(summary: Mapping[str, Any]) -> list[str]:
    """Orders in the scenario's order (the order they ran), then any others the summary has."""
    present = list(summary_orders(summary))
    scenario = summary.get("scenario")
    listed = scenario.get("orders") if isinstance(scenario, dict) else None
    ordered = [o for o in listed if o in present] if isinstance(listed, list) else []
    return ordered + [o for o in present if o not in ordered]


def verdict(summary: Mapping[str, Any]) -> Verdict:
    names = order_names(summary)
    lines = [_order_line(name, summary_orders(summary)[name]) for name in names]
    dropped = [line for line in lines if line.bad]
    if not names:
        headline = "No order ran: there is nothing to judge."
    elif not dropped:
        headline = f"No order dropped a request ({len(names)} order{_s(len(names))} ran)."
    else:
        who = ", ".join(line.order for line in dropped)
        headline = f"{len(dropped)} of {len(names)} orders dropped requests: {who}."
    gate = gate_view(summary)
    # A gated run is judged by its gate: the other orders are there to be compared, and are
    # expected to drop requests.
    bad = (not gate.ok) if gate is not None else bool(dropped) or not names
    return Verdict(headline, bad, lines, gate)


def gate_view(summary: Mapping[str, Any]) -> GateView | None:
    """The gate's verdict when the run was gated (summary has a "gate" section), recomputed
    with harness.gate so the page can never disagree with ``harness gate``."""
    section = summary.get("gate")
    if not isinstance(section, dict):
        return None
    order = str(section.get("order", "graceful"))
    try:
        limits = GateLimits.from_mapping(section)
        result = evaluate(summary, limits)
    except HarnessError as exc:
        return GateView(False, f"FAIL {exc}", order, "")
    return GateView(result.ok, result.line, limits.order, limits.describe())


def _order_line(name: str, entry: Mapping[str, Any]) -> OrderLine:
    failed, requests = _int(entry.get("failed")), _int(entry.get("requests"))
    deletions = _int(entry.get("deletions"))
    over = f" over {deletions} deletion{_s(deletions)}" if deletions is not None else ""
    if failed is None or requests is None:
        return OrderLine(name, failed, requests, f"{name}: no request counts recorded.", True)
    if requests == 0:
        return OrderLine(name, failed, requests, f"{name}: no request completed.", True)
    if failed == 0:
        text = f"{name} dropped no request of {fmt_int(requests)}{over}."
        return OrderLine(name, failed, requests, text, False)
    text = (
        f"{name} dropped {fmt_int(failed)} of {fmt_int(requests)} requests "
        f"({fmt_pct(failed / requests)}){over}"
    )
    top_phase = _largest(entry.get("failures_by_phase"))
    top_class = _largest(entry.get("failures_by_class"))
    if top_phase and top_class:
        text += f"; mostly {top_phase[0].replace('_', ' ')} ({fmt_int(top_phase[1])})"
        text += f" and {top_class[0].replace('_', ' ')} ({fmt_int(top_class[1])})"
    return OrderLine(name, failed, requests, text + ".", True)


def comparison(summary: Mapping[str, Any]) -> tuple[list[str], list[TableRow]]:
    """The side-by-side table: one column per order, one row per metric."""
    names = order_names(summary)
    entries = summary_orders(summary)
    classes = _keys(ERROR_CLASSES, entries, names, "failures_by_class")
    phases = _keys([p for p, _ in PHASES], entries, names, "failures_by_phase")
    meaning = dict(PHASES)
    rows = [
        _row("requests", "requests", entries, names, fmt_int, count=False),
        _row("failed", "failed", entries, names, fmt_int),
        _row("failure rate", "failure_rate", entries, names, fmt_pct),
    ]
    rows += [
        _row(c.replace("_", " "), f"failures_by_class.{c}", entries, names, fmt_int, "by class")
        for c in classes
    ]
    rows += [
        _row(
            p.replace("_", " "),
            f"failures_by_phase.{p}",
            entries,
            names,
            fmt_int,
            "by phase",
            meaning.get(p, ""),
        )
        for p in phases
    ]
    rows += [
        _row("deletions", "deletions", entries, names, fmt_int, count=False),
        _row("latency p50", "latency_ms.p50", entries, names, fmt_ms, count=False),
        _row("latency p99", "latency_ms.p99", entries, names, fmt_ms, count=False),
        _row("propagation p50", "propagation_ms.p50", entries, names, fmt_ms, count=False),
        _row("propagation p99", "propagation_ms.p99", entries, names, fmt_ms, count=False),
    ]
    return names, rows


@dataclass(frozen=True, slots=True)
class Header:
    """Two header rows: groups spanning several columns, then each column's own label."""

    groups: list[tuple[str, int]]
    labels: list[str]


def latency_rows(summary: Mapping[str, Any]) -> tuple[Header, list[TableRow]]:
    """Per order: latency over the whole run and around deletions (one row per order)."""
    columns = [
        ("whole run", "latency_ms.p50", "p50"),
        ("whole run", "latency_ms.p95", "p95"),
        ("whole run", "latency_ms.p99", "p99"),
        ("whole run", "latency_ms.max", "max"),
        ("around deletions", "latency_ms_around_deletions.p50", "p50"),
        ("around deletions", "latency_ms_around_deletions.p95", "p95"),
        ("around deletions", "latency_ms_around_deletions.p99", "p99"),
        ("around deletions", "latency_ms_around_deletions.max", "max"),
    ]
    return _per_order_table(summary, columns)


def propagation_rows(summary: Mapping[str, Any]) -> tuple[Header, list[TableRow]]:
    """Per order: delete → new connections stop, overall and per stage."""
    columns = [
        ("propagation", "propagation_ms.p50", "p50"),
        ("propagation", "propagation_ms.p99", "p99"),
        ("propagation", "propagation_ms.samples", "n"),
    ]
    for stage in ("endpoint_removed", "removal_applied", "last_served"):
        group = "delete → " + stage.replace("_", " ")
        columns += [
            (group, f"propagation_ms.stages.{stage}.p50", "p50"),
            (group, f"propagation_ms.stages.{stage}.p99", "p99"),
        ]
    return _per_order_table(summary, columns)


def _per_order_table(
    summary: Mapping[str, Any], columns: Sequence[tuple[str, str, str]]
) -> tuple[Header, list[TableRow]]:
    entries = summary_orders(summary)
    rows = []
    for name in order_names(summary):
        cells = []
        for _, metric, _ in columns:
            value, reason = lookup(entries[name], metric)
            text = fmt_int(value) if metric.endswith(".samples") else fmt_ms(value)
            cells.append(_cell(name, metric, value, text, reason, count=False))
        rows.append(TableRow(name, cells))
    groups: list[tuple[str, int]] = []
    for group, _, _ in columns:
        if groups and groups[-1][0] == group:
            groups[-1] = (group, groups[-1][1] + 1)
        else:
            groups.append((group, 1))
    return Header(groups, [label for _, _, label in columns]), rows


def recommendation(summary: Mapping[str, Any]) -> Recommendation:
    rec = summary.get("recommendation")
    rec = rec if isinstance(rec, dict) else {}
    prestop, delay = rec.get("prestop_sleep_s"), rec.get("shutdown_delay_s")
    reason = rec.get("reason")
    if not rec:
        reason = "the summary has no recommendation section"
    return Recommendation(
        fmt_s(prestop),
        fmt_s(delay),
        json.dumps(prestop),
        json.dumps(delay),
        str(rec["basis"]) if rec.get("basis") else None,
        str(reason) if reason else None,
    )


def run_info(summary: Mapping[str, Any]) -> RunInfo:
    detail = summary.get("backend_detail")
    versions = summary.get("versions")
    facts = [
        ("started", str(summary.get("started") or MISSING)),
        ("finished", str(summary.get("finished") or MISSING)),
        ("seed", str(summary.get("seed", MISSING))),
        ("schema version", str(summary.get("schema_version"))),
    ]
    return RunInfo(
        backend=str(summary.get("backend") or "unknown"),
        details=[(str(k), _plain(v)) for k, v in detail.items()]
        if isinstance(detail, dict)
        else [],
        versions=[(str(k), _plain(v)) for k, v in versions.items()]
        if isinstance(versions, dict)
        else [],
        scenario_json=json.dumps(summary.get("scenario"), indent=2, sort_keys=False),
        partial=bool(summary.get("partial")),
        facts=facts,
        ended_by=_ended_by(summary),
    )


def _ended_by(summary: Mapping[str, Any]) -> str | None:
    if summary.get("error"):
        return f"It ended with an error: {summary['error']}"
    if summary.get("recovered"):
        return f"It was recovered: {summary['recovered']}."
    return None


def order_blurb(name: str) -> str:
    known = ORDERS.get(name)
    return known.summary if known else ""


def per_deletion(entry: Mapping[str, Any], t0: float) -> list[dict[str, str]]:
    """One row per deletion: when (on the chart's axis), which pod, what failed, in which phase."""
    rows = []
    for item in entry.get("per_deletion") or []:
        if not isinstance(item, dict):
            continue
        at = item.get("ts")
        by_phase = item.get("by_phase")
        phases: dict[str, Any] = by_phase if isinstance(by_phase, dict) else {}
        nonzero = [f"{k.replace('_', ' ')} {v}" for k, v in phases.items() if v]
        failed = _int(item.get("failed"))
        rows.append(
            {
                "pod": str(item.get("pod")),
                "at": f"{float(at) - t0:.2f} s" if isinstance(at, (int, float)) else MISSING,
                "failed": fmt_int(failed),
                "raw_failed": json.dumps(item.get("failed")),
                "phases": ", ".join(nonzero) or ("none" if failed == 0 else MISSING),
                "css": "bad" if failed else "zero",
            }
        )
    return rows


def lookup(entry: Mapping[str, Any], metric: str) -> tuple[Any, str | None]:
    """The value at a dotted path, and the ``reason`` the summary gives beside a null."""
    node: Any = entry
    parent: Any = None
    for part in metric.split("."):
        if not isinstance(node, dict) or part not in node:
            return None, "not in the summary"
        parent, node = node, node[part]
    reason = parent.get("reason") if node is None and isinstance(parent, dict) else None
    return node, str(reason) if reason else None


def _row(
    label: str,
    metric: str,
    entries: Mapping[str, Any],
    names: Sequence[str],
    fmt: Any,
    group: str = "",
    title: str = "",
    *,
    count: bool = True,
) -> TableRow:
    cells = []
    for name in names:
        value, reason = lookup(entries[name], metric)
        cells.append(_cell(name, metric, value, fmt(value), reason, count=count))
    return TableRow(label, cells, group, title)


def _cell(
    order: str, metric: str, value: Any, text: str, reason: str | None, *, count: bool
) -> Cell:
    # Failure counts are what the reader scans for: non-zero in red, zero muted.
    if value is None:
        css = "na"
    elif count and isinstance(value, (int, float)):
        css = "bad" if value > 0 else "zero"
    else:
        css = ""
    return Cell(order, metric, json.dumps(value), text, css, reason or "")


def _keys(
    known: Sequence[str], entries: Mapping[str, Any], names: Sequence[str], field_name: str
) -> list[str]:
    """The known keys, then any the summary adds (fields may be added within version 1)."""
    extra: list[str] = []
    for name in names:
        section = entries[name].get(field_name)
        if isinstance(section, dict):
            extra += [k for k in section if k not in known and k not in extra]
    return [*known, *extra]


def _largest(section: Any) -> tuple[str, int] | None:
    if not isinstance(section, dict):
        return None
    counts = [(k, v) for k, v in section.items() if isinstance(v, int) and v > 0]
    return max(counts, key=lambda kv: kv[1]) if counts else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _plain(value: Any) -> str:
    return MISSING if value is None else value if isinstance(value, str) else json.dumps(value)


def _s(n: int | None) -> str:
    return "" if n == 1 else "s"


def fmt_int(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return MISSING
    return f"{int(value):,}"


def fmt_pct(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return MISSING
    if value == 0:
        return "0 %"
    pct = value * 100
    return f"{pct:.3g} %" if pct >= 0.001 else f"{pct:.1e} %"


def fmt_ms(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return MISSING
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def fmt_s(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return MISSING
    return f"{value:g} s"
