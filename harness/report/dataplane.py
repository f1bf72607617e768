"""The propagation section's data plane part, as plain data (pure): per deletion the gap from the
controller's endpoint removal to the moment the data plane stopped routing (with the node and
the method that saw it), the methods' agreement with the ground truth, the served-by bound's
check, and, when the proxy's moment was not measured, why. From summary.json alone
(docs/summary-v1.md: Propagation); an older summary without these keys gives an empty part.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.analysis.dataplane import METHOD_NAMES
from harness.report.formats import MISSING, as_int, fmt_int, fmt_ms, plural_s
from harness.summaryfile import order_names, summary_orders


@dataclass(frozen=True, slots=True)
class GapRow:
    order: str
    pod: str
    node: str
    method: str
    endpoint_removed: str  # ms after the delete call, as text
    removal_applied: str
    gap: str
    raw_gap: str  # JSON, for data-value


@dataclass(frozen=True, slots=True)
class DataPlaneSection:
    gaps: list[GapRow] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # agreement, bound check, not measured: why


def data_plane_section(summary: Mapping[str, Any]) -> DataPlaneSection:
    entries = summary_orders(summary)
    names = order_names(summary)
    several = len(names) > 1
    gaps: list[GapRow] = []
    lines: list[str] = []
    for name in names:
        block = _dict(_dict(entries.get(name)).get("propagation_ms"))
        prefix = f"{name}: " if several else ""
        gaps += _gap_rows(name, _dict(block.get("controller_to_proxy")))
        lines += [prefix + line for line in _order_lines(block)]
    return DataPlaneSection(gaps, lines)


def method_name(method: Any) -> str:
    return METHOD_NAMES.get(method, str(method)) if method else MISSING


def _gap_rows(order: str, block: Mapping[str, Any]) -> list[GapRow]:
    rows = block.get("per_deletion")
    return [
        GapRow(
            order=order,
            pod=str(r.get("pod") or MISSING),
            node=str(r.get("node") or MISSING),
            method=method_name(r.get("method")),
            endpoint_removed=fmt_ms(r.get("endpoint_removed_ms")),
            removal_applied=fmt_ms(r.get("removal_applied_ms")),
            gap=fmt_ms(r.get("gap_ms")),
            raw_gap=json.dumps(r.get("gap_ms")),
        )
        for r in (rows if isinstance(rows, list) else [])
        if isinstance(r, dict)
    ]


def _order_lines(block: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    plane = _dict(block.get("data_plane"))
    if plane and plane.get("measured") is False:
        lines.append(f"The proxy's moment was not measured: {plane.get('reason') or MISSING}.")
    elif plane.get("reason"):
        lines.append(f"The proxy's moment was measured only in part: {plane['reason']}.")
    gap = _dict(block.get("controller_to_proxy"))
    if as_int(gap.get("samples")):
        lines.append(
            f"Controller → proxy: p50 {fmt_ms(gap.get('p50'))}, p99 {fmt_ms(gap.get('p99'))} "
            f"over {fmt_int(gap.get('samples'))} deletion{plural_s(as_int(gap.get('samples')))}."
        )
    agreement = _dict(block.get("agreement"))
    methods = _dict(agreement.get("methods"))
    if methods:
        reference = method_name(agreement.get("reference"))
        said = "; ".join(
            f"{method_name(m)}: n {fmt_int(a.get('n'))}, |difference| p50 "
            f"{fmt_ms(a.get('p50_ms'))}, max {fmt_ms(a.get('max_ms'))}"
            for m, a in methods.items()
            if isinstance(a, dict)
        )
        lines.append(f"Agreement with the ground truth ({reference}): {said}.")
    check = _dict(block.get("last_routed_check"))
    if check.get("bound") is True and as_int(check.get("checked")):
        earlier = as_int(check.get("earlier_than_bound")) or 0
        pods = ", ".join(str(p) for p in check.get("pods") or [])
        lines.append(
            f"Served-by bound: {earlier} of {fmt_int(check.get('checked'))} deletions stopped "
            "routing, as measured, before a new connection still reached the pod"
            + (f" ({pods})" if pods else "")
            + "."
        )
    elif check.get("reason") and plane.get("measured"):
        lines.append(f"No served-by bound: {check['reason']}.")
    return lines


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
