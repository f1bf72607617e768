"""The page's tables as plain data: the side-by-side comparison, latency and propagation.

Every cell keeps the summary's raw value beside the formatted one; the template writes it into a
``data-value`` attribute, and the browser test checks the page against the summary through it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.analysis.deletions import DELETE
from harness.analysis.phases import PHASE_MEANINGS
from harness.classify import ERROR_CLASSES
from harness.report.formats import MISSING, as_int, fmt_int, fmt_ms, fmt_pct
from harness.report.lifecycle import stopped_words
from harness.report.phasebasis import order_basis, phase_title
from harness.summaryfile import order_names, summary_orders


@dataclass(frozen=True, slots=True)
class Cell:
    order: str
    metric: str  # dotted path into orders.<order>, e.g. "failures_by_class.timeout"
    raw: str  # the summary's value as JSON, for data-value
    text: str
    css: str = ""  # "bad" | "zero" | "na" | "words" (text that may wrap) | ""
    title: str = ""  # why a value is missing, or what a metric means


@dataclass(frozen=True, slots=True)
class TableRow:
    label: str
    cells: list[Cell]
    group: str = ""  # rows of a group are shaded together ("by class", "by phase")
    title: str = ""


@dataclass(frozen=True, slots=True)
class Header:
    """Two header rows: groups spanning several columns, then each column's own label."""

    groups: list[tuple[str, int]]
    labels: list[str]


def comparison(summary: Mapping[str, Any]) -> tuple[list[str], list[TableRow]]:
    """The side-by-side table: one column per order, one row per metric."""
    names = order_names(summary)
    entries = summary_orders(summary)
    classes = _keys(ERROR_CLASSES, entries, names, "failures_by_class")
    phases = _keys(list(PHASE_MEANINGS), entries, names, "failures_by_phase")
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
        _titled_by_basis(
            _row(
                p.replace("_", " "),
                f"failures_by_phase.{p}",
                entries,
                names,
                fmt_int,
                "by phase",
                PHASE_MEANINGS.get(p, ""),
            ),
            entries,
            p,
        )
        for p in phases
    ]
    rows.append(_basis_row(entries, names))
    rows += [
        _row("deletions", "deletions", entries, names, fmt_int, count=False),
        _row("latency p50", "latency_ms.p50", entries, names, fmt_ms, count=False),
        _row("latency p99", "latency_ms.p99", entries, names, fmt_ms, count=False),
        _row("propagation p50", "propagation_ms.p50", entries, names, fmt_ms, count=False),
        _row("propagation p99", "propagation_ms.p99", entries, names, fmt_ms, count=False),
    ]
    return names, rows


def _titled_by_basis(row: TableRow, entries: Mapping[str, Any], phase: str) -> TableRow:
    """A phase's count cells say, on hover, what that phase's boundaries rest on."""
    cells = [
        c if c.title else replace(c, title=phase_title(entries[c.order], phase)) for c in row.cells
    ]
    return replace(row, cells=cells)


def _basis_row(entries: Mapping[str, Any], names: Sequence[str]) -> TableRow:
    """Beside the phases: what each order's phase boundaries were taken from."""
    cells = []
    for name in names:
        value, _ = lookup(entries[name], "phase_basis")
        short, long = order_basis(entries[name])
        # Words, not a number: they may wrap (css "words"), so four variants fit a narrow page.
        cells.append(Cell(name, "phase_basis", json.dumps(value), short, "words", long))
    return TableRow(
        "phases rest on",
        cells,
        "by phase",
        "where the moments that cut the phases came from: the app's own lines or the platform's "
        "events (delete call, kubelet, endpoint controller, Service proxy, container state)",
    )


def action_rows(entry: Mapping[str, Any]) -> list[dict[str, str]]:
    """One variant's "Drops by action" table (its ``by_action``): one row per action that stopped
    pods. Empty when the summary has no such block or every stop was a plain delete: such a
    run's report stays as it was, the deletions table says it all."""
    block = entry.get("by_action")
    if not isinstance(block, dict) or set(block) <= {DELETE}:
        return []
    rows = []
    for action, item in block.items():
        if not isinstance(item, dict):
            continue
        failed = as_int(item.get("failed"))
        rows.append(
            {
                "action": str(action),
                "words": stopped_words([str(action)]),
                "stops": fmt_int(item.get("stops")),
                "failed": fmt_int(failed),
                "raw_failed": json.dumps(item.get("failed")),
                "phases": phases_text(item.get("by_phase"), failed),
                "css": "bad" if failed else "zero",
            }
        )
    return rows


def client_node_rows(entry: Mapping[str, Any]) -> list[dict[str, str]]:
    """One variant's "Load by client node" table (its ``by_client_node``, traffic.from: cluster):
    a row per node whose pods sent requests. Empty for load sent from this machine."""
    block = entry.get("by_client_node")
    if not isinstance(block, dict):
        return []
    rows = []
    for node, item in block.items():
        if not isinstance(item, dict):
            continue
        failed = as_int(item.get("failed"))
        late = item.get("routed_after_removal_ms")
        clock = item.get("clock") if isinstance(item.get("clock"), dict) else None
        rows.append(
            {
                "node": str(node),
                "clients": ", ".join(str(c) for c in item.get("clients") or ()),
                "requests": fmt_int(item.get("requests")),
                "failed": fmt_int(failed),
                "raw_failed": json.dumps(item.get("failed")),
                "during_stops": fmt_int(item.get("failed_during_stops")),
                "late": "–" if late is None else f"{late:,.0f} ms",
                "clock": "not measured"
                if clock is None
                else f"{clock.get('offset_ms'):+.1f} ± {clock.get('uncertainty_ms'):.1f} ms"
                + (" (applied)" if clock.get("applied_ms") else ""),
                "css": "bad" if failed else "zero",
            }
        )
    return rows


def phases_text(by_phase: Any, failed: int | None) -> str:
    """The non-zero phases of a ``by_phase`` block, "after exit 3, unknown 1"; "none" when
    nothing failed."""
    phases: dict[str, Any] = by_phase if isinstance(by_phase, dict) else {}
    nonzero = [f"{k.replace('_', ' ')} {v}" for k, v in phases.items() if v]
    return ", ".join(nonzero) or ("none" if failed == 0 else MISSING)


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
    for stage in ("endpoint_removed", "removal_applied", "last_served", "last_routed"):
        group = "delete → " + stage.replace("_", " ")
        columns += [
            (group, f"propagation_ms.stages.{stage}.p50", "p50"),
            (group, f"propagation_ms.stages.{stage}.p99", "p99"),
        ]
    columns += [
        ("controller → proxy", "propagation_ms.controller_to_proxy.p50", "p50"),
        ("controller → proxy", "propagation_ms.controller_to_proxy.p99", "p99"),
    ]
    return _per_order_table(summary, columns)


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


def _row(
    label: str,
    metric: str,
    entries: Mapping[str, Any],
    names: Sequence[str],
    fmt: Callable[[Any], str],
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
