"""``write_report``: the run folder in, one self-contained ``report.html`` out.

Everything the page shows comes from the folder itself (summary.json and the raw files beside
it), so a report can be regenerated years later, and the page carries no generation time: the
same folder always renders the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from harness import __version__, runfolder
from harness.analysis.pods import MOMENT_KEYS
from harness.classify import ERROR_CLASSES
from harness.durable import write_bytes_durably
from harness.report import beforeafter, context, tables
from harness.report.charts import order_chart
from harness.report.dataplane import data_plane_section
from harness.report.fixes import fix_section
from harness.report.formats import as_float, fmt_ms, fmt_size
from harness.report.lifecycle import DurationStat, FindingGroup, lifecycle, ts
from harness.report.markers import endpoint_states, markers
from harness.report.matrix import matrix_table
from harness.report.outage import outage_section
from harness.report.outcome import outcome
from harness.report.rundata import FILE_KINDS, OrderData, load_order
from harness.report.semantics import fallback_sentence, semantics_line
from harness.report.traffic import bin_traffic
from harness.summaryfile import SUMMARY_NAME, load_summary, summary_orders

REPORT_NAME = runfolder.REPORT
JUNIT_NAME = runfolder.JUNIT
TEMPLATES = Path(__file__).parent / "templates"
# How far before the load started the chart reaches: pods created earlier are cut at the edge,
# since a long empty stretch before the load would squeeze the part that matters.
LEAD_IN_S = 1.0


@dataclass(frozen=True, slots=True)
class OrderSection:
    name: str
    blurb: str
    chart: Markup
    deletions: list[dict[str, str]]
    actions: list[dict[str, str]]  # "Drops by action" (tables.action_rows); [] for plain deletes
    client_nodes: list[dict[str, str]]  # "Load by client node" (traffic.from: cluster)
    durations: list[dict[str, str]]
    findings: list[FindingGroup]
    notes: list[str]  # missing files, counts that disagree with the summary
    fallback: str | None  # the readiness flip that disabled the fallback (fallback_disabled)
    semantics: str | None  # a matrix cell's own embedded profile (orders.<o>.semantics)


@dataclass(frozen=True, slots=True)
class RawFile:
    name: str
    href: str
    what: str
    size: str
    exists: bool


def write_report(run_dir: Path) -> Path:
    """Writes ``run_dir/report.html`` from the run folder alone and returns its path."""
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    page = render_report(run_dir, summary)
    out = run_dir / REPORT_NAME
    # Written beside and renamed, so a reader never sees half a report; a refused write is one
    # line naming the file (WriteError), and leaves no temp file behind.
    write_bytes_durably(out, page.encode("utf-8"))
    return out


def render_report(run_dir: Path, summary: Mapping[str, Any]) -> str:
    names, comparison = tables.comparison(summary)
    latency_head, latency = tables.latency_rows(summary)
    propagation_head, propagation = tables.propagation_rows(summary)
    entries = summary_orders(summary)
    loaded = [load_order(run_dir, name, entries[name]) for name in names]
    sections = [_section(data, entries[data.name], summary) for data in loaded]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            summary=summary,
            outcome=outcome(summary),
            before_after=beforeafter.lines(summary),
            matrix=matrix_table(summary),
            names=names,
            comparison=comparison,
            outage=outage_section(summary),
            latency_head=latency_head,
            latency=latency,
            propagation_head=propagation_head,
            propagation=propagation,
            data_plane=data_plane_section(summary),
            recommendation=context.recommendation(summary),
            run=context.run_info(summary),
            semantics=semantics_line(summary),
            sections=sections,
            fixes=fix_section(summary),
            files=_raw_files(run_dir, loaded),
            version=__version__,
        )
    )


def _section(data: OrderData, entry: Mapping[str, Any], summary: Mapping[str, Any]) -> OrderSection:
    xlim = _xlim(data, entry)
    bins = bin_traffic(data.scan, data.t0, xlim)
    marks, states = markers(data.events, data.t0), endpoint_states(data.events, data.t0)
    chart = order_chart(data.name, bins, marks, data.pods, data.scan, xlim, states)
    stats, groups = _lifecycle(data, _grace_period(summary), entry)
    notes = [f"no {kind} file ({data.files[kind].name})" for kind in data.missing]
    notes += _death_notes(entry)
    stated = entry.get("requests")
    if "records" not in data.missing and isinstance(stated, int) and stated != data.scan.requests:
        notes.append(
            f"the records file holds {data.scan.requests:,} requests, the summary counts "
            f"{stated:,}: the chart shows the file"
        )
    return OrderSection(
        name=data.name,
        blurb=context.variant_blurb(data.name, summary.get("scenario")),
        chart=Markup(chart),  # our own SVG, ids and attributes escaped by svg.inline_svg
        deletions=context.per_deletion(entry, data.t0),
        actions=tables.action_rows(entry),
        client_nodes=tables.client_node_rows(entry),
        durations=[_duration_row(s) for s in stats],
        findings=groups,
        notes=notes,
        fallback=fallback_sentence(entry),
        semantics=semantics_line(entry),
    )


def _death_notes(entry: Mapping[str, Any]) -> list[str]:
    """A note per load worker that died mid-run (``load_worker_deaths``)."""
    return [
        f"load worker {death.get('worker')} died {death.get('at_s')} s into the load (exit code "
        f"{death.get('code')}): its users sent nothing after, so the load was lower from then "
        "on; the requests it recorded until then are counted"
        for death in entry.get("load_worker_deaths") or ()
        if isinstance(death, dict)
    ]


def _lifecycle(
    data: OrderData, grace_period_s: float | None, entry: Mapping[str, Any]
) -> tuple[list[DurationStat], list[FindingGroup]]:
    if not data.pods:
        return [], []
    ends = np.frombuffer(data.scan.failed_ends, dtype=np.float64)
    classes = np.frombuffer(data.scan.failed_class, dtype=np.int8)
    refused = np.sort(ends[classes == ERROR_CLASSES.index("connection_refused")]).tolist()
    return lifecycle(data.pods, data.t0, grace_period_s, refused, entry)


def _duration_row(stat: DurationStat) -> dict[str, str]:
    return {
        "label": stat.label,
        "samples": str(stat.samples),
        "median": fmt_ms(stat.median_ms),
        "max": fmt_ms(stat.max_ms),
        "max_pod": stat.max_pod or "",
    }


def _grace_period(summary: Mapping[str, Any]) -> float | None:
    scenario = summary.get("scenario")
    if not isinstance(scenario, dict):
        return None
    for section in ("chaos", "app"):
        part = scenario.get(section)
        value = as_float(part.get("grace_period_s")) if isinstance(part, dict) else None
        if value is not None:
            return value
    return None


def _xlim(data: OrderData, entry: Mapping[str, Any]) -> tuple[float, float]:
    """The shared time axis: from just before the load to the last thing that happened."""
    window = entry.get("window")
    end = as_float(window.get("end")) if isinstance(window, dict) else None
    highs = [end - data.t0] if end is not None else []
    highs += [e.ts - data.t0 for e in data.events]
    lows = [e.ts - data.t0 for e in data.events]
    for row in data.pods:
        moments = [v - data.t0 for key in MOMENT_KEYS if (v := ts(row, key)) is not None]
        highs += moments
        lows += moments
    if len(data.scan.ok_ends):
        highs.append(max(data.scan.ok_ends) - data.t0)
    if len(data.scan.failed_ends):
        highs.append(max(data.scan.failed_ends) - data.t0)
    lo = max(min(lows, default=0.0), -LEAD_IN_S)
    hi = max(highs, default=1.0)
    pad = max(0.5, (hi - min(lo, 0.0)) * 0.01)
    return min(lo, 0.0) - pad, max(hi, 1.0) + pad


def _raw_files(run_dir: Path, loaded: list[OrderData]) -> list[RawFile]:
    files = [_raw(run_dir / SUMMARY_NAME, "the summary (the contract: docs/summary-v1.md)")]
    if (run_dir / JUNIT_NAME).is_file():
        files.append(_raw(run_dir / JUNIT_NAME, "JUnit XML of the gate"))
    what = {
        "records": "one line per request",
        "timeline": "pod, endpoint and chaos events",
        "pods": "one row per pod, a timestamp per lifecycle step",
    }
    for data in loaded:
        for kind in FILE_KINDS:
            files.append(_raw(data.files[kind], f"{data.name}: {what[kind]}"))
    return files


def _raw(path: Path, what: str) -> RawFile:
    exists = path.is_file()
    size = fmt_size(path.stat().st_size) if exists else "missing"
    return RawFile(path.name, quote(path.name), what, size, exists)


def _environment() -> Environment:
    # Escaped by default, and a missing variable is an error rather than an empty string.
    loader = FileSystemLoader(TEMPLATES)
    env = Environment(loader=loader, autoescape=True, undefined=StrictUndefined)
    env.trim_blocks = env.lstrip_blocks = env.keep_trailing_newline = True
    # Plain JSON text, left to autoescaping: Jinja's own tojson is marked safe and would put raw
    # quotes inside data-value="...".
    env.filters["json"] = json.dumps
    return env
