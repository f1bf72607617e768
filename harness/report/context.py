"""The page's facts about the run as plain data: the recommendation, how and where it ran, and
one row per deletion. Pure functions of the summary; the template stays free of logic.

The rest of what the page says has its own module: ``outcome`` (the verdict at the top),
``tables`` (the comparison, latency and propagation tables), ``formats`` (every number's text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.analysis.deletions import DELETE
from harness.matrix import parse_order
from harness.orders import ORDERS
from harness.report.formats import MISSING, as_float, as_int, fmt_int, fmt_plain, fmt_s
from harness.report.lifecycle import stopped_words
from harness.report.phasebasis import deletion_basis
from harness.report.tables import phases_text


@dataclass(frozen=True, slots=True)
class Recommendation:
    prestop_sleep_s: str
    shutdown_delay_s: str
    raw_prestop: str
    raw_delay: str
    basis: str | None
    reason: str | None
    stage: str | None = None  # which moment the samples end at, in words


# recommendation.stage (harness.analysis.recommend) in words
STAGES = {
    "data_plane": (
        "the data plane: the moment the Service proxy (on Kubernetes, the last node's) stopped "
        "routing to the pod"
    ),
    "controller": (
        "the controller's endpoint removal plus the margin: the proxy's moment was not measured "
        "for every deletion"
    ),
}


@dataclass(frozen=True, slots=True)
class RunInfo:
    backend: str
    details: list[tuple[str, str]]
    versions: list[tuple[str, str]]
    scenario_json: str
    partial: bool
    facts: list[tuple[str, str]] = field(default_factory=list)
    ended_by: str | None = None  # the error that ended the run, or how it was recovered
    missing: list[str] = field(default_factory=list)  # data the run could not write (a disk fault)
    # The header's facts: "—" where the summary lacks them (a minimal v1 summary may)
    started: str = MISSING
    seed: str = MISSING
    seed_json: str = "null"
    schema_version: str = MISSING


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
        STAGES.get(str(rec.get("stage"))),
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
        details=[(str(k), fmt_plain(v)) for k, v in detail.items()]
        if isinstance(detail, dict)
        else [],
        versions=[(str(k), fmt_plain(v)) for k, v in versions.items()]
        if isinstance(versions, dict)
        else [],
        scenario_json=json.dumps(summary.get("scenario"), indent=2, sort_keys=False),
        partial=bool(summary.get("partial")),
        facts=facts,
        ended_by=_ended_by(summary),
        missing=_missing(summary),
        started=str(summary.get("started") or MISSING),
        seed=str(summary.get("seed", MISSING)),
        seed_json=json.dumps(summary.get("seed")),
        schema_version=str(summary.get("schema_version", MISSING)),
    )


def _missing(summary: Mapping[str, Any]) -> list[str]:
    missing = summary.get("missing")
    return [str(line) for line in missing] if isinstance(missing, list) else []


def _ended_by(summary: Mapping[str, Any]) -> str | None:
    if summary.get("error"):
        return f"It ended with an error: {summary['error']}"
    if summary.get("recovered"):
        return f"It was recovered: {summary['recovered']}."
    return None


def variant_blurb(name: str, scenario: Any) -> str:
    """What a variant is, in words: what it changes in the app (the scenario's ``variants``), or
    the sample app's order it is; a matrix cell's order (harness.matrix) names its cell first."""
    cell = parse_order(name)
    if cell is not None:
        profile = f", Kubernetes {cell.profile}" if cell.profile else ""
        return f"{cell.action}{profile}: {variant_blurb(cell.variant, scenario)}"
    variants = scenario.get("variants") if isinstance(scenario, dict) else None
    change = variants.get(name) if isinstance(variants, dict) else None
    if isinstance(change, dict):
        parts = [_change_words(key, value) for key, value in change.items() if value]
        said = "; ".join(p for p in parts if p)
        return said or "the app as it is"
    known = ORDERS.get(name)
    return known.summary if known else ""


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else fmt_plain(value)


def _change_words(key: str, value: Any) -> str:
    if key == "env" and isinstance(value, dict):
        return "env " + " ".join(f"{k}={v}" for k, v in value.items())
    if key == "prestop_sleep_s":
        return f"a preStop sleep of {fmt_s(value)}"
    if key == "prestop_command" and isinstance(value, list):
        return "preStop `" + " ".join(str(v) for v in value) + "`"
    if key == "grace_period_s":
        return f"a grace period of {fmt_s(value)}"
    if key == "args" and isinstance(value, list):
        return "args `" + " ".join(str(v) for v in value) + "`"
    if key == "patch":
        return f"patch {value}"
    if isinstance(value, dict):  # a probe's change
        settings = ", ".join(f"{k} {_number(v)}" for k, v in value.items() if v is not None)
        return f"{key} probe: {settings}"
    return f"{key} {fmt_plain(value)}"


def per_deletion(entry: Mapping[str, Any], t0: float) -> list[dict[str, str]]:
    """One row per deletion: when (on the chart's axis), which pod (and what stopped it, when
    not a plain delete), what failed, in which phase."""
    rows = []
    items = entry.get("per_deletion")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        at = as_float(item.get("ts"))
        failed = as_int(item.get("failed"))
        action = item.get("stopped_by")
        rows.append(
            {
                "pod": str(item.get("pod")),
                # Only what is not a plain delete is said: a delete run's table stays as it was.
                "why": stopped_words([action])
                if isinstance(action, str) and action != DELETE
                else "",
                "at": f"{at - t0:.2f} s" if at is not None else MISSING,
                "failed": fmt_int(failed),
                "raw_failed": json.dumps(item.get("failed")),
                "phases": phases_text(item.get("by_phase"), failed),
                "basis": deletion_basis(item),
                "css": "bad" if failed else "zero",
            }
        )
    return rows
