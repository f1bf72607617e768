"""The report's "Outage" section: time without a successful request per variant and per
deletion, the load model, and why each variant ranks where it does (summary.json
``orders.<v>.outage``, ``ranking``, ``ranking_reason``; harness.analysis.outage). Pure: summary
in, HTML out.

A summary from before these keys has no outage blocks: the section then says so in one line
rather than showing empty tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from harness.report.formats import as_float
from harness.summaryfile import summary_orders

_TEMPLATE = """\
<section id="outage">
  <h2>Outage: time without a successful request</h2>
  <p id="load-model" data-value="{{ model }}">{{ load }}</p>
  {% if not rows %}
  <p class="note">This summary has no outage measures (written by an older drainlab).</p>
  {% else %}
  <p class="hint">Ranked by the seconds with no successful request (stretches between two
    successes with a failure between them), then by the seconds of offered load lost (failures
    divided by the offered rate). A user's wait runs from a failed request's start to that
    user's next success.</p>
  <div class="scroll">
  <table class="outage">
    <thead><tr><th scope="col">variant</th><th scope="col">rank</th>
      <th scope="col">no success, s</th><th scope="col">stretches</th>
      <th scope="col">longest, s</th><th scope="col">user wait p50 / max, s</th>
      <th scope="col">failures</th><th scope="col">offered load lost, s</th></tr></thead>
    <tbody>
    {% for r in rows %}
      <tr data-order="{{ r.name }}"><th scope="row">{{ r.name }}</th>
        <td class="num" data-metric="rank">{{ r.rank }}</td>
        <td class="num" data-metric="total_s" data-value="{{ r.total_raw }}">{{ r.total }}</td>
        <td class="num">{{ r.stretches }}</td><td class="num">{{ r.longest }}</td>
        <td class="num">{{ r.wait }}</td><td class="num">{{ r.failed }}</td>
        <td class="num" data-metric="failures_per_offered_s">{{ r.lost }}</td></tr>
    {% endfor %}
    </tbody>
  </table>
  </div>
  <ul id="ranking-reasons">
  {% for r in rows %}<li data-order="{{ r.name }}">{{ r.reason }}</li>
  {% endfor %}
  </ul>
  {% if deletions %}
  <h3>Per deletion</h3>
  <div class="scroll">
  <table class="outage-deletions">
    <thead><tr><th scope="col">variant</th><th scope="col">pod</th>
      <th scope="col">delete at, s</th><th scope="col">no success, s</th></tr></thead>
    <tbody>
    {% for d in deletions %}
      <tr data-order="{{ d.name }}"><td>{{ d.name }}</td><td>{{ d.pod }}</td>
        <td class="num">{{ d.at }}</td><td class="num">{{ d.seconds }}</td></tr>
    {% endfor %}
    </tbody>
  </table>
  </div>
  {% endif %}
  {% endif %}
</section>
"""

_ENV = Environment(autoescape=True, undefined=StrictUndefined)


def outage_section(summary: Mapping[str, Any]) -> Markup:
    orders = {n: e for n, e in summary_orders(summary).items() if isinstance(e, dict)}
    blocks = {name: entry.get("outage") for name, entry in orders.items()}
    known = {name: b for name, b in blocks.items() if isinstance(b, dict)}
    ranking = [n for n in summary.get("ranking") or [] if n in known] or list(known)
    reasons = summary.get("ranking_reason") or {}
    rows = [
        _row(name, place, known[name], orders[name], reasons)
        for place, name in enumerate(ranking, 1)
    ]
    deletions = [
        _deletion(name, d, orders[name])
        for name in ranking
        for d in known[name].get("per_deletion") or []
    ]
    model, load = load_words(next(iter(known.values()), None))
    html = _ENV.from_string(_TEMPLATE).render(
        model=model, load=load, rows=rows, deletions=deletions
    )
    return Markup(html)  # rendered with autoescape on: every value in it is escaped


def load_words(block: Mapping[str, Any] | None) -> tuple[str, str]:
    """(model, a sentence): which load model the run used, and what that means for the counts."""
    if block is None:
        return "unknown", "Load model: not recorded (a summary from an older drainlab)."
    model = str(block.get("load_model"))
    rate = as_float(block.get("offered_rate_per_s"))
    if model == "paced":
        offered = f", {rate:g} requests/s offered over all users" if rate is not None else ""
        return model, (
            f"Load model: paced{offered}. Each user keeps a fixed schedule, so a failed request "
            "does not bring its next one forward: fast failures are not more failures."
        )
    return model, (
        "Load model: closed loop. Each user sends its next request a think time after the "
        "previous answer, so the faster failures come, the more of them: read the seconds "
        "below, not the failure counts."
    )


def _seconds(value: Any) -> str:
    number = as_float(value)
    return "–" if number is None else f"{number:.2f}"


def _row(
    name: str, place: int, block: Mapping[str, Any], entry: Mapping[str, Any], reasons: Any
) -> dict[str, Any]:
    wait = block.get("user_wait_s") or {}
    reason = reasons.get(name) if isinstance(reasons, dict) else None
    return {
        "name": name,
        "rank": place,
        "total": _seconds(block.get("total_s")),
        "total_raw": as_float(block.get("total_s")),
        "stretches": block.get("stretches", "–"),
        "longest": _seconds(block.get("longest_s")),
        "wait": f"{_seconds(wait.get('p50'))} / {_seconds(wait.get('max'))}",
        "failed": entry.get("failed", "–"),
        "lost": _seconds(block.get("failures_per_offered_s")),
        "reason": reason or f"{name} ranks {place}.",
    }


def _deletion(name: str, d: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, str]:
    window = entry.get("window") or {}
    start, ts = as_float(window.get("start")), as_float(d.get("ts"))
    at = f"{ts - start:.1f}" if start is not None and ts is not None else "–"
    return {
        "name": name,
        "pod": str(d.get("pod")),
        "at": at,
        "seconds": _seconds(d.get("no_success_s")),
    }
