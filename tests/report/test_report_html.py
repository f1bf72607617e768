"""report.html without a browser: self-contained, escaped, deterministic, right numbers, and quick
on a large run. (tests/report/test_report_browser.py opens it in headless Chromium.)"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from helpers.synthetic import GATE, make_run

from harness.gate import GateLimits, evaluate
from harness.report import write_report
from harness.report.formats import fmt_int, fmt_ms, fmt_pct
from harness.report.outcome import outcome
from harness.report.svg import inline_svg
from harness.report.tables import lookup
from harness.summaryfile import SummaryNotFoundError


@pytest.fixture(scope="module")
def page(run_dir: Path) -> str:
    return write_report(run_dir).read_text(encoding="utf-8")


class Elements(HTMLParser):
    """Every start tag with its attributes, for checks that a regex would get wrong."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(text)
    return parser.tags


def with_attr(text: str, name: str) -> Iterator[dict[str, str | None]]:
    return (attrs for _, attrs in elements(text) if name in attrs)


def test_written_beside_the_summary(run_dir: Path, page: str) -> None:
    assert (run_dir / "report.html").is_file()
    assert not list(run_dir.glob(".*.tmp"))
    assert page.startswith("<!DOCTYPE html>")


def test_self_contained_nothing_to_fetch(page: str) -> None:
    tags = elements(page)
    names = {tag for tag, _ in tags}
    assert "script" not in names and "link" not in names and "img" not in names
    assert "iframe" not in names and "object" not in names and "embed" not in names
    for tag, attrs in tags:
        for key in ("src", "href", "xlink:href", "srcset", "action", "poster"):
            value = attrs.get(key)
            if value is None:
                continue
            # in-page anchors, or a plain file name beside the page (the raw-file links)
            assert value.startswith("#") or re.fullmatch(r"[\w.%-]+", value), (tag, key, value)
    assert "@import" not in page and "@font-face" not in page
    assert not re.search(r"url\((?!#)", page)  # only url(#clip-id) references inside the SVGs
    handlers = [(tag, key) for tag, attrs in tags for key in attrs if key.startswith("on")]
    assert not handlers  # no inline event handlers either


def test_one_chart_per_order_with_unique_ids(run_dir: Path, page: str) -> None:
    orders = json.loads((run_dir / "summary.json").read_text())["orders"]
    charts = [a["data-chart"] for a in with_attr(page, "data-chart")]
    assert charts == list(orders)
    ids = [a["id"] for a in with_attr(page, "id")]
    assert len(ids) == len(set(ids)), "duplicate ids across inline SVGs"
    for ref in re.findall(r'href="#([^"]+)"|url\(#([^)]+)\)', page):
        target = ref[0] or ref[1]
        assert target in ids, target


def test_comparison_cells_carry_the_summary_values(run_dir: Path, page: str) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    cells = list(with_attr(page, "data-metric"))
    assert len(cells) > 4 * 25
    for cell in cells:
        expected, _ = lookup(summary["orders"][cell["data-order"]], str(cell["data-metric"]))
        assert json.loads(str(cell["data-value"])) == expected, cell


def test_shown_numbers_match_the_summary(run_dir: Path, page: str) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    for order, entry in summary["orders"].items():
        for metric, fmt in (("failed", fmt_int), ("failure_rate", fmt_pct)):
            pattern = (
                rf'data-order="{re.escape(order)}" data-metric="{metric}" '
                rf'data-value="[^"]*"[^>]*>([^<]*)</td>'
            )
            shown = re.search(pattern, page)
            assert shown is not None and html.unescape(shown.group(1)) == fmt(entry[metric])
    assert fmt_ms(summary["orders"]["naive"]["latency_ms"]["p99"]) in page


def test_verdict_and_gate_banner(run_dir: Path, page: str) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    (gate,) = [a for a in with_attr(page, "data-ok") if a.get("id") == "gate"]
    result = evaluate(summary, GateLimits.from_mapping(GATE))
    assert gate["data-ok"] == json.dumps(result.ok) == "true"
    assert html.escape(result.line, quote=False) in page
    assert "3 of 4 variants dropped requests: naive, close-first, prestop." in page
    lines = {a["data-order"]: a for a in with_attr(page, "data-failed")}
    for order, entry in summary["orders"].items():
        assert json.loads(str(lines[order]["data-failed"])) == entry["failed"]


def test_gate_failure_turns_the_banner_red(tmp_path: Path) -> None:
    gate = {**GATE, "order": "naive"}
    page = write_report(make_run(tmp_path, rate=20, gate=gate)).read_text()
    assert 'id="verdict" class="banner bad"' in page
    assert '<span class="gate-word">FAIL</span>' in page


