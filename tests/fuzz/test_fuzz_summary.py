"""The summary loader, and what reads an accepted summary (the gate, JUnit, the report), on any
file: a summary or one ``SummaryError`` line from the loader; then a verdict, a JUnit tree and a
page, or one HarnessError line, never another exception.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from helpers.fuzz import SCALARS, deep_json, fuzz, json_trees
from helpers.summaries import ORDER_KEYS
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.gate import GateLimits, evaluate_run
from harness.report.html import render_report
from harness.report.junit import junit_element
from harness.summaryfile import SummaryError, load_summary

TMP = Path(tempfile.mkdtemp(prefix="drainlab-fuzz-summary-"))


def load_bytes(data: bytes) -> dict[str, Any] | None:
    path = TMP / "summary.json"
    path.write_bytes(data)
    try:
        return load_summary(path)
    except SummaryError as exc:
        assert len(str(exc).splitlines()) == 1, str(exc)
        return None


@fuzz(300)
@given(st.binary(max_size=200))
def test_any_bytes(data: bytes) -> None:
    load_bytes(data)


@fuzz(200)
@given(json_trees())
def test_any_json(tree: Any) -> None:
    load_bytes(json.dumps(tree).encode())


@fuzz(60)
@given(st.integers(0, 200_000))
def test_any_nesting(depth: int) -> None:
    load_bytes(f'{{"schema_version": 1, "orders": {{}}, "x": {deep_json(depth)}}}'.encode())


TOP_KEYS = ["partial", "error", "recovered", "backend", "backend_detail", "scenario", "started"]
TOP_KEYS += ["finished", "seed", "versions", "recommendation", "gate", "comparisons", "semantics"]
JUNK = st.one_of(SCALARS, json_trees(max_leaves=4))
# fallback_disabled: present only when found, so not among the keys every block has
ORDER_ENTRY = st.dictionaries(
    st.sampled_from([*ORDER_KEYS, "fallback_disabled"]), JUNK, max_size=6
).map(lambda d: {"requests": 10, "failed": 0, **d})
SUMMARIES = st.builds(
    lambda top, orders: {**top, "schema_version": 1, "orders": orders},
    st.dictionaries(st.sampled_from(TOP_KEYS), JUNK, max_size=5),
    st.dictionaries(st.sampled_from(["naive", "graceful", "x"]), ORDER_ENTRY, max_size=2),
)


@fuzz(150)
@given(SUMMARIES)
def test_a_v1_summary_with_any_fields_is_gated_or_one_line(summary: dict[str, Any]) -> None:
    loaded = load_bytes(json.dumps(summary).encode())
    assert loaded is not None  # v1 with orders of objects: the loader takes it
    try:
        verdicts = evaluate_run(loaded, GateLimits(order="graceful"))
    except HarnessError as exc:
        assert len(str(exc).splitlines()) == 1
        return
    junit_element(loaded, verdicts)


@fuzz(10)
@given(SUMMARIES)
def test_a_v1_summary_with_any_fields_renders(summary: dict[str, Any]) -> None:
    loaded = load_bytes(json.dumps(summary).encode())
    assert loaded is not None
    page = render_report(TMP, loaded)
    assert page.startswith("<!DOCTYPE html>")
