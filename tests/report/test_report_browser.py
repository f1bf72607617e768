"""report.html in a real headless Chromium, driven by Playwright against Debian's chromium.

Checks what only a browser can: the page loads from file:// with no console error and no request
but the file itself, the charts are drawn (a real size, and pixels that are not blank), and what
the page *shows* matches summary.json (read through the data-* attributes and ids it carries for
this purpose).

Chromium comes from Debian (``apt-get install chromium``), never from ``playwright install``,
which downloads a browser build. ``chromium_path`` installs it when it is missing and we are root,
so ``make test`` on a fresh machine runs these tests; they skip, with the reason, only where
chromium can neither be found, installed nor launched.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.aptget import apt_install
from helpers.synthetic import GATE, make_run
from PIL import Image
from playwright.sync_api import BrowserContext, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from harness.gate import GateLimits, evaluate
from harness.report import write_report
from harness.report.formats import fmt_int
from harness.report.tables import lookup

pytestmark = pytest.mark.browser

CHROMIUM_NAMES = ("chromium", "chromium-browser")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = _find_chromium()
    if found is None:
        why = apt_install("chromium")
        found = _find_chromium()
        if found is None:
            pytest.skip(f"chromium is not installed and could not be installed: {why}")
    return found


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is
# open, and any later test calling asyncio.run() would fail until it is closed.
@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[BrowserContext]:
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        try:
            context = playwright.chromium.launch_persistent_context(
                profile,  # an empty --user-data-dir
                executable_path=chromium_path,
                headless=True,
                args=LAUNCH_ARGS,
                viewport={"width": 1280, "height": 900},
            )
        except PlaywrightError as exc:
            pytest.skip(f"chromium at {chromium_path} does not launch here: {exc}")
        yield context
        context.close()


class Visit:
    """A page opened from disk, with everything it asked the network for and complained about."""

    def __init__(self, context: BrowserContext, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page: Page = context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))
        self.page.goto(self.url, wait_until="load")

    def attrs(self, selector: str, *names: str) -> list[dict[str, Any]]:
        script = (
            "(els, names) => els.map("
            "e => Object.fromEntries(names.map(n => [n, e.getAttribute(n)])))"
        )
        result: list[dict[str, Any]] = self.page.eval_on_selector_all(selector, script, list(names))
        return result


@pytest.fixture(scope="module")
def visit(browser: BrowserContext, run_dir: Path) -> Iterator[Visit]:
    visit = Visit(browser, run_dir / "report.html")
    yield visit
    visit.page.close()


def test_loads_offline_without_errors_or_requests(visit: Visit) -> None:
    assert visit.errors == []
    assert visit.requests == [visit.url]  # the file itself, and nothing else
    assert visit.page.title().startswith("drainlab: ")


def test_charts_are_drawn(visit: Visit, run_dir: Path) -> None:
    orders = list(json.loads((run_dir / "summary.json").read_text())["orders"])
    charts = visit.page.locator("svg[data-chart]")
    assert charts.count() == len(orders)
    for i, order in enumerate(orders):
        chart = charts.nth(i)
        assert chart.get_attribute("data-chart") == order
        box = chart.bounding_box()
        assert box is not None and box["width"] > 800 and box["height"] > 400, box
        # The pod waterfall's bars and the traffic line are SVG shapes with a real size too.
        sizes = chart.evaluate(
            "svg => [...svg.querySelectorAll('path')].map(p => p.getBBox())"
            ".filter(b => b.width > 1 && b.height > 1).length"
        )
        assert sizes > 20
        pixels = np.asarray(Image.open(io.BytesIO(chart.screenshot())).convert("L"), dtype=float)
        assert pixels.std() > 20, f"{order}: the chart looks blank"
        assert (pixels < 200).mean() > 0.03, f"{order}: almost nothing drawn"


def test_comparison_matches_the_summary(visit: Visit, run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    cells = visit.attrs("td[data-metric]", "data-order", "data-metric", "data-value")
    assert len(cells) > 100
    for cell in cells:
        expected, _ = lookup(summary["orders"][cell["data-order"]], cell["data-metric"])
        assert json.loads(cell["data-value"]) == expected, cell
    for order, entry in summary["orders"].items():
        shown = visit.page.locator(f'td[data-order="{order}"][data-metric="failed"]').inner_text()
        assert shown == fmt_int(entry["failed"])


def test_verdict_and_gate_match_the_summary(visit: Visit, run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    result = evaluate(summary, GateLimits.from_mapping(GATE))
    gate = visit.page.locator("#gate")
    assert gate.get_attribute("data-ok") == "true" and result.ok
    assert gate.locator(".gate-word").inner_text() == "PASS"
    assert result.line in gate.inner_text()
    for line in visit.attrs("#verdict li[data-order]", "data-order", "data-failed"):
        assert json.loads(line["data-failed"]) == summary["orders"][line["data-order"]]["failed"]
    rec = summary["recommendation"]
    shown = visit.page.locator("#rec-prestop")
    assert json.loads(shown.get_attribute("data-value") or "null") == rec["prestop_sleep_s"]
    assert shown.inner_text() == f"{rec['prestop_sleep_s']:g} s"
    assert visit.page.locator("#run-seed").inner_text() == str(summary["seed"])


def test_raw_file_links_point_at_files_beside_the_page(visit: Visit, run_dir: Path) -> None:
    hrefs = visit.page.eval_on_selector_all("a.raw", "els => els.map(e => e.href)")
    assert len(hrefs) == 13
    for href in hrefs:
        assert href.startswith(run_dir.resolve().as_uri() + "/")
        assert (run_dir / href.rsplit("/", 1)[1]).is_file()


def test_a_partial_run_is_plainly_marked(browser: BrowserContext, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, rate=20, partial=True)
    visit = Visit(browser, write_report(run_dir))
    try:
        banner = visit.page.locator("#partial-banner")
        assert banner.is_visible()
        assert "Partial run." in banner.inner_text()
        box = banner.bounding_box()
        assert box is not None and box["y"] < 300  # at the top, before anything else
        assert visit.errors == []
    finally:
        visit.page.close()


# Every cell of every table, at a window width: its content must fit the cell, and the cell must
# lie inside what the page shows (the window, and any box that clips or scrolls it).
CUT_CELLS_JS = """() => {
  const cut = [];
  const windowRight = document.documentElement.clientWidth;
  for (const table of document.querySelectorAll("main table")) {
    let right = windowRight;
    for (let box = table.parentElement; box; box = box.parentElement) {
      if (getComputedStyle(box).overflowX !== "visible") {
        const inner = box.getBoundingClientRect().left + box.clientLeft + box.clientWidth;
        right = Math.min(right, inner);
      }
    }
    for (const cell of table.querySelectorAll("th, td")) {
      const edge = cell.getBoundingClientRect().right;
      if (cell.scrollWidth > cell.clientWidth + 1 || edge > right + 1) {
        cut.push(`${table.closest("section").id}: "${cell.innerText.slice(0, 50)}" ` +
          `(content ${cell.scrollWidth} px in ${cell.clientWidth} px, ` +
          `right edge ${Math.round(edge)} px, shown up to ${Math.round(right)} px)`);
      }
    }
  }
  return cut;
}"""
WIDTHS = (800, 1280, 1400, 1920)


def _kube_style_run(root: Path) -> Path:
    """The synthetic run with a real cluster's pod names (app-variant-5d9f7c8b6-x2x9z) and
    deletions whose failures fall in every phase: the longest cells the tables hold."""
    run_dir = make_run(root, gate=GATE, rate=40)
    names: dict[str, str] = {}
    for pods in run_dir.glob("pods-*.jsonl"):
        for line in pods.read_text().splitlines():
            pod = json.loads(line)["pod"]
            order, _, index = pod.rpartition("-7c9d5-")
            names[pod] = f"checkout-service-{order}-5d9f7c8b6-x2x{index}z"
    for path in run_dir.iterdir():
        if path.suffix in (".json", ".jsonl"):
            text = path.read_text()
            for old, new in names.items():
                text = text.replace(f'"{old}"', f'"{new}"')
            path.write_text(text)
    summary = json.loads((run_dir / "summary.json").read_text())
    for entry in summary["orders"].values():
        for item in entry["per_deletion"]:
            item["by_phase"] = {phase: n for n, phase in enumerate(item["by_phase"], start=11)}
            item["failed"] = sum(item["by_phase"].values())
    (run_dir / "summary.json").write_text(json.dumps(summary))
    write_report(run_dir)
    return run_dir


@pytest.mark.parametrize("width", WIDTHS)
def test_no_table_cuts_a_column_or_a_pod_name(
    browser: BrowserContext, tmp_path: Path, width: int
) -> None:
    run_dir = _kube_style_run(tmp_path)
    visit = Visit(browser, run_dir / "report.html")
    try:
        visit.page.set_viewport_size({"width": width, "height": 900})
        pods = visit.page.locator("section.order table code")
        assert "checkout-service-naive-5d9f7c8b6-x2x00z" in pods.all_inner_texts()
        assert visit.page.evaluate(CUT_CELLS_JS) == []
        assert visit.errors == []
    finally:
        visit.page.close()