def test_no_gate_section_no_gate_banner(tmp_path: Path) -> None:
    page = write_report(make_run(tmp_path, rate=20)).read_text()
    assert 'id="gate"' not in page and 'id="verdict" class="banner bad"' in page


def test_partial_run_is_marked(tmp_path: Path) -> None:
    page = write_report(make_run(tmp_path, rate=20, partial=True)).read_text()
    assert 'id="partial-banner"' in page and "Partial run." in page
    assert 'id="run-partial" data-value="true"' in page


def test_findings_and_lifecycle_are_shown(page: str) -> None:
    kinds = [a["data-kind"] for a in with_attr(page, "data-kind")]
    assert "killed" in kinds  # prestop: one pod killed at the grace period
    assert "exited_before_removal" in kinds  # naive: exits while still routed
    assert "closed_before_removal" in kinds  # close-first
    assert "all_clear" in kinds  # graceful
    assert "prestop-7c9d5-02 was killed (SIGKILL)" in page
    assert "SIGTERM → exit or kill" in page


# The findings that count failed requests: together they account for every one of a variant's.
COUNTING_KINDS = (
    "cut_in_flight",
    "sent_while_not_listening",
    "cut_keepalive",
    "unexplained",
    "unattributed",
)


def test_the_findings_count_every_failed_request(run_dir: Path, page: str) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    for order, entry in summary["orders"].items():
        start = page.index(f'<section id="order-{order}"')
        section = page[start : page.index("</section>", start)]
        told = 0
        for kind in COUNTING_KINDS:
            found = re.search(rf'data-kind="{kind}">.*?</div>', section, re.S)
            items = re.findall(r"<(?:li|p)>(\d+) ", found[0]) if found else []
            told += sum(int(n) for n in items)
        assert told == entry["failed"], order
        assert ('data-kind="all_clear"' in section) == (entry["failed"] == 0), order


def test_recommendation_and_raw_file_links(run_dir: Path, page: str) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    rec = summary["recommendation"]
    assert f'id="rec-prestop" data-value="{json.dumps(rec["prestop_sleep_s"])}"' in page
    assert html.escape(rec["basis"], quote=False) in page
    links = [
        a["href"] for tag, a in elements(page) if tag == "a" and "raw" in (a.get("class") or "")
    ]
    assert "summary.json" in links and "records-naive.jsonl" in links and len(links) == 13
    for href in links:
        assert (run_dir / str(href)).is_file()


def test_regenerates_to_the_same_bytes(run_dir: Path, page: str) -> None:
    assert write_report(run_dir).read_text(encoding="utf-8") == page


def test_missing_files_and_hostile_names(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, orders=("naive", "graceful"), rate=20)
    (run_dir / "pods-graceful.jsonl").unlink()
    (run_dir / "records-graceful.jsonl").unlink()
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["backend_detail"]["why"] = "<script>alert(1)</script>"
    summary["orders"]["naive"]["files"]["records"] = "../../etc/passwd"  # never followed
    (run_dir / "summary.json").write_text(json.dumps(summary))
    rows = (run_dir / "pods-naive.jsonl").read_text().replace("naive-7c9d5-00", "<b>evil</b>")
    (run_dir / "pods-naive.jsonl").write_text(rows)
    page = write_report(run_dir).read_text()
    assert "<script>" not in page and "<b>evil</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;evil&lt;/b&gt;" in page  # in the SVG's pod labels, escaped
    assert "no records file (records-graceful.jsonl)" in page
    assert "No pods file for this variant" in page
    assert "../../etc/passwd" not in page.split('id="files"')[1]


def test_a_run_interrupted_before_any_order_still_renders(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, orders=(), partial=True)
    page = write_report(run_dir).read_text()
    assert "No variant ran: there is nothing to judge." in page and 'id="partial-banner"' in page
    assert "<svg" not in page


def test_missing_summary_is_a_harness_error(tmp_path: Path) -> None:
    with pytest.raises(SummaryNotFoundError):
        write_report(tmp_path)


def test_inline_svg_prefixes_ids_and_drops_the_prolog() -> None:
    doc = (
        '<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n'
        '<svg width="10pt" height="5pt" viewBox="0 0 10 5" xmlns="http://www.w3.org/2000/svg">'
        "<metadata><rdf>x</rdf></metadata>"
        '<defs><clipPath id="c1"><rect/></clipPath><path id="g" d="M0 0"/></defs>'
        '<use xlink:href="#g"/><path clip-path="url(#c1)" stroke-width="2"/></svg>'
    )
    out = inline_svg(doc, "chart-a", 'a "label"', {"data-chart": "a"})
    assert out.startswith('<svg viewBox="0 0 10 5"')
    assert ' width="' not in out.split(">")[0] and "stroke-width" in out
    assert 'id="chart-a-c1"' in out and 'href="#chart-a-g"' in out and "url(#chart-a-c1)" in out
    assert "<metadata>" not in out and "DOCTYPE" not in out
    assert 'aria-label="a &quot;label&quot;"' in out and 'data-chart="a"' in out


