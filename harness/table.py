"""The side-by-side comparison of orders printed at the end of a run."""

from __future__ import annotations

from typing import Any

from harness.report import beforeafter

_CLASS_COLUMNS = (
    ("refused", "connection_refused"),
    ("reset", "connection_reset"),
    ("disconn", "remote_disconnected"),
    ("timeout", "timeout"),
    ("5xx", "http_5xx"),
)


def comparison_table(summary: dict[str, Any]) -> str:
    headers = ["variant", "requests", "failed", "rate", *[c for c, _ in _CLASS_COLUMNS]]
    headers += ["p50 ms", "p99 ms", "prop p99 ms", "deletions"]
    rows = [headers]
    for order, data in summary.get("orders", {}).items():
        by_class = data.get("failures_by_class", {})
        latency = data.get("latency_ms", {})
        rows.append(
            [
                order,
                str(data.get("requests", 0)),
                str(data.get("failed", 0)),
                f"{data.get('failure_rate', 0.0) * 100:.3f}%",
                *[str(by_class.get(key, 0)) for _, key in _CLASS_COLUMNS],
                _num(latency.get("p50")),
                _num(latency.get("p99")),
                _num(data.get("propagation_ms", {}).get("p99")),
                str(data.get("deletions", 0)),
            ]
        )
    return _render(rows, rule=True)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def lifecycle_table(reports: dict[str, dict[str, Any]]) -> str:
    """Median / max of the pod lifecycle durations per order (from analysis.lifecycle_report)."""
    names = list(next(iter(reports.values()), {}).get("durations_ms", {}))
    headers = ["variant", *[n.replace("_to_", "→").replace("_", " ") for n in names]]
    rows = [headers]
    for order, report in reports.items():
        cells = [order]
        for name in names:
            stats = report["durations_ms"][name]
            cells.append(f"{_num(stats['median'])}/{_num(stats['max'])}")
        rows.append(cells)
    return "pod lifecycle, median/max ms\n" + _render(rows, rule=False)


def before_after_table(summary: dict[str, Any]) -> str:
    """Each fix's run beside its variant's (summary.json's ``verify``); empty when none ran."""
    rows, shown = [["variant", "measure", "before", "after"]], None
    for line in beforeafter.lines(summary):
        first = line.variant if line.variant != shown else ""
        rows.append([first, line.measure, line.before, line.after])
        shown = line.variant
    if len(rows) == 1:
        return ""
    title = "before -> after: each fix run with the same seed, traffic and chaos schedule\n"
    return title + _render(rows, rule=True, left=4)


def _render(rows: list[list[str]], *, rule: bool, left: int = 1) -> str:
    """Columns padded to their widest cell: the first ``left`` (words) left-aligned, the rest
    (numbers) right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if rule and n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