def test_verdict_without_orders() -> None:
    assert outcome({"orders": {}}).headline == "No variant ran: there is nothing to judge."


def test_lookup_returns_the_reason_beside_a_null() -> None:
    entry: dict[str, Any] = {"propagation_ms": {"p50": None, "reason": "no deletion observed"}}
    assert lookup(entry, "propagation_ms.p50") == (None, "no deletion observed")
    assert lookup(entry, "latency_ms.p50") == (None, "not in the summary")


def test_number_formats() -> None:
    assert fmt_int(1234567) == "1,234,567" and fmt_int(None) == "—"
    assert fmt_pct(0.0015625) == "0.156 %" and fmt_pct(0) == "0 %" and fmt_pct(2e-7) == "2.0e-05 %"
    assert fmt_ms(4.14) == "4.1 ms" and fmt_ms(1480.0) == "1,480 ms" and fmt_ms(None) == "—"
    assert fmt_ms(-1480.0) == "-1,480 ms" and fmt_ms(-4.14) == "-4.1 ms"


def test_milliseconds_are_written_one_way_on_the_page(page: str) -> None:
    """The lifecycle durations use the same formatter as the tables: ms, never seconds."""
    durations = page[page.index("<th>step</th>") :]
    durations = durations[: durations.index("</table>")]
    cells = re.findall(r'<td class="num">([^<]*)</td>', durations)
    timed = [c for c in cells if not c.isdigit()]
    assert timed and all(c == "—" or c.endswith(" ms") for c in timed), timed


@pytest.mark.slow
def test_a_million_records_render_quickly(tmp_path: Path) -> None:
    """The report bins records in one pass and never embeds them: 1 M records must render in
    seconds, and the page must stay the size of a small run's."""
    run_dir = make_run(tmp_path, rate=12_500, torn_tail=False)  # 4 orders x 20 s x 12,500/s
    summary = json.loads((run_dir / "summary.json").read_text())
    assert sum(o["requests"] for o in summary["orders"].values()) >= 1_000_000
    started = time.perf_counter()
    path = write_report(run_dir)
    elapsed = time.perf_counter() - started
    print(f"\n1M-record report rendered in {elapsed:.1f} s, {path.stat().st_size / 1024:.0f} KB")
    assert elapsed < 30.0  # ~6 s on 2 idle cores; generous for a loaded CI machine
    assert path.stat().st_size < 2_000_000


@pytest.mark.parametrize(
    "orders",
    [
        {"naive": {"requests": None, "failed": None, "per_deletion": True}},
        {"graceful": {"requests": 10, "failed": 0, "deletions": float("inf")}},
        {
            "graceful": {
                "requests": 10,
                "failed": 0,
                "window": {"start": 10**400, "end": 10**401},
                "per_deletion": [{"ts": 10**400, "failed": 1}],
            }
        },
    ],
)
def test_a_summary_the_loader_accepts_always_renders(tmp_path: Path, orders: Any) -> None:
    """Values found by tests/fuzz: a flag where a list belongs, an infinite count, integers past
    a float's range. What is not a number the page can write shows as missing."""
    summary = {
        "schema_version": 1,
        "orders": orders,
        "scenario": {"app": {"grace_period_s": 1e999}},
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert "</html>" in write_report(tmp_path).read_text()


def test_a_variant_is_described_by_what_it_changes() -> None:
    from harness.report.context import variant_blurb

    scenario = {
        "variants": {
            "current": {"env": {}, "args": None, "prestop_sleep_s": None},
            "tuned": {
                "env": {"SHUTDOWN_DELAY": "3"},
                "prestop_sleep_s": 5.0,
                "grace_period_s": 45.0,
                "readiness": {"path": None, "period_s": 1.0},
            },
        }
    }
    assert variant_blurb("current", scenario) == "the app as it is"
    assert variant_blurb("tuned", scenario) == (
        "env SHUTDOWN_DELAY=3; a preStop sleep of 5 s; a grace period of 45 s; "
        "readiness probe: period_s 1"
    )
    assert variant_blurb("naive", {"variants": None}) == "exits at once on SIGTERM"
